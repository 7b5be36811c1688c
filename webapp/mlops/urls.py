"""The Models page, mounted per store under the merchant dashboard: /dashboard/<slug>/models/."""

from django.urls import path

from webapp.mlops import views

urlpatterns = [
    path("", views.models_view, name="mlops-models"),
    path("versions/<int:version_id>/promote/", views.version_promote, name="mlops-version-promote"),
    path("<str:kind>/rollback/", views.kind_rollback, name="mlops-kind-rollback"),
]
