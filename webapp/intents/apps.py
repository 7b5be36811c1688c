from django.apps import AppConfig


class IntentsConfig(AppConfig):
    name = "webapp.intents"
    label = "intents"
    verbose_name = "Intents"
