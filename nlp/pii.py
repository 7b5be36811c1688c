"""PII redaction for chat messages before they are stored as training data or logged.

Conservative by design: a false positive hides the order number or price the bot needs to
answer, so every pattern is followed by a validity check (Luhn for cards, ISO 7064 mod-97 for
IBANs, digit counts and shape rules for phone numbers). Order numbers (``SD-10042``,
``#10042``), prices, dates and sizes are left alone.

Kinds are replaced in a fixed order — email, IBAN, card, security code, phone — so that a
longer, checksummed number is claimed before the looser phone pattern could take part of it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

EMAIL = "email"
IBAN = "iban"
CARD = "card"
CVV = "cvv"
PHONE = "phone"

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)
# Country code, check digits, then groups of four (spaced or not) and a short last group.
_IBAN = re.compile(
    r"(?<![\w])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![\w])", re.IGNORECASE
)
# 13-19 digits, single spaces or dashes between them; not glued to a word or order prefix, and
# not the tail of a spaced IBAN that failed its checksum ("DE89 3704 ...").
_CARD = re.compile(r"(?<![\w#-])(?<![A-Za-z]{2}\d{2} )\d(?:[ -]?\d){12,18}(?![\w-]|[.,]\d)")
# Digits with single separators, optionally +/00 and a bracketed area code; checked afterwards.
_PHONE = re.compile(r"(?<![\w#+.,/-])(?:\+|\(\+?)?\d[\d ().\-/]{5,24}\d(?![\w-]|[.,]\d)")
# A card's security code: 3-4 digits only right after the word that names it ("cvv 123",
# "CVC: 4567", "security code is 123"); a bare 3-digit number is left alone.
_CVV = re.compile(
    r"\b(?:cvv2?|cvc2?|cv2|csc|security\s+code)\b(?:\s*(?:is|:|=|-|#))?\s*\d{3,4}(?!\d)",
    re.IGNORECASE,
)
_DATE = re.compile(r"\d{1,4}([./-])\d{1,2}\1\d{1,4}")
_PHONE_GROUPS = re.compile(r"[ ().\-/]+")
_DOUBLE_SEPARATOR = re.compile(r"[ .\-/]{2,}")


@dataclass(frozen=True)
class Redacted:
    """The text with PII replaced by ``[email]``, ``[phone]``, ``[card]``, ``[cvv]``,
    ``[iban]``.

    ``kinds`` names the distinct kinds replaced, in the order email, iban, card, cvv, phone.
    """

    text: str
    kinds: tuple[str, ...]


def luhn_valid(digits: str) -> bool:
    """The Luhn check every payment card number passes (``digits``: only 0-9)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def iban_valid(candidate: str) -> bool:
    """ISO 13616 IBAN check: 15-34 characters and the mod-97 remainder of the rearranged
    number is 1. Spaces are ignored."""
    compact = candidate.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34 or not compact[:2].isalpha() or not compact[2:4].isdigit():
        return False
    rearranged = compact[4:] + compact[:4]
    numeric = "".join(str(int(char, 36)) for char in rearranged)
    return int(numeric) % 97 == 1


def _card_valid(candidate: str) -> bool:
    digits = re.sub(r"\D", "", candidate)
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


def _phone_valid(candidate: str) -> bool:
    digits = re.sub(r"\D", "", candidate)
    if not 8 <= len(digits) <= 15:
        return False
    if _DATE.fullmatch(candidate) or _DOUBLE_SEPARATOR.search(candidate):
        return False
    if candidate.count("(") != candidate.count(")"):
        return False
    if candidate[0] in "+(" or digits.startswith("0"):
        return True  # international, bracketed area code or trunk prefix: a dialled number
    groups = [group for group in _PHONE_GROUPS.split(candidate) if group]
    if len(groups) == 1:
        # A bare run of digits is only a phone number at national length (e.g. 5551234567);
        # 8-9 and 12+ digit runs are more often customer, tracking or invoice numbers.
        return 10 <= len(digits) <= 11
    # "555-123-4567" yes, "42 43 44 45" (sizes) no.
    return all(len(group) >= 3 for group in groups)


def _replace(
    pattern: re.Pattern[str], text: str, placeholder: str, valid: Callable[[str], bool]
) -> tuple[str, bool]:
    found = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal found
        if not valid(match.group()):
            return match.group()
        found = True
        return placeholder

    return pattern.sub(substitute, text), found


def redact(text: str) -> Redacted:
    """Replace emails, IBANs, card numbers, card security codes and phone numbers; everything
    else is kept."""
    kinds: list[str] = []
    steps: tuple[tuple[str, re.Pattern[str], Callable[[str], bool]], ...] = (
        (EMAIL, _EMAIL, lambda _: True),
        (IBAN, _IBAN, iban_valid),
        (CARD, _CARD, _card_valid),
        (CVV, _CVV, lambda _: True),
        (PHONE, _PHONE, _phone_valid),
    )
    for kind, pattern, valid in steps:
        text, found = _replace(pattern, text, f"[{kind}]", valid)
        if found:
            kinds.append(kind)
    return Redacted(text=text, kinds=tuple(kinds))


def find_emails(text: str) -> list[str]:
    """Email addresses in order of appearance (duplicates kept)."""
    return _EMAIL.findall(text)
