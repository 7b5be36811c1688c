from django.urls import path

from webapp.catalog import views

app_name = "storefront"

urlpatterns = [
    path("<slug:store_slug>/", views.storefront_home, name="home"),
    path("<slug:store_slug>/faq/", views.storefront_faq, name="faq"),
    path("<slug:store_slug>/p/<str:sku>/", views.storefront_product, name="product"),
]
