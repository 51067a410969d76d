"""WebSocket routes of the dashboard (Channels consumers), mounted by hiclaw_site/asgi.py."""

from django.urls import path

from debugui.consumers import LiveStatusConsumer

websocket_urlpatterns = [
    path("ws/overview/", LiveStatusConsumer.as_asgi()),
    path("ws/teams/<str:team>/", LiveStatusConsumer.as_asgi()),
    path("ws/workers/<str:worker>/", LiveStatusConsumer.as_asgi()),
]
