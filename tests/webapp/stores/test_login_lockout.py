"""The admin login locks a username out from an address after five wrong passwords."""

from __future__ import annotations

import pytest

from tests.factories import make_store
from webapp.stores.services import store_user_upsert

pytestmark = pytest.mark.django_db
LOGIN = "/admin/login/?next=/admin/"


def _login(client, username, password, ip="192.0.2.10"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip)


def _logged_in(client) -> bool:
    return client.get("/admin/").status_code == 200


@pytest.fixture
def mia():
    store = make_store(slug="acme")
    return store_user_upsert(store=store, username="mia", password="right-pw-123", role="merchant")


def test_five_wrong_passwords_lock_out_the_right_one(client, mia):
    for n in range(5):
        assert _login(client, "mia", f"wrong-{n}").status_code in {200, 429}
        assert not _logged_in(client)
    locked = _login(client, "mia", "right-pw-123")
    assert locked.status_code == 429
    assert not _logged_in(client)


def test_a_lockout_is_per_username_and_address_and_success_resets_the_count(client, mia):
    for n in range(4):
        _login(client, "mia", f"wrong-{n}")
    assert _login(client, "mia", "right-pw-123").status_code == 302  # 4 < 5, and it resets
    assert _logged_in(client)
    client.logout()
    for n in range(5):
        _login(client, "mia", f"wrong-again-{n}", ip="192.0.2.66")
    assert _login(client, "mia", "right-pw-123", ip="192.0.2.66").status_code == 429
    # The same user from her usual address still logs in.
    assert _login(client, "mia", "right-pw-123").status_code == 302
