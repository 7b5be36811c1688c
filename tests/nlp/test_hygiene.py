"""Training-data hygiene: what counts as the same text, conflicts, PII and the data fingerprint."""

from __future__ import annotations

from nlp.hygiene import clean_labelled, data_fingerprint, normalise, text_fingerprint


def test_case_punctuation_apostrophes_and_spacing_do_not_make_a_new_text():
    assert normalise("Where's my order?") == normalise("wheres my order") == "wheres my order"
    assert normalise("Where\u2019s  my ORDER!!") == "wheres my order"  # a phone's apostrophe
    assert normalise("size,colour") == "size colour"  # other punctuation separates words
    assert text_fingerprint("Where's my order?") == text_fingerprint("  wheres my order ")
    assert text_fingerprint("where is my order") != text_fingerprint("wheres my order")


def test_duplicates_train_once_and_count():
    clean = clean_labelled(
        [
            (1, "Where's my order?", "order_status"),
            (2, "hello", "greeting"),
            (3, "wheres my order", "order_status"),
            (4, "WHERE'S MY ORDER", "order_status"),
        ]
    )
    assert clean.texts == ["Where's my order?", "hello"]  # the first of each, in input order
    assert clean.labels == ["order_status", "greeting"]
    assert clean.ids == [1, 2]
    assert clean.keys == [text_fingerprint("Where's my order?"), text_fingerprint("hello")]
    assert clean.duplicates == 2
    assert clean.conflicts == []
    assert clean.counts()["trained_on"] == 2
    assert clean.counts()["rows"] == 4


def test_one_text_with_two_labels_is_a_conflict_and_neither_trains():
    clean = clean_labelled(
        [
            (1, "Where is my order?", "order_status"),
            (2, "hello", "greeting"),
            (3, "where is my order", "return_item"),
            (4, "where is my ORDER", "order_status"),
        ]
    )
    assert clean.texts == ["hello"]
    (conflict,) = clean.conflicts
    assert conflict.labels == {"order_status": (1, 4), "return_item": (3,)}
    assert conflict.key == text_fingerprint("where is my order")
    assert conflict.text == "Where is my order?"
    assert clean.conflicted_rows == 3
    assert clean.counts()["conflicts"] == 1
    assert clean.duplicates == 0  # conflicting rows are not counted as duplicates too


def test_emails_phones_and_cards_are_redacted_in_the_trained_text_and_counted():
    clean = clean_labelled(
        [
            (1, "my email is jane.doe@example.com, where is my order", "order_status"),
            (2, "call me on +31 6 12345678 please", "human_agent"),
            (3, "charge card 4111 1111 1111 1111 again", "payment_problem"),
            (4, "order SD-10042 costs 34.95", "order_status"),  # no PII: kept as it is
        ]
    )
    assert clean.texts == [
        "my email is [email], where is my order",
        "call me on [phone] please",
        "charge card [card] again",
        "order SD-10042 costs 34.95",
    ]
    assert clean.redacted == 3
    assert clean.counts()["pii_redacted"] == 3
    assert not any("example.com" in text or "4111" in text for text in clean.texts)


def test_two_texts_differing_only_in_pii_are_the_same_text():
    clean = clean_labelled(
        [
            (1, "mail a@example.com about my order", "order_status"),
            (2, "mail b@example.org about my order", "order_status"),
        ]
    )
    assert clean.texts == ["mail [email] about my order"]
    assert clean.duplicates == 1


def test_rows_whose_key_is_excluded_are_dropped_and_counted():
    evaluation = {text_fingerprint("Where's my order?")}
    clean = clean_labelled(
        [(1, "wheres my order", "order_status"), (2, "hello", "greeting")], exclude=evaluation
    )
    assert clean.ids == [2]
    assert clean.excluded == 1
    assert clean.counts()["in_evaluation_set"] == 1


def test_data_fingerprint_ignores_order_and_changes_with_a_label_or_extra():
    texts, labels = ["hello", "where is my order"], ["greeting", "order_status"]
    base = data_fingerprint(texts, labels, "eval-v1")
    assert data_fingerprint(texts[::-1], labels[::-1], "eval-v1") == base
    assert data_fingerprint(texts, ["greeting", "return_item"], "eval-v1") != base
    assert data_fingerprint(texts, labels, "eval-v2") != base
    assert data_fingerprint([*texts, "hi"], [*labels, "greeting"], "eval-v1") != base
    # The pairing matters, not only the two lists' contents.
    assert data_fingerprint(texts, labels[::-1], "eval-v1") != base
