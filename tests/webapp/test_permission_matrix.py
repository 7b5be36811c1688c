"""Who may do what, and in which store: the permission matrix.

Two stores, ``a`` and ``b``, each with a row of every model the admin shows. Six kinds of
user: anonymous, a shopper (logged in, no store role), an agent of ``a``, a merchant of ``a``,
an agent of ``a`` who is a merchant of ``b``, and a superuser. For every admin page (list,
change, delete), every admin action, the agents' console and its buttons, the merchant
dashboard and its CSV exports, the models page, and the agent websocket, what each user
actually gets is compared with the declared policy (``ROLE_PERMISSIONS``, per store).

An operation "takes effect" when the store's rows of that model differ afterwards; each one
runs in a savepoint that is rolled back, so every user meets the same rows. The superuser's
run says what the operation does at all (some admin pages allow no delete for anyone); every
other user must get exactly that where their role in the row's store allows it, and nothing
anywhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import transaction
from django.db.models import Model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.factories import make_faq, make_model_version, make_product, make_store
from webapp.catalog.models import FaqEntry, Product
from webapp.chat.models import CannedReply, Conversation, ConversationState, Message, MessageRating
from webapp.intents.models import IntentAnswer, IntentConflict, IntentExample, text_key
from webapp.kb.models import SearchIndex
from webapp.mlops.models import EvaluationSet, ModelVersion, TrainingRun
from webapp.mlops.services import model_version_promote
from webapp.orders.models import Order
from webapp.reviews.models import Alert, AlertRule, Review
from webapp.stores.admin_scoping import StoreScopedAdmin
from webapp.stores.models import ApiKey, Membership, Role, Store
from webapp.stores.permissions import ROLE_PERMISSIONS
from webapp.stores.services import api_key_create, store_user_upsert

pytestmark = pytest.mark.django_db

STORES = ("a", "b")
# The kinds of user, with their role in each store ("*": superuser).
PRINCIPALS: dict[str, dict[str, str] | str | None] = {
    "anonymous": None,
    "shopper": {},
    "agent": {"a": Role.AGENT},
    "merchant": {"a": Role.MERCHANT},
    "agent_a_merchant_b": {"a": Role.AGENT, "b": Role.MERCHANT},
    "superuser": "*",
}


def _fill(store: Store) -> dict[type[Model], Model]:
    """One row of every store-owned model the admin shows."""
    now = timezone.now()
    product = make_product(store, f"{store.slug}-1", f"{store.slug} lamp")
    # Reviews and alerts are about another product: deleting this one deletes nothing else.
    reviewed = make_product(store, f"{store.slug}-2", f"{store.slug} kettle")
    conversation = Conversation.objects.create(
        store=store,
        token_hash=f"{store.slug:0<64}",
        last_activity_at=now,
        state=ConversationState.WAITING,
        escalated_at=now - timedelta(minutes=3),
    )
    message = Message.objects.create(
        store=store, conversation=conversation, role="shopper", text="where is my parcel?"
    )
    Message.objects.create(store=store, conversation=conversation, role="bot", text="Let me see.")
    rule = AlertRule.objects.create(store=store, name=f"{store.slug} rule")
    first = make_model_version(store, b"1")
    model_version_promote(version_id=first.id)
    second = make_model_version(store, b"2")
    model_version_promote(version_id=second.id)  # v1 is now the one to roll back to
    return {
        type(api): api
        for api in [
            api_key_create(store=store, name="storefront")[0],
            product,
            make_faq(store, f"{store.slug} question?", "An answer."),
            SearchIndex.objects.create(
                store=store,
                version=1,
                path="x",
                content_hash="h",
                encoder="e",
                documents=1,
                chunks=1,
                index_kind="flat",
                checksum="c",
                build_seconds=0.1,
            ),
            conversation,
            CannedReply.objects.create(store=store, title="Hi", text="Hello!"),
            MessageRating.objects.create(message=message, value="down", comment="meh"),
            IntentExample.objects.create(
                store=store, text="track parcel", text_key=text_key("track parcel"), intent="x"
            ),
            IntentAnswer.objects.create(store=store, intent="x", template="An answer."),
            IntentConflict.objects.create(store=store, key="k", text="t", labels={}),
            Order.objects.create(
                store=store,
                number=f"SD-{store.id}",
                email="o@example.com",
                status="placed",
                placed_at=now,
            ),
            second,
            second.events.first(),
            TrainingRun.objects.create(store=store, kind="intent", trigger="manual"),
            EvaluationSet.objects.create(store=store, kind="intent"),
            Review.objects.create(store=store, product=reviewed, rating=2, source="api"),
            rule,
            Alert.objects.create(
                rule=rule, store=store, product=reviewed, reviews=3, negative=2, message="Alert!"
            ),
        ]
    }


@pytest.fixture
def world(django_user_model):
    stores = {slug: make_store(slug=slug, name=f"Store {slug.upper()}") for slug in STORES}
    rows = {slug: _fill(store) for slug, store in stores.items()}
    users: dict[str, Any] = {"anonymous": None}
    users["shopper"] = django_user_model.objects.create_user("shopper", password="pw-shopper")
    for name, roles in PRINCIPALS.items():
        if isinstance(roles, dict) and roles:
            for slug, role in roles.items():
                users[name] = store_user_upsert(
                    store=stores[slug], username=name, password="pw-12345678", role=role
                ).user
    users["superuser"] = django_user_model.objects.create_superuser("root", "r@x.io", "pw-root")
    return {"stores": stores, "rows": rows, "users": users}


def _allowed(principal: str, store: str, *perms: str) -> bool:
    """The declared policy: does the principal's role in ``store`` carry one of ``perms``?"""
    roles = PRINCIPALS[principal]
    if roles == "*":
        return True
    if not isinstance(roles, dict) or store not in roles:
        return False
    return any(perm in ROLE_PERMISSIONS[roles[store]] for perm in perms)


