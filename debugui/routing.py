"""WebSocket routes of the dashboard (Channels consumers)."""

websocket_urlpatterns: list = []
