"""Admin base class that limits every list, form and lookup to the user's stores."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from webapp.stores.selectors import store_ids_for_user


class StoreScopedAdmin(admin.ModelAdmin):
    """For models with a ``store`` foreign key: staff see and edit only their stores' rows."""

    store_field = "store"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        ids = store_ids_for_user(user=request.user)
        return queryset if ids is None else queryset.filter(**{f"{self.store_field}__in": ids})

    def formfield_for_foreignkey(self, db_field, request, **kwargs):  # type: ignore[no-untyped-def]
        if db_field.name == self.store_field:
            ids = store_ids_for_user(user=request.user)
            if ids is not None:
                kwargs["queryset"] = db_field.related_model.objects.filter(id__in=ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