def _client(world, principal: str) -> Client:
    client = Client()
    user = world["users"][principal]
    if user is not None:
        client.force_login(user)
    return client


def _state(model: type[Model], store: Store) -> list[dict[str, Any]]:
    if model is Store:
        return list(Store.objects.filter(pk=store.pk).values())
    lookup = {"message__store": store} if model is MessageRating else {"store": store}
    rows = model._default_manager.filter(**lookup)
    return list(rows.order_by("pk").values())


def _effect(model: type[Model], store: Store, do: Callable[[], object]) -> bool:
    """Whether ``do()`` changed the store's rows of ``model``; the change is rolled back."""
    point = transaction.savepoint()
    try:
        before = _state(model, store)
        do()
        return _state(model, store) != before
    finally:
        transaction.savepoint_rollback(point)


def _perm(model: type[Model], action: str) -> str:
    return f"{model._meta.app_label}.{action}_{model._meta.model_name}"


def _scoped_admins() -> list[tuple[type[Model], StoreScopedAdmin]]:
    return [(m, a) for m, a in admin.site._registry.items() if isinstance(a, StoreScopedAdmin)]


def test_every_store_owned_model_in_the_admin_is_scoped_and_filled(world):
    """The matrix below covers every store-owned model registered in the admin (memberships
    are the superuser's alone, checked below)."""
    store_owned = {
        model
        for model in admin.site._registry
        if any(f.name == "store" for f in model._meta.fields) or model is MessageRating
    }
    scoped = {model for model, _ in _scoped_admins()}
    assert store_owned - scoped == {Membership}
    assert set(world["rows"]["a"]) == scoped
    assert len(scoped) >= 18


@pytest.mark.parametrize("principal", list(PRINCIPALS))
def test_memberships_users_and_schedules_are_the_superusers_alone(world, principal):
    client = _client(world, principal)
    for name in ("stores_membership", "auth_user", "auth_group", "django_celery_beat_periodictask"):
        opens = client.get(reverse(f"admin:{name}_changelist")).status_code == 200
        assert opens == (principal == "superuser"), name


