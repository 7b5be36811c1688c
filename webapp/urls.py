from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from webapp.common.views import healthz, metrics, readyz

admin.site.site_header = "ShopDesk admin"
admin.site.site_title = "ShopDesk"

urlpatterns = [
    path("", RedirectView.as_view(url="/s/demo/", permanent=False)),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/", include("webapp.reviews.urls")),
    path("dashboard/", include("webapp.reviews.urls_dashboard")),
    path("dashboard/<slug:slug>/models/", include("webapp.mlops.urls")),
    path("s/", include("webapp.catalog.urls")),
]
