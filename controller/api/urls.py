"""Routes of the REST API, versioned under /api/v1/ (docs/api.md)."""

from django.urls import path, register_converter
from django.urls.converters import PathConverter
from drf_spectacular.views import SpectacularAPIView

from controller.api.apply import ApplyView
from controller.api.base import PLURALS
from controller.api.debug import DebugFilesView, DebugFileView, DebugJobStartView, DebugJobView
from controller.api.debug_workspace import (
    DebugOwnFileView,
    DebugOwnListView,
    DebugTargetFileView,
    DebugTargetListView,
    DebugTargetsView,
)
from controller.api.heartbeats import HeartbeatView
from controller.api.history import ResourceEventsView, WorkerLogsView
from controller.api.lifecycle import (
    EnsureReadyView,
    IdleCheckView,
    ReadyReportView,
    TeamStatusView,
    WorkerStateView,
    WorkerStatusView,
)
from controller.api.resources import ResourceDetailView, ResourceListView
from controller.api.system import ConfigPushView, StatusView, VersionView
from controller.api.upgrade_actions import ACTIONS, RolloutActionView
from controller.api.upgrades import UpgradeDetailView, UpgradeListView
from controller.api.workspace import WorkspaceFileView, WorkspaceListView
from controller.models import DebugJob, DesiredState


class AnyPath(PathConverter):
    """Any characters, line breaks included (``path`` stops at one): a file path with a control
    character reaches its view, which refuses it as a 400 naming ``path``, not a 404 page."""

    regex = r"[\s\S]+"


register_converter(AnyPath, "anypath")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("apply", ApplyView.as_view(), name="apply"),
    path("heartbeats", HeartbeatView.as_view(), name="heartbeats"),
    path("config/push", ConfigPushView.as_view(), name="config-push"),
    path("upgrades", UpgradeListView.as_view(), name="upgrades-list"),
    path("upgrades/<str:upgrade_id>", UpgradeDetailView.as_view(), name="upgrades-detail"),
    *[
        path(
            f"upgrades/<str:upgrade_id>/{action}",
            RolloutActionView.as_view(action_name=action),
            name=f"upgrade-{action}",
        )
        for action in ACTIONS
    ],
    path("status", StatusView.as_view(), name="status"),
    path("version", VersionView.as_view(), name="version"),
    path("workspace/files", WorkspaceListView.as_view(), name="workspace-files"),
    path("workspace/files/<path:path>", WorkspaceFileView.as_view(), name="workspace-file"),
    # A DebugWorker's instance: read-only, its targets' workspaces and its own files.
    path("workspace/targets", DebugTargetsView.as_view(), name="workspace-targets"),
    path("workspace/targets/<str:target>/files", DebugTargetListView.as_view(), name="workspace-target-files"),
    path(
        "workspace/targets/<str:target>/files/<anypath:path>",
        DebugTargetFileView.as_view(),
        name="workspace-target-file",
    ),
    path("workspace/debug/files", DebugOwnListView.as_view(), name="workspace-debug-files"),
    path("workspace/debug/files/<anypath:path>", DebugOwnFileView.as_view(), name="workspace-debug-file"),
    # Fixed worker paths come before workers/<name>.
    path("workers/idle-check", IdleCheckView.as_view(), name="workers-idle-check"),
    path("workers/status", TeamStatusView.as_view(), name="workers-status"),
    path("workers/<str:name>/wake", WorkerStateView.as_view(state=DesiredState.RUNNING), name="worker-wake"),
    path("workers/<str:name>/sleep", WorkerStateView.as_view(state=DesiredState.SLEEPING), name="worker-sleep"),
    path("workers/<str:name>/ensure-ready", EnsureReadyView.as_view(), name="worker-ensure-ready"),
    path("workers/<str:name>/ready", ReadyReportView.as_view(), name="worker-ready"),
    path("workers/<str:name>/status", WorkerStatusView.as_view(), name="worker-status"),
    path("workers/<str:name>/logs", WorkerLogsView.as_view(), name="worker-logs"),
    # A DebugWorker's exports and reports (controller/api/debug.py).
    path(
        "debugworkers/<str:name>/export",
        DebugJobStartView.as_view(kind=DebugJob.Kind.EXPORT),
        name="debugworker-export",
    ),
    path(
        "debugworkers/<str:name>/report",
        DebugJobStartView.as_view(kind=DebugJob.Kind.REPORT),
        name="debugworker-report",
    ),
    path("debugworkers/<str:name>/jobs/<str:job_id>", DebugJobView.as_view(), name="debugworker-job"),
    path("debugworkers/<str:name>/files", DebugFilesView.as_view(), name="debugworker-files"),
    path("debugworkers/<str:name>/files/<anypath:path>", DebugFileView.as_view(), name="debugworker-file"),
]
for plural, kind in PLURALS.items():
    urlpatterns += [
        path(plural, ResourceListView.as_view(kind=kind, plural=plural), name=f"{plural}-list"),
        path(f"{plural}/<str:name>", ResourceDetailView.as_view(kind=kind), name=f"{plural}-detail"),
        path(f"{plural}/<str:name>/events", ResourceEventsView.as_view(kind=kind), name=f"{plural}-events"),
    ]
