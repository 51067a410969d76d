from django.urls import path

from debugui import views

app_name = "debugui"
urlpatterns = [path("", views.overview, name="overview")]
