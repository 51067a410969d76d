"""URL map: dashboard at /, Django admin at /admin/, login at /accounts/, probes, metrics."""

from django.contrib import admin
from django.urls import include, path

from controller import probes
from controller.metrics_view import metrics_view

admin.site.site_header = "HiClaw controller"
admin.site.site_title = "HiClaw"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", include("controller.api.urls")),
    path("healthz", probes.healthz, name="healthz"),
    path("readyz", probes.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("", include("debugui.urls")),
]
