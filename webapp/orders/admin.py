from django.contrib import admin

from webapp.orders.models import Order
from webapp.stores.admin_scoping import StoreScopedAdmin


@admin.register(Order)
class OrderAdmin(StoreScopedAdmin):
    list_display = ["number", "store", "status", "carrier", "placed_at", "estimated_delivery"]
    list_filter = ["store", "status", "carrier"]
    search_fields = ["number", "email", "customer_name", "tracking_number"]
    list_select_related = ["store"]
    date_hierarchy = "placed_at"
