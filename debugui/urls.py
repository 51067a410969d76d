"""Dashboard pages and actions (docs/dashboard.md); login is Django's, at /accounts/login/."""

from django.urls import path

from debugui import actions, bulk, live_chart, live_rows, upgrades, views, workspaces

app_name = "debugui"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("teams/<str:name>/", views.team_detail, name="team"),
    path("teams/<str:name>/events/", live_rows.team_events, name="team-events"),
    path("teams/<str:name>/push/", actions.push_to_team, name="team-push"),
    path("teams/<str:name>/image/", actions.team_image, name="team-image"),
    path("teams/<str:name>/debugworkers/", actions.create_debugworker, name="create-debugworker"),
    path("workers/", views.worker_list, name="workers"),
    path("bulk/workers/<slug:action>/", bulk.workers_bulk, name="workers-bulk"),
    path("workers/<str:name>/", views.worker_detail, name="worker"),
    # Fragments the live pages fetch; before the actions, whose <action> would match "row".
    path("workers/<str:name>/row/", live_rows.worker_row, name="worker-row"),
    path("workers/<str:name>/events/", live_rows.worker_events, name="worker-events"),
    path("workers/<str:name>/heartbeats/", live_chart.worker_heartbeats, name="worker-heartbeats"),
    path("workers/<str:name>/<slug:action>/", actions.worker_action, name="worker-action"),
    path("upgrades/", upgrades.upgrades, name="upgrades"),
    path("debug/", views.debugworker_list, name="debugworkers"),
    path("debug/<str:name>/", views.debugworker_detail, name="debugworker"),
    path("debug/<str:name>/row/", live_rows.debugworker_row, name="debugworker-row"),
    path("debug/<str:name>/delete/", actions.delete_debugworker, name="delete-debugworker"),
    path("debug/<str:name>/workspaces/", workspaces.browser, name="debug-workspaces"),
    path("debug/<str:name>/workspaces/file/", workspaces.file_fragment, name="debug-file"),
    path("debug/<str:name>/jobs/", workspaces.start_job, name="debug-jobs"),
    path("debug/<str:name>/jobs/<str:job>/", workspaces.job_fragment, name="debug-job"),
    path("managers/", views.manager_list, name="managers"),
    path("managers/<str:name>/", views.manager_detail, name="manager"),
    path("managers/<str:name>/row/", live_rows.manager_row, name="manager-row"),
    path("humans/", views.human_list, name="humans"),
    path("humans/<str:name>/row/", live_rows.human_row, name="human-row"),
]
