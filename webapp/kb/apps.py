from django.apps import AppConfig


class KbConfig(AppConfig):
    name = "webapp.kb"
    label = "kb"
    verbose_name = "Knowledge base search"