def _admin_cases(world, principal: str) -> list[tuple[str, bool, bool]]:
    """(case, what the principal got, what the policy says) for every admin page and action."""
    cases = []
    root = _client(world, "superuser")
    client = _client(world, principal)
    for model, model_admin in _scoped_admins():
        info = model._meta.app_label, model._meta.model_name
        changelist = reverse("admin:{}_{}_changelist".format(*info))
        view = (_perm(model, "view"), _perm(model, "change"))
        for slug in STORES:
            store, row = world["stores"][slug], world["rows"][slug][model]
            label = f"{model.__name__} of {slug}"
            # Listed on the changelist.
            response = client.get(changelist)
            listed = response.status_code == 200 and row.pk in {
                r.pk for r in response.context["cl"].result_list
            }
            cases.append((f"{label}: listed", listed, _allowed(principal, slug, *view)))
            # Its change page opens.
            page = client.get(reverse("admin:{}_{}_change".format(*info), args=[row.pk]))
            cases.append(
                (f"{label}: page", page.status_code == 200, _allowed(principal, slug, *view))
            )
            # Deleting it from its delete page.
            delete_url = reverse("admin:{}_{}_delete".format(*info), args=[row.pk])
            form = {"post": "yes"}
            possible = _effect(model, store, lambda u=delete_url, f=form: root.post(u, f))
            got = _effect(model, store, lambda u=delete_url, f=form: client.post(u, f))
            wanted = possible and _allowed(principal, slug, _perm(model, "delete"))
            cases.append((f"{label}: delete page", got, wanted))
            # Every action on the changelist, with this one row selected.
            for name in ["delete_selected", *(model_admin.actions or [])]:
                func = admin.site.get_action(name) if name == "delete_selected" else None
                func = func or getattr(type(model_admin), name)
                needed = getattr(func, "allowed_permissions", ("change",))
                form = {"action": name, ACTION_CHECKBOX_NAME: [str(row.pk)], "post": "yes"}
                possible = _effect(model, store, lambda u=changelist, f=form: root.post(u, f))
                got = _effect(model, store, lambda u=changelist, f=form: client.post(u, f))
                wanted = possible and all(
                    _allowed(principal, slug, _perm(model, perm)) for perm in needed
                )
                cases.append((f"{label}: action {name}", got, wanted))
    return cases


def _mismatches(cases: list[tuple[str, bool, bool]]) -> list[str]:
    return [
        f"{case}: got {got}, policy says {wanted}" for case, got, wanted in cases if got != wanted
    ]


@pytest.mark.parametrize("principal", list(PRINCIPALS))
def test_admin_pages_and_actions_follow_the_role_in_each_rows_store(world, principal):
    cases = _admin_cases(world, principal)
    assert _mismatches(cases) == []
    # The superuser's run shows the matrix tests real operations, not only refusals.
    if principal == "superuser":
        assert sum(got for _, got, _ in cases) >= 100


def _console_cases(world, principal: str) -> list[tuple[str, bool, bool]]:
    cases = []
    client = _client(world, principal)
    for slug in STORES:
        store, conversation = world["stores"][slug], world["rows"][slug][Conversation]
        message = conversation.messages.filter(role="shopper").first()
        console = reverse("admin:chat_conversation_console", args=[conversation.id])
        page = client.get(console)
        view = ("chat.view_conversation", "chat.change_conversation")
        cases.append(
            (f"console of {slug}", page.status_code == 200, _allowed(principal, slug, *view))
        )
        work = _allowed(principal, slug, "chat.change_conversation")
        if page.status_code == 200:
            shows_buttons = b'id="console-claim"' in page.content
            cases.append((f"console of {slug}: buttons shown", shows_buttons, work))
        for action in ("claim", "resolve"):
            url = reverse("admin:chat_conversation_action", args=[conversation.id, action])
            got = _effect(Conversation, store, lambda u=url: client.post(u))
            cases.append((f"console of {slug}: {action}", got, work))
        correct = reverse("admin:chat_message_correct_intent", args=[conversation.id, message.id])
        got = _effect(
            IntentExample, store, lambda u=correct: client.post(u, {"intent": "order_status"})
        )
        cases.append((f"console of {slug}: correct the intent", got, work))
    return cases


