"""WebSocket routes of the hub."""

from realtime.routing import websocket_urlpatterns as realtime_routes

websocket_urlpatterns = [*realtime_routes]
