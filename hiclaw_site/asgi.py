"""ASGI entry point: Django for HTTP, Channels for the dashboard's WebSockets."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hiclaw_site.settings")
# Django must be set up before the consumers (which import models) load.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from controller.bodies import LengthDelimitedBodies  # noqa: E402
from controller.ingest import HeartbeatIngest  # noqa: E402
from debugui.routing import websocket_urlpatterns  # noqa: E402

# With Redis, heartbeats take the fast path (controller/ingest.py); embedded
# mode records them through the API view. Either way bodies arrive with a
# Content-Length and bounded (controller/bodies.py): chunked ones are read whole.
django_or_ingest = HeartbeatIngest(django_asgi_app, settings.REDIS_URL) if settings.REDIS_URL else django_asgi_app
http_app = LengthDelimitedBodies(django_or_ingest)

application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
