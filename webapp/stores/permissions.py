"""What each role may do, decided per store.

A user holds a role in each store they belong to (``Membership``), and a permission is granted
only where the role in *that* store carries it: an agent of one store who is a merchant of
another has merchant powers in the second store only. ``StoreRoleBackend`` answers Django's
``user.has_perm`` from the memberships, so the admin, views and consumers ask the one question
"may this user do X in this store?" the same way:

* ``has_perm("reviews.delete_review")``: whether any of the user's stores allows it (the admin
  uses this to show a page or an action at all);
* ``has_perm("reviews.delete_review", obj)``: whether the store of ``obj`` (a ``Store``, or
  anything with a ``store_id``) allows it;
* ``store_ids_with_perm(user, "reviews.delete_review")``: the stores where it is allowed, to
  scope querysets.

Permissions are not kept in groups: a global group would grant a role's permission in every
store the user can see, which is the escalation this module exists to prevent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from webapp.stores.models import Membership, Role, Store


def _perms(*entries: str) -> frozenset[str]:
    return frozenset(entries)


# What each role may do in its own store. Superusers may do everything everywhere.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    Role.MERCHANT: _perms(
        "catalog.add_product",
        "catalog.change_product",
        "catalog.delete_product",
        "catalog.view_product",
        "catalog.add_faqentry",
        "catalog.change_faqentry",
        "catalog.delete_faqentry",
        "catalog.view_faqentry",
        "kb.view_searchindex",
        # Merchants read their conversations; answering shoppers is the agents' job.
        "chat.view_conversation",
        "chat.add_cannedreply",
        "chat.change_cannedreply",
        "chat.delete_cannedreply",
        "chat.view_cannedreply",
        "chat.view_messagerating",
        "intents.add_intentexample",
        "intents.change_intentexample",
        "intents.delete_intentexample",
        "intents.view_intentexample",
        "intents.add_intentanswer",
        "intents.change_intentanswer",
        "intents.delete_intentanswer",
        "intents.view_intentanswer",
        "intents.view_intentconflict",
        "mlops.view_modelversion",
        "mlops.change_modelversion",  # promote and roll back (the fields stay read-only)
        "mlops.view_modelevent",
        "mlops.view_trainingrun",
        "mlops.view_evaluationset",
        "mlops.change_evaluationset",  # its policy
        "orders.view_order",
        "reviews.add_review",
        "reviews.change_review",
        "reviews.delete_review",
        "reviews.view_review",
        "reviews.add_alertrule",
        "reviews.change_alertrule",
        "reviews.delete_alertrule",
        "reviews.view_alertrule",
        "reviews.change_alert",  # acknowledge
        "reviews.delete_alert",  # deleting a rule deletes its alerts
        "reviews.view_alert",
        "stores.view_apikey",
        "stores.change_apikey",  # revoke
        "stores.view_store",
        "stores.change_store",  # its name, currency, retention and training options
        "chat.delete_conversation",  # a shopper's request to erase their conversations
        "chat.delete_messagerating",  # ... which deletes their ratings with them
    ),
    Role.AGENT: _perms(
        "chat.view_conversation",
        "chat.change_conversation",  # claim, reply, hand back, resolve
        "chat.delete_conversation",  # a shopper's request to erase their conversations
        "chat.delete_messagerating",  # ... which deletes their ratings with them
        "chat.view_messagerating",  # the shopper's thumbs and comments on the bot's answers
        "chat.view_cannedreply",
        "intents.view_intentexample",
        "intents.add_intentexample",
        "intents.change_intentexample",  # fixing conflicting labels
        "intents.delete_intentexample",
        "intents.view_intentconflict",
        "catalog.view_faqentry",
        "catalog.view_product",
        "orders.view_order",
        "stores.view_store",
    ),
}


@dataclass(frozen=True)
class InStore:
    """The object of a permission check when only its store is known."""

    store_id: int


def store_roles(user: AbstractBaseUser | AnonymousUser) -> dict[int, str]:
    """``{store_id: role}`` for the user, read once per user object (one query a request)."""
    if not user.is_authenticated or not user.is_active:
        return {}
    cached: dict[int, str] | None = getattr(user, "_shopdesk_store_roles", None)
    if cached is None:
        cached = dict(Membership.objects.filter(user=user).values_list("store_id", "role"))
        user._shopdesk_store_roles = cached  # type: ignore[union-attr]
    return cached


def _store_id_of(obj: Any) -> int | None:
    if isinstance(obj, Store):
        return obj.pk
    store_id = getattr(obj, "store_id", None)
    return store_id if isinstance(store_id, int) else None


def role_allows(role: str | None, perm: str) -> bool:
    return role is not None and perm in ROLE_PERMISSIONS.get(role, frozenset())


def store_ids_with_perm(
    user: AbstractBaseUser | AnonymousUser, perms: str | Iterable[str], *, every: bool = True
) -> list[int] | None:
    """The stores where ``user`` holds every one of ``perms`` (``every=False``: at least one);
    None means every store (active superusers)."""
    if user.is_authenticated and user.is_active and user.is_superuser:
        return None
    wanted = [perms] if isinstance(perms, str) else list(perms)
    holds = all if every else any
    return sorted(
        store_id
        for store_id, role in store_roles(user).items()
        if holds(role_allows(role, perm) for perm in wanted)
    )


class StoreRoleBackend:
    """Authorisation only (``authenticate`` is left to ``ModelBackend``): a user's permissions
    are their roles' permissions, each in its own store."""

    def authenticate(self, request: Any, **credentials: Any) -> None:
        return None

    def get_user(self, user_id: int) -> None:
        return None

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        roles = store_roles(user_obj)
        if obj is None:
            return {perm for role in roles.values() for perm in ROLE_PERMISSIONS.get(role, ())}
        store_id = _store_id_of(obj)
        if store_id is None:
            return set()
        return set(ROLE_PERMISSIONS.get(roles.get(store_id, ""), ()))

    def has_perm(self, user_obj: Any, perm: str, obj: Any = None) -> bool:
        return perm in self.get_all_permissions(user_obj, obj)

    def has_module_perms(self, user_obj: Any, app_label: str) -> bool:
        prefix = f"{app_label}."
        return any(perm.startswith(prefix) for perm in self.get_all_permissions(user_obj))
