"""Websocket routes. The shoppers' socket needs no session or user (its conversation token is
its identity), so it runs without the auth middleware's per-connect session lookup, behind the
flood gate; the agents' socket is same-origin only and authenticated by the staff session."""

from channels.auth import AuthMiddlewareStack
from django.conf import settings
from django.urls import path

from webapp.chat.consumers import AgentConsumer, ChatConsumer
from webapp.common.ratelimit import FloodGate
from webapp.common.websocket_origin import SameOriginOnly

websocket_urlpatterns = [
    path(
        "ws/chat/<slug:store_slug>/",
        FloodGate(ChatConsumer.as_asgi(), lambda: settings.CHAT_CONNECTS_PER_MINUTE_PER_IP),
    ),
    path(
        "ws/agent/conversations/<int:conversation_id>/",
        SameOriginOnly(AuthMiddlewareStack(AgentConsumer.as_asgi())),
    ),
]
