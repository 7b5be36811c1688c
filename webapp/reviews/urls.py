from django.urls import path

from webapp.reviews import api

urlpatterns = [
    path("stores/<slug:slug>/reviews/", api.review_create, name="api-review-create"),
]
