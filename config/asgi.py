"""ASGI entry point: HTTP through Django, WebSockets through Channels (served by Daphne)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from config.limits import BodySizeLimit  # noqa: E402
from config.routing import websocket_urlpatterns  # noqa: E402
from realtime.middleware import HubAuthMiddlewareStack, OriginValidator, PoolExhaustedGuard  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": BodySizeLimit(django_asgi_app),
        "websocket": OriginValidator(
            PoolExhaustedGuard(HubAuthMiddlewareStack(URLRouter(websocket_urlpatterns)))),
    }
)
