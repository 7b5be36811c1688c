"""Writes for stores and their people."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from webapp.stores.models import ApiKey, Membership, Role, Store


def store_create(*, slug: str, name: str, currency: str = "EUR") -> Store:
    """Create a store; fails with ValidationError if the slug is taken or malformed."""
    from webapp.mlops.schedules import training_schedules_ensure

    store = Store(slug=slug, name=name, currency=currency.upper())
    store.full_clean()
    with transaction.atomic():
        store.save()
        training_schedules_ensure(store=store)
    return store


def store_get_or_create(*, slug: str, name: str, currency: str = "EUR") -> tuple[Store, bool]:
    existing = Store.objects.filter(slug=slug).first()
    if existing is not None:
        return existing, False
    return store_create(slug=slug, name=name, currency=currency), True


@dataclass(frozen=True)
class StoreUserResult:
    user: AbstractUser
    membership: Membership
    user_created: bool


@transaction.atomic
def store_user_upsert(
    *, store: Store, username: str, password: str | None, role: str, email: str = ""
) -> StoreUserResult:
    """Create or update a user and give them ``role`` in ``store``.

    Agents and merchants are staff so they can use the admin; what they may see and do there is
    decided per store by their role in it (``webapp.stores.permissions``). Re-running with the
    same username updates password, email and role, so onboarding scripts can be re-run safely.
    """
    if role not in Role.values:
        raise ValidationError(
            {"role": f"Unknown role {role!r}; use one of {', '.join(Role.values)}"}
        )
    if not username.strip():
        raise ValidationError({"username": "Username must not be empty"})
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(username=username)
    if email:
        user.email = email
    if password:
        user.set_password(password)
    elif created:
        raise ValidationError({"password": "A new user needs a password"})
    user.is_staff = True
    user.full_clean(exclude=["password"])
    user.save()
    membership, _ = Membership.objects.update_or_create(
        store=store, user=user, defaults={"role": role}
    )
    return StoreUserResult(user=user, membership=membership, user_created=created)


API_KEY_PREFIX = "sdk_"


def api_key_create(*, store: Store, name: str) -> tuple[ApiKey, str]:
    """A new key for ``store``: the row and the key text, which is never stored or shown again."""
    prefix = secrets.token_hex(4)
    key = f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey.objects.create(
        store=store, name=name, prefix=prefix, key_hash=hashlib.sha256(key.encode()).hexdigest()
    )
    return row, key


def api_key_revoke(*, key_id: int) -> None:
    ApiKey.objects.filter(id=key_id, revoked_at__isnull=True).update(revoked_at=timezone.now())


def api_key_authenticate(*, key: str) -> int | None:
    """The store a presented key belongs to, or None for an unknown or revoked key. Keys are
    looked up by their SHA-256, so no key text is compared; a hit records when the key was
    last used (at most once a minute, to spare a write per request)."""
    if not key or len(key) > 200:
        return None
    digest = hashlib.sha256(key.encode()).hexdigest()
    row = ApiKey.objects.filter(key_hash=digest, revoked_at__isnull=True).first()
    if row is None:
        return None
    now = timezone.now()
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(id=row.id).update(last_used_at=now)
    return row.store_id
