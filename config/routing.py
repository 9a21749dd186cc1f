"""WebSocket routes of the hub."""

websocket_urlpatterns: list = []
