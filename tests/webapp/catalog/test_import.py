"""Merchant imports: CSV and JSONL, column maps, line-numbered errors, idempotent re-import."""

import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from webapp.catalog.models import FaqEntry, Product
from webapp.catalog.services import faq_import, products_import
from webapp.common.importing import ImportFileError

CSV_WITH_BROKEN_ROWS = (
    "sku,name,description,price,currency,category,stock,url,colour\n"
    "KET-1,Glass kettle,Boils fast,34.95,EUR,Kitchen,12,,clear\n"  # line 2: good
    "KET-2,,No name,10,EUR,Kitchen,1,,\n"  # line 3: no name
    'KET-3,Steel kettle,"A long\n'  # line 4-5: multi-line quoted field, good
    'description","49,50",,Kitchen,3,,silver\n'
    "KET-4,Cheap kettle,x,abc,EUR,Kitchen,1,,\n"  # line 6: bad price
    "KET-5,Kettle,x,5,EUR,Kitchen,-2,,\n"  # line 7: negative stock
    "KET-6,Kettle,x,5,EUR\n"  # line 8: too few columns
    "KET-7,Kettle,x,5,EURO,Kitchen,1,,\n"  # line 9: bad currency
    "KET-8,Kettle,x,5,EUR,Kitchen,1,ftp://x,\n"  # line 10: bad url
)


@pytest.fixture
def store(db):
    from tests.factories import make_store

    return make_store(slug="acme")


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_keeps_good_rows_and_reports_bad_ones_by_line(store, tmp_path):
    report = products_import(store=store, path=_write(tmp_path, "p.csv", CSV_WITH_BROKEN_ROWS))
    assert (report.created, report.updated, report.rejected) == (2, 0, 6)
    assert [(e.line, e.reason) for e in report.errors] == [
        (3, "name is required"),
        (6, "price 'abc' is not a number"),
        (7, "stock must not be negative"),
        (8, "expected 9 columns, found 5"),
        (9, "currency 'EURO' is not a 3-letter code"),
        (10, "url 'ftp://x' must start with https://, http:// or /"),
    ]
    kettle = Product.objects.get(store=store, sku="KET-1")
    assert kettle.price == Decimal("34.95")
    assert kettle.attributes == {"colour": "clear"}
    steel = Product.objects.get(store=store, sku="KET-3")
    assert steel.description == "A long\ndescription"
    assert steel.price == Decimal("49.50")  # decimal comma
    assert steel.currency == "EUR"  # blank currency takes the store's


def test_reimport_is_idempotent_and_updates_by_sku(store, tmp_path):
    path = _write(tmp_path, "p.csv", CSV_WITH_BROKEN_ROWS)
    products_import(store=store, path=path)
    again = products_import(store=store, path=path)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    changed = CSV_WITH_BROKEN_ROWS.replace(
        "Glass kettle,Boils fast,34.95", "Glass kettle,Boils fast,29.95"
    )
    third = products_import(store=store, path=_write(tmp_path, "p2.csv", changed))
    assert (third.created, third.updated, third.unchanged) == (0, 1, 1)
    assert Product.objects.get(store=store, sku="KET-1").price == Decimal("29.95")
    assert Product.objects.filter(store=store).count() == 2


def test_jsonl_with_column_map_and_broken_lines(store, tmp_path):
    lines = [
        json.dumps(
            {"q": "Do you ship to Norway?", "a": "Yes, in 3-6 days.", "intent": "delivery_time"}
        ),
        "{not json",
        json.dumps(["a", "list"]),
        "",
        json.dumps({"q": "Gift cards?", "a": "From 10 to 250 euros.", "intent": "Gift Card"}),
        json.dumps({"q": "  Can I  pay later? ", "a": "Yes, with Klarna."}),
    ]
    report = faq_import(
        store=store,
        path=_write(tmp_path, "faq.jsonl", "\n".join(lines) + "\n"),
        column_map={"question": "q", "answer": "a"},
    )
    assert (report.created, report.rejected) == (2, 3)
    assert [e.line for e in report.errors] == [2, 3, 5]
    assert report.errors[0].reason.startswith("invalid JSON")
    assert report.errors[1].reason == "expected a JSON object, found list"
    assert "snake_case" in report.errors[2].reason
    assert set(FaqEntry.objects.filter(store=store).values_list("question", flat=True)) == {
        "Do you ship to Norway?",
        "Can I pay later?",
    }


