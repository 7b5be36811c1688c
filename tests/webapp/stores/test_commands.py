import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from webapp.stores.models import Membership, Store


@pytest.mark.django_db
def test_create_store_and_members(capsys):
    call_command("create_store", "--slug", "acme", "--name", "Acme Goods")
    call_command(
        "create_store_user",
        "--store",
        "acme",
        "--role",
        "agent",
        "--username",
        "ann",
        "--password",
        "pw-123456",
        "--email",
        "ann@example.com",
    )
    out = capsys.readouterr().out
    assert "Created store 'acme'" in out
    assert "Created 'ann': agent of store 'acme'" in out
    user = get_user_model().objects.get(username="ann")
    assert user.check_password("pw-123456")
    assert user.is_staff
    assert not user.is_superuser
    assert Membership.objects.get(user=user).role == "agent"


@pytest.mark.django_db
def test_rerunning_create_store_user_updates_role():
    store = Store.objects.create(slug="acme", name="Acme")
    for role in ("agent", "merchant"):
        call_command(
            "create_store_user",
            "--store",
            "acme",
            "--role",
            role,
            "--username",
            "bo",
            "--password",
            "pw-123456",
        )
    assert list(Membership.objects.filter(store=store).values_list("role", flat=True)) == [
        "merchant"
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create_store", "--slug", "Bad Slug!", "--name", "X"], "slug"),
        (
            [
                "create_store_user",
                "--store",
                "nope",
                "--role",
                "agent",
                "--username",
                "u",
                "--password",
                "p",
            ],
            "Unknown store 'nope'",
        ),
    ],
)
def test_command_errors_are_clear(args, message):
    with pytest.raises(CommandError, match=message):
        call_command(*args)


@pytest.mark.django_db
def test_duplicate_store_slug_is_refused():
    call_command("create_store", "--slug", "acme", "--name", "Acme")
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_store", "--slug", "acme", "--name", "Again")


@pytest.mark.django_db
def test_new_user_needs_a_password():
    Store.objects.create(slug="acme", name="Acme")
    with pytest.raises(CommandError, match="password"):
        call_command("create_store_user", "--store", "acme", "--role", "agent", "--username", "x")
