"""Reads for stores and permissions."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from webapp.stores.models import Membership, Role, Store


def store_get_by_slug(*, slug: str) -> Store | None:
    return Store.objects.filter(slug=slug).first()


def store_ids_for_user(*, user: AbstractBaseUser | AnonymousUser) -> list[int] | None:
    """Store ids the user belongs to, in any role; ``None`` means every store (superusers).
    What they may do in each is ``webapp.stores.permissions``'s to say."""
    if not user.is_authenticated:
        return []
    if user.is_superuser:
        return None
    return list(Membership.objects.filter(user=user).values_list("store_id", flat=True))


def stores_for_user(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Store]:
    ids = store_ids_for_user(user=user)
    stores = Store.objects.all()
    return stores if ids is None else stores.filter(id__in=ids)


def store_role(*, store: Store, user: AbstractBaseUser | AnonymousUser) -> str | None:
    """The user's role in ``store`` (``merchant`` for superusers), or None: no business there."""
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.MERCHANT
    return Membership.objects.filter(store=store, user=user).values_list("role", flat=True).first()
