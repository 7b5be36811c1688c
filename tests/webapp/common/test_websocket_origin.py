"""The agents' socket accepts only its own origin: scheme, host and port."""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator

from webapp.common.websocket_origin import origin_allowed


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        ("http://shop.example", "shop.example", True),
        ("https://shop.example", "shop.example", True),
        ("http://shop.example:8000", "shop.example:8000", True),
        ("http://shop.example:80", "shop.example", True),
        ("http://SHOP.example:8000", "shop.example:8000", True),
        ("http://shop.example:9000", "shop.example:8000", False),  # another port, same host
        ("http://shop.example", "shop.example:8000", False),
        ("https://shop.example:8000", "shop.example:8443", False),
        ("http://evil.example", "shop.example", False),
        ("http://shop.example.evil.example", "shop.example", False),
        ("null", "shop.example", False),
        ("", "shop.example", False),
        ("http://shop.example", "", False),
        ("file://shop.example", "shop.example", False),
        ("http://shop.example:99999", "shop.example", False),
    ],
)
def test_origin_must_match_scheme_host_and_port(origin, host, allowed):
    assert origin_allowed(origin, host) is allowed


def test_a_trusted_origin_is_allowed(settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://admin.shop.example"]
    assert origin_allowed("https://admin.shop.example", "internal:8000")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("origin", "connects"),
    [(b"http://testserver:9000", False), (b"http://testserver", True)],
)
async def test_the_agent_socket_refuses_another_port_at_the_handshake(origin, connects):
    from webapp.asgi import application

    socket = WebsocketCommunicator(
        application,
        "/ws/agent/conversations/1/",
        headers=[(b"origin", origin), (b"host", b"testserver")],
    )
    connected, _ = await socket.connect()
    # Past the handshake, an anonymous user is still refused by the consumer, with a frame.
    assert connected is connects
    await socket.disconnect()
