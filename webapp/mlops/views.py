"""The merchant's Models page: each kind's versions side by side, its evaluation set, recent
training runs and audit trail, with promote and roll back (merchants of the store only)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from webapp.mlops.models import ModelKind
from webapp.mlops.selectors import model_registry_overview, model_version_of_store
from webapp.mlops.services import RegistryError, model_version_promote, model_version_rollback
from webapp.stores.models import Role, Store
from webapp.stores.selectors import store_get_by_slug, store_role


def _store_and_role(request: HttpRequest, slug: str) -> tuple[Store, str | None]:
    """The store and the user's role in it (``merchant`` for superusers); 404 if the store
    does not exist or the user has no role in it, so nobody learns of other stores."""
    store = store_get_by_slug(slug=slug)
    role = store_role(store=store, user=request.user) if store is not None else None
    if store is None or role is None:
        raise Http404("No such store.")
    return store, role


def _store_to_view(request: HttpRequest, slug: str) -> Store:
    """Merchants and superusers only; agents get the same 404 as on the review dashboard."""
    store, role = _store_and_role(request, slug)
    if role != Role.MERCHANT:
        raise Http404("No such store.")
    return store


def _store_to_change(request: HttpRequest, slug: str) -> Store:
    """Merchants and superusers only; an agent of the store (who knows it exists) gets 403."""
    store, role = _store_and_role(request, slug)
    if role != Role.MERCHANT:
        raise PermissionDenied("Only the store's merchants may change which model is live.")
    return store


def _reason(request: HttpRequest) -> str:
    """The optional reason typed beside the button; the service's default when empty. Cut,
    not refused, when over-long: the audit trail keeps 300 characters."""
    return request.POST.get("reason", "").strip()[:300]


def _back(store: Store, kind: str) -> HttpResponseRedirect:
    return redirect(reverse("mlops-models", args=[store.slug]) + f"#kind-{kind}")


@login_required
def models_view(request: HttpRequest, slug: str) -> HttpResponse:
    store = _store_to_view(request, slug)
    overviews = [model_registry_overview(store_id=store.id, kind=kind) for kind in ModelKind.values]
    return render(request, "mlops/models.html", {"store": store, "overviews": overviews})


@require_POST
@login_required
def version_promote(request: HttpRequest, slug: str, version_id: int) -> HttpResponse:
    store = _store_to_change(request, slug)
    version = model_version_of_store(store_id=store.id, version_id=version_id)
    if version is None:
        raise Http404("No such version.")
    try:
        promoted = model_version_promote(
            version_id=version.id, actor=request.user, reason=_reason(request)
        )
    except RegistryError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{promoted.get_kind_display()} v{promoted.version} is live.")
    return _back(store, version.kind)


@require_POST
@login_required
def kind_rollback(request: HttpRequest, slug: str, kind: str) -> HttpResponse:
    store = _store_to_change(request, slug)
    if kind not in ModelKind.values:
        raise Http404("No such model.")
    try:
        restored = model_version_rollback(
            store_id=store.id, kind=kind, actor=request.user, reason=_reason(request)
        )
    except RegistryError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            f"Rolled back: {restored.get_kind_display()} v{restored.version} is live again.",
        )
    return _back(store, kind)
