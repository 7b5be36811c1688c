import pytest

from nlp.pii import find_emails, iban_valid, luhn_valid, redact


@pytest.mark.parametrize(
    ("text", "expected", "kinds"),
    [
        ("mail me at john.doe+x@example.co.uk please", "mail me at [email] please", ("email",)),
        ("call +49 30 1234567 or 0612345678", "call [phone] or [phone]", ("phone",)),
        ("my number is (555) 123-4567", "my number is [phone]", ("phone",)),
        ("ring 555-123-4567 tonight", "ring [phone] tonight", ("phone",)),
        ("+33 6 12 34 56 78", "[phone]", ("phone",)),
        ("card 4111 1111 1111 1111 exp 12/27", "card [card] exp 12/27", ("card",)),
        ("5500-0000-0000-0004", "[card]", ("card",)),
        ("IBAN DE89 3704 0044 0532 0130 00 thanks", "IBAN [iban] thanks", ("iban",)),
        ("pay to gb82west12345698765432", "pay to [iban]", ("iban",)),
        ("card 4111 1111 1111 1111 cvv 123", "card [card] [cvv]", ("card", "cvv")),
        ("CVC: 4567 and the security code is 321", "[cvv] and the [cvv]", ("cvv",)),
        (
            "I'm a@b.io, card 4111111111111111, tel 0612345678",
            "I'm [email], card [card], tel [phone]",
            ("email", "card", "phone"),
        ),
    ],
)
def test_redacts(text, expected, kinds):
    redacted = redact(text)
    assert redacted.text == expected
    assert redacted.kinds == kinds


@pytest.mark.parametrize(
    "text",
    [
        "where is order SD-10042?",
        "order #10042 and sd10043",
        "it costs 1299.99 euros, or €1,299.00",
        "delivered 2024-05-12 or 05.06.2024",
        "do you have size 42 43 44 45",
        "the 1.7 L kettle, 2 pack",
        "card 4111 1111 1111 1112",  # fails Luhn
        "DE89 3704 0044 0532 0130 01",  # fails mod-97
        "tracking 12345678",
        "I ordered 123 mugs",  # a bare 3-digit number is not a security code
    ],
)
def test_leaves_non_pii_alone(text):
    redacted = redact(text)
    assert redacted.text == text
    assert redacted.kinds == ()


def test_checksums():
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    assert iban_valid("DE89 3704 0044 0532 0130 00")
    assert iban_valid("NL91ABNA0417164300")
    assert not iban_valid("NL91ABNA0417164301")


def test_find_emails():
    assert find_emails("a@b.io and Jane.Doe@shop.example.com.") == [
        "a@b.io",
        "Jane.Doe@shop.example.com",
    ]
    assert find_emails("no email @ here") == []