@pytest.mark.parametrize("principal", list(PRINCIPALS))
def test_the_agents_console_follows_the_role_in_the_conversations_store(world, principal):
    assert _mismatches(_console_cases(world, principal)) == []


def _merchant_pages(world, principal: str) -> list[tuple[str, bool, bool]]:
    """The dashboard, its exports and the models page are for the store's merchants."""
    cases = []
    client = _client(world, principal)
    for slug in STORES:
        merchant = _allowed(principal, slug, "reviews.view_review")
        pages = {
            "dashboard": reverse("reviews-dashboard", args=[slug]),
            "models page": reverse("mlops-models", args=[slug]),
            **{
                f"export {section}": reverse("reviews-dashboard-export", args=[slug, section])
                for section in ("trend", "products", "aspects", "contradictions", "negative")
            },
        }
        for name, url in pages.items():
            cases.append((f"{name} of {slug}", client.get(url).status_code == 200, merchant))
        store = world["stores"][slug]
        candidate = make_model_version(store, b"candidate")
        promote = reverse("mlops-version-promote", args=[slug, candidate.id])
        got = _effect(ModelVersion, store, lambda u=promote: client.post(u))
        cases.append((f"promote on the models page of {slug}", got, merchant))
        rollback = reverse("mlops-kind-rollback", args=[slug, "intent"])
        got = _effect(ModelVersion, store, lambda u=rollback: client.post(u))
        cases.append((f"roll back on the models page of {slug}", got, merchant))
    return cases


@pytest.mark.parametrize("principal", list(PRINCIPALS))
def test_dashboards_exports_and_models_page_only_for_the_stores_merchants(world, principal):
    assert _mismatches(_merchant_pages(world, principal)) == []


def test_the_dashboard_index_lists_only_the_users_merchant_stores(world):
    client = _client(world, "agent_a_merchant_b")
    page = client.get(reverse("reviews-dashboard-index"), follow=True).content.decode()
    assert "Store B" in page
    assert "Store A" not in page


@pytest.mark.parametrize("principal", list(PRINCIPALS))
def test_admin_filters_never_name_another_tenants_store(world, principal):
    """The sidebar filters list only values from the user's own rows."""
    client = _client(world, principal)
    own = {
        slug
        for slug in STORES
        if PRINCIPALS[principal] == "*"
        or (isinstance(PRINCIPALS[principal], dict) and slug in PRINCIPALS[principal])
    }
    shown_anywhere: set[str] = set()
    for model, _ in _scoped_admins():
        info = model._meta.app_label, model._meta.model_name
        response = client.get(reverse("admin:{}_{}_changelist".format(*info)))
        if response.status_code != 200:
            continue
        page = response.content.decode()
        shown_anywhere |= {slug for slug in STORES if f"Store {slug.upper()}" in page}
    assert shown_anywhere <= own


async def _agent_socket(world, principal: str, slug: str) -> tuple[bool, str | None]:
    """Connect to the agent socket of ``slug``'s conversation and send a reply: (watching, the
    error code of the reply or None)."""
    from webapp.asgi import application

    conversation = world["rows"][slug][Conversation]
    user = world["users"][principal]
    client = Client()
    if user is not None:
        await sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}" if user is not None else ""
    socket = WebsocketCommunicator(
        application,
        f"/ws/agent/conversations/{conversation.id}/",
        headers=[
            (b"origin", b"http://testserver"),
            (b"host", b"testserver"),
            (b"cookie", cookie.encode()),
        ],
    )
    connected, _ = await socket.connect()
    assert connected
    first = await socket.receive_json_from(timeout=5)
    if first.get("type") != "ready":
        await socket.disconnect()
        return False, None
    await socket.send_json_to({"type": "message", "text": "Hello from the team"})
    reply = await socket.receive_json_from(timeout=5)
    await socket.disconnect()
    return True, reply.get("code") if reply.get("type") == "error" else None


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("principal", list(PRINCIPALS))
async def test_the_agent_socket_follows_the_role_in_the_conversations_store(world, principal):
    for slug in STORES:
        watching, error = await _agent_socket(world, principal, slug)
        view = ("chat.view_conversation", "chat.change_conversation")
        assert watching == _allowed(principal, slug, *view), (principal, slug)
        if watching:
            # Nobody has claimed it: agents are told to claim first, others may not write.
            works = _allowed(principal, slug, "chat.change_conversation")
            assert error == ("not_claimed" if works else "forbidden"), (principal, slug)


