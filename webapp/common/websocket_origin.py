"""Same-origin check for websockets that authenticate with the session cookie.

Channels' ``AllowedHostsOriginValidator`` compares only the Origin's host with ALLOWED_HOSTS:
a page served from another port of the same host (``http://shop.example:9000``) passes, and
the browser sends the staff member's session cookie with it (cookies are not scoped by port).
For the agents' socket the Origin must name exactly the host and port the request was sent to
(its ``Host`` header), or one of ``CSRF_TRUSTED_ORIGINS``; anything else is refused at the
handshake (HTTP 403), as Django's CSRF check refuses a cross-origin POST.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _netloc(scheme: str, host: str) -> str:
    """``host[:port]`` with the scheme's default port made explicit, lower-cased."""
    host = host.lower()
    parsed = urlsplit(f"//{host}")
    port = parsed.port or _DEFAULT_PORTS.get(scheme, 0)
    return f"{parsed.hostname}:{port}"


def origin_allowed(origin: str, host: str) -> bool:
    """Whether a handshake with ``Origin: origin`` sent to ``Host: host`` is same-origin (or
    from a trusted origin)."""
    if not origin or not host:
        return False
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    parsed = urlsplit(origin)
    if parsed.scheme not in _DEFAULT_PORTS or not parsed.hostname:
        return False
    try:
        return _netloc(parsed.scheme, parsed.netloc) == _netloc(parsed.scheme, host)
    except ValueError:  # a malformed port
        return False


class SameOriginOnly:
    """ASGI middleware for a websocket route: refuses the handshake unless same-origin."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        headers = {name.lower(): value for name, value in scope.get("headers", [])}
        origin = headers.get(b"origin", b"").decode("latin-1")
        host = headers.get(b"host", b"").decode("latin-1")
        if not origin_allowed(origin, host):
            denier = WebsocketDenier()
            return await denier(scope, receive, send)
        return await self.application(scope, receive, send)
