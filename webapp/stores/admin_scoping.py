"""Admin base class: every list, form, lookup, filter and action is decided per store and role.

Django's admin asks ``user.has_perm("app.change_model")`` without an object, which says only
whether *some* store allows it. ``StoreScopedAdmin`` asks the store of the row instead
(``webapp.stores.permissions``):

* lists show the rows of the stores where the user may view (or change) the model;
* a row's change, delete and view pages ask the row's store;
* an action runs only if every selected row is in a store where the user's role allows it,
  otherwise nothing is changed and the page says why;
* the ``store`` field, and every foreign key to another store-owned model, offer only the
  stores (and their rows) where the user may add or change this model;
* related-field filters in the sidebar list only the values present in the user's rows (never
  another tenant's store names).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from webapp.stores.permissions import InStore, store_ids_with_perm


class StoreScopedAdmin(admin.ModelAdmin):
    """For models owned by a store (``store_field`` is the lookup path to it)."""

    store_field = "store"

    # -- the permission of one action on this model, per store ------------------------------

    def _perm(self, action: str) -> str:
        return f"{self.opts.app_label}.{get_permission_codename(action, self.opts)}"

    def store_id_of(self, obj: Model) -> int | None:
        *path, last = self.store_field.split("__")
        value: Any = obj
        for part in path:
            value = getattr(value, part, None)
            if value is None:
                return None
        store_id = getattr(value, f"{last}_id", None)
        return store_id if isinstance(store_id, int) else None

    def _allowed(self, request: HttpRequest, action: str, obj: Model | None) -> bool:
        perm = self._perm(action)
        if obj is None:
            return request.user.has_perm(perm)
        store_id = self.store_id_of(obj)
        return store_id is not None and request.user.has_perm(perm, InStore(store_id))

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._allowed(request, "view", obj) or self._allowed(request, "change", obj)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._allowed(request, "change", obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._allowed(request, "add", None)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._allowed(request, "delete", obj)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request) or self.has_add_permission(request)

    def store_ids_for(self, request: HttpRequest, *actions: str) -> list[int] | None:
        """Stores where the user may do all of ``actions`` on this model (None: all)."""
        return store_ids_with_perm(request.user, [self._perm(action) for action in actions])

    # -- rows ----------------------------------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        ids = store_ids_with_perm(
            request.user, [self._perm("view"), self._perm("change")], every=False
        )
        return queryset if ids is None else queryset.filter(**{f"{self.store_field}__in": ids})

    def formfield_for_foreignkey(self, db_field, request, **kwargs):  # type: ignore[no-untyped-def]
        ids = store_ids_with_perm(
            request.user, [self._perm("add"), self._perm("change")], every=False
        )
        if ids is not None:
            related = db_field.related_model
            if db_field.name == self.store_field:
                kwargs["queryset"] = related.objects.filter(id__in=ids)
            elif _has_store(related):
                kwargs["queryset"] = related.objects.filter(store_id__in=ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_list_filter(self, request: HttpRequest) -> list[Any]:
        return [_only_present(self.model, entry) for entry in super().get_list_filter(request)]

    # -- actions -------------------------------------------------------------------------------

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        return {
            name: (self._per_store(func), name, description)
            for name, (func, name, description) in actions.items()
        }

    def _per_store(self, func: Callable[..., Any]) -> Callable[..., Any]:
        needed = tuple(getattr(func, "allowed_permissions", ()))

        @functools.wraps(func)
        def run(modeladmin: StoreScopedAdmin, request: HttpRequest, queryset: QuerySet) -> Any:
            if not queryset.exists():  # selected rows outside the user's stores are not listed
                modeladmin.message_user(
                    request, "None of the selected rows are in your stores.", messages.ERROR
                )
                return None
            ids = modeladmin.store_ids_for(request, *needed) if needed else None
            if ids is not None:
                outside = queryset.exclude(**{f"{modeladmin.store_field}__in": ids}).count()
                if outside:
                    modeladmin.message_user(
                        request,
                        f"{outside} of the selected rows belong to a store where your role "
                        "doesn't allow this; nothing was changed.",
                        messages.ERROR,
                    )
                    return None
            return func(modeladmin, request, queryset)

        return run


def _has_store(model: type[Model]) -> bool:
    return any(field.name == "store" and field.is_relation for field in model._meta.fields)


def _only_present(model: type[Model], entry: Any) -> Any:
    """A related-field filter given by name lists only the values in the user's rows."""
    if not isinstance(entry, str) or "__" in entry:
        return entry
    try:
        field = model._meta.get_field(entry)
    except Exception:  # a method or a non-field name: leave it to Django's checks
        return entry
    if field.is_relation:
        return (entry, admin.RelatedOnlyFieldListFilter)
    return entry
