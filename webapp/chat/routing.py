from django.urls import path

from webapp.chat.consumers import AgentConsumer, ChatConsumer
from webapp.common.websocket_origin import SameOriginOnly

websocket_urlpatterns = [
    path("ws/chat/<slug:store_slug>/", ChatConsumer.as_asgi()),
    # The agents' socket rides on the staff session cookie: same origin only, port included.
    path("ws/agent/conversations/<int:conversation_id>/", SameOriginOnly(AgentConsumer.as_asgi())),
]
