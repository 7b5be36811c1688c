from django.urls import path

from webapp.reviews import views

urlpatterns = [
    path("", views.dashboard_index, name="reviews-dashboard-index"),
    path("<slug:slug>/", views.dashboard_view, name="reviews-dashboard"),
    path(
        "<slug:slug>/export/<str:section>.csv",
        views.dashboard_export,
        name="reviews-dashboard-export",
    ),
]