def test_invalid_utf8_rejects_only_that_row(store, tmp_path):
    path = tmp_path / "p.csv"
    path.write_bytes(
        b"sku,name,price\nA-1,Good row,5\nA-2,Bad \xff\xfe row,5\nA-3,Another good row,6\n"
    )
    report = products_import(store=store, path=path)
    assert report.created == 2
    assert [(e.line, e.reason) for e in report.errors] == [(3, "not valid UTF-8 text")]


def test_unreadable_files_fail_clearly(store, tmp_path):
    with pytest.raises(ImportFileError, match="no such file"):
        products_import(store=store, path=tmp_path / "missing.csv")
    with pytest.raises(ImportFileError, match="can't tell the format"):
        products_import(store=store, path=_write(tmp_path, "p.xlsx", "x"))
    with pytest.raises(ImportFileError, match="empty"):
        products_import(store=store, path=_write(tmp_path, "e.csv", ""))
    with pytest.raises(ImportFileError, match="duplicate columns: sku"):
        products_import(store=store, path=_write(tmp_path, "d.csv", "sku,sku\n1,2\n"))


def test_import_requests_one_index_rebuild_after_commit(
    store, tmp_path, django_capture_on_commit_callbacks, monkeypatch
):
    queued = []
    monkeypatch.setattr(
        "workers.tasks.rebuild_search_index.apply_async",
        lambda args, countdown: queued.append((args, countdown)),
    )
    with django_capture_on_commit_callbacks(execute=True):
        products_import(store=store, path=_write(tmp_path, "p.csv", CSV_WITH_BROKEN_ROWS))
    assert queued == [([store.id], 3)]
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        products_import(store=store, path=_write(tmp_path, "p.csv", CSV_WITH_BROKEN_ROWS))
    assert queued == []  # nothing changed, nothing to rebuild


def test_import_commands_print_errors_and_summary(store, tmp_path, capsys):
    path = _write(tmp_path, "p.csv", "sku,title,price\nA-1,Lamp,5\nA-2,,5\n")
    call_command("import_products", str(path), "--store", "acme", "--map", "name=title")
    captured = capsys.readouterr()
    assert "acme: created 1, updated 0, unchanged 0, rejected 1" in captured.out
    assert "p.csv: line 3: name is required" in captured.err
    call_command(
        "import_faq",
        str(_write(tmp_path, "f.csv", "question,answer\nQ?,A.\n")),
        "--store",
        "acme",
        "--json",
    )
    assert json.loads(capsys.readouterr().out)["created"] == 1


def test_import_command_errors(store, tmp_path):
    with pytest.raises(CommandError, match="Unknown store 'nope'"):
        call_command("import_faq", str(tmp_path / "x.csv"), "--store", "nope")
    with pytest.raises(CommandError, match="--map expects target=source_column"):
        call_command(
            "import_faq",
            str(_write(tmp_path, "x.csv", "a\n")),
            "--store",
            "acme",
            "--map",
            "question",
        )


def test_demo_data_imports_cleanly(db):
    from webapp.demo.services import demo_load

    first = demo_load()
    assert first.products.rejected == 0
    assert first.faq.rejected == 0
    assert first.products.created >= 150
    assert first.faq.created >= 60
    assert Product.objects.values("category").distinct().count() >= 8
    second = demo_load()
    assert (second.products.created, second.products.updated) == (0, 0)
    assert second.faq.unchanged == first.faq.created
