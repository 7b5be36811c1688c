from django.urls import path

from webapp.chat.consumers import AgentConsumer, ChatConsumer

websocket_urlpatterns = [
    path("ws/chat/<slug:store_slug>/", ChatConsumer.as_asgi()),
    path("ws/agent/conversations/<int:conversation_id>/", AgentConsumer.as_asgi()),
]
