"""ASGI entry point: HTTP through Django, websockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

# Django must be set up before the consumers (and their models) are imported.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from webapp.chat.routing import websocket_urlpatterns  # noqa: E402
from webapp.common.readiness import WEB, warmup_start  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Per route: the agents' socket adds the session and user (webapp.chat.routing).
        "websocket": AllowedHostsOriginValidator(URLRouter(websocket_urlpatterns)),
    }
)

# The server process starts here: load the models and indexes in the background, so the port is
# open at once and /readyz turns 200 when the first shopper can be answered at full speed.
warmup_start(WEB)
