"""WebSocket routes of the dashboard (Channels consumers), mounted by hiclaw_site/asgi.py."""

from django.urls import path, re_path

from debugui.consumers import LiveStatusConsumer, UnknownPathConsumer
from debugui.records_consumer import RecordsConsumer
from debugui.upgrades_consumer import UpgradesConsumer
from debugui.workspace_consumer import WorkspaceConsumer

websocket_urlpatterns = [
    path("ws/overview/", LiveStatusConsumer.as_asgi()),
    path("ws/teams/<str:team>/", LiveStatusConsumer.as_asgi()),
    path("ws/workers/", LiveStatusConsumer.as_asgi(page="workers")),
    path("ws/workers/<str:worker>/", LiveStatusConsumer.as_asgi()),
    path("ws/debugworkers/", LiveStatusConsumer.as_asgi(page="debugworkers")),
    path("ws/debugworkers/<str:name>/", RecordsConsumer.as_asgi(kind="debugworker")),
    path("ws/managers/", RecordsConsumer.as_asgi(kind="manager")),
    path("ws/managers/<str:name>/", RecordsConsumer.as_asgi(kind="manager")),
    path("ws/humans/", RecordsConsumer.as_asgi(kind="human")),
    path("ws/upgrades/", UpgradesConsumer.as_asgi()),
    path("ws/debug/<str:name>/", WorkspaceConsumer.as_asgi()),
    # Last: an unmatched path is closed (4404) instead of raising in the router.
    re_path(r"", UnknownPathConsumer.as_asgi()),
]
