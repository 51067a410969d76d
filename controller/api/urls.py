"""Routes of the REST API, versioned under /api/v1/."""

from django.urls import path

from controller.api.heartbeats import HeartbeatView
from controller.api.workspace import WorkspaceFileView, WorkspaceListView

urlpatterns = [
    path("heartbeats", HeartbeatView.as_view(), name="heartbeats"),
    path("workspace/files", WorkspaceListView.as_view(), name="workspace-files"),
    path("workspace/files/<path:path>", WorkspaceFileView.as_view(), name="workspace-file"),
]
