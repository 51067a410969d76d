from django.apps import AppConfig


class DebugUIConfig(AppConfig):
    name = "debugui"
    verbose_name = "HiClaw dashboard"
