from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "webapp.orders"
    label = "orders"
    verbose_name = "Orders"
