from django.apps import AppConfig


class StoresConfig(AppConfig):
    name = "webapp.stores"
    label = "stores"
    verbose_name = "Stores and staff"
