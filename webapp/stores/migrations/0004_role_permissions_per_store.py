"""Role permissions moved from two global groups to ``webapp.stores.permissions``, decided per
store: the groups granted a role's permissions in every store the user could see."""

from django.db import migrations

OLD_GROUPS = ["ShopDesk merchants", "ShopDesk agents"]


def drop_role_groups(apps, schema_editor):  # type: ignore[no-untyped-def]
    apps.get_model("auth", "Group").objects.filter(name__in=OLD_GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("stores", "0003_store_train_on_confirmed_answers"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(drop_role_groups, migrations.RunPython.noop)]
