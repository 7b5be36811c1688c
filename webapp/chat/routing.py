from django.urls import path

from webapp.chat.consumers import ChatConsumer

websocket_urlpatterns = [
    path("ws/chat/<slug:store_slug>/", ChatConsumer.as_asgi()),
]