def test_the_reported_escalation_is_closed(world):
    """Issue #11's reproduction: an agent of ``a`` who is a merchant of ``b`` gets no merchant
    powers in ``a`` (reviews, API keys, catalogue, FAQ, canned replies, alert rules)."""
    client = _client(world, "agent_a_merchant_b")
    a = world["rows"]["a"]
    reviews = client.get(reverse("admin:reviews_review_changelist")).context["cl"].result_list
    assert {review.store.slug for review in reviews} == {"b"}
    key = a[ApiKey]
    client.post(
        reverse("admin:stores_apikey_changelist"),
        {"action": "revoke", ACTION_CHECKBOX_NAME: [str(key.pk)]},
    )
    key.refresh_from_db()
    assert key.revoked_at is None
    for model in (Review, Product, FaqEntry, CannedReply, AlertRule):
        row = a[model]
        url = reverse(
            f"admin:{model._meta.app_label}_{model._meta.model_name}_delete", args=[row.pk]
        )
        client.post(url, {"post": "yes"})
        assert model._default_manager.filter(pk=row.pk).exists(), model.__name__
    # In b, where the same user is a merchant, the same key action works.
    own_key = world["rows"]["b"][ApiKey]
    client.post(
        reverse("admin:stores_apikey_changelist"),
        {"action": "revoke", ACTION_CHECKBOX_NAME: [str(own_key.pk)]},
    )
    own_key.refresh_from_db()
    assert own_key.revoked_at is not None


def test_the_declared_policy_keeps_roles_apart():
    """The policy itself: merchants don't work conversations, agents change nothing of the
    catalogue, reviews, keys or models."""
    merchant, agent = ROLE_PERMISSIONS[Role.MERCHANT], ROLE_PERMISSIONS[Role.AGENT]
    assert "chat.change_conversation" not in merchant
    assert "chat.change_conversation" in agent
    for perm in agent:
        app, codename = perm.split(".")
        action = codename.split("_", 1)[0]
        assert app in {"chat", "intents"} or action == "view", perm
    assert not any(perm.startswith(("reviews.", "mlops.", "stores.view_apikey")) for perm in agent)
    assert not any(perm.startswith("auth.") for perm in merchant | agent)


@pytest.mark.parametrize("principal", list(PRINCIPALS))
def test_store_settings_change_only_for_the_stores_merchants(world, principal):
    """The store page (retention, training options) is changed by that store's merchants."""
    client = _client(world, principal)
    cases = []
    for slug in STORES:
        store = world["stores"][slug]
        url = reverse("admin:stores_store_change", args=[store.pk])
        form = {
            "slug": store.slug,
            "name": store.name,
            "currency": store.currency,
            "retention_days": "30",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        }
        got = _effect(Store, store, lambda u=url, f=form: client.post(u, f))
        cases.append(
            (f"store {slug}: change", got, _allowed(principal, slug, "stores.change_store"))
        )
    assert _mismatches(cases) == []


@pytest.mark.parametrize("principal", list(PRINCIPALS))
def test_the_review_api_answers_to_keys_never_to_logins(world, principal):
    """A session (even a superuser's) gives no access to the review API; only a store's own
    key posts to it, and to no other store."""
    client = _client(world, principal)
    body = '{"sku": "a-1", "rating": 4, "body": "Good."}'
    url = "/api/stores/{}/reviews/"
    key_a = api_key_create(store=world["stores"]["a"], name="matrix")[1]
    answers = {
        "no key": client.post(url.format("a"), body, content_type="application/json"),
        "a's key on b": client.post(
            url.format("b"), body, content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key_a}",
        ),
        "a's key on a": client.post(
            url.format("a"), body, content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key_a}",
        ),
    }  # fmt: skip
    assert {name: r.status_code for name, r in answers.items()} == {
        "no key": 401,
        "a's key on b": 403,
        "a's key on a": 201,
    }
