"""Rule-based entities in shopper messages: order numbers and product-search constraints.

Rules, not a model: the phrasings are few and regular, the rules run in microseconds, and a
miss only means the search is less filtered. Everything is tuned to leave sizes ("size 42"),
volumes ("1.7 L"), pack counts ("2 pack") and order numbers alone when looking for prices.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

DEFAULT_ORDER_PREFIX = "SD"

# --- order numbers ------------------------------------------------------------------------


def find_order_numbers(
    text: str, prefix: str = DEFAULT_ORDER_PREFIX, *, min_digits: int = 4, max_digits: int = 10
) -> list[str]:
    """Order numbers normalised to ``"<PREFIX>-<digits>"``, in order of appearance, unique.

    Recognised: ``SD-10042``, ``sd10042``, ``SD 10042``, ``SD#10042``, ``#10042`` and
    ``order (no./number/nr/id) 10042``; the last two have no prefix of their own and get
    ``prefix``. The digit count must lie in ``[min_digits, max_digits]``.
    """
    tag = re.escape(prefix)
    digits = rf"(\d{{{min_digits},{max_digits}}})(?![\w-]|[.,]\d)"
    pattern = re.compile(
        rf"(?<![\w-]){tag}\s?[-#]?\s?{digits}"
        rf"|(?<![\w&])#\s?{digits}"
        rf"|\border\s*(?:number|no\.?|nr\.?|id|num\.?)?\s*(?:is\s+)?[:#]?\s*{digits}",
        re.IGNORECASE,
    )
    found: list[str] = []
    for match in pattern.finditer(text):
        number = next(group for group in match.groups() if group)
        normalised = f"{prefix.upper()}-{number}"
        if normalised not in found:
            found.append(normalised)
    return found


# --- product queries ----------------------------------------------------------------------

_CURRENCY_SIGN = r"[€$£]"
_CURRENCY_WORD = r"(?:euros?|eur|usd|dollars?|bucks|pounds?|gbp)\b"
_NUMBER = r"(\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d{1,6}(?:[.,]\d{1,2})?)(?![\d.,]?\d)"
# An amount: optional sign before, optional sign or currency word after.
_AMOUNT = rf"(?:{_CURRENCY_SIGN}\s?)?{_NUMBER}(?:\s?(?:{_CURRENCY_SIGN}|{_CURRENCY_WORD}))?"
# Units that make a number a size, volume or count rather than a price.
_UNIT_AFTER = (
    r"(?!\s?(?:%|l\b|ml\b|cl\b|litres?|liters?|kg\b|g\b|grams?|cm\b|mm\b|m\b|metres?|meters?"
    r"|inch(?:es)?|in\b|\"|w\b|watts?|mah\b|pack|pcs|pieces?|persons?|people|players?"
    r"|years?|months?|days?|hours?|minutes?|x\b))"
)
_MAX_CUE = (
    r"(?:under|below|less\s+than|cheaper\s+than|lower\s+than|max(?:imum)?\.?|up\s+to"
    r"|no\s+more\s+than|not\s+more\s+than|at\s+most|within|<=?)"
)
_MIN_CUE = (
    r"(?:over|above|more\s+than|at\s+least|min(?:imum)?\.?|pricier\s+than|starting\s+at"
    r"|no\s+less\s+than|>=?)"
)
_DASH = r"\s?(?:-|\u2013|to)\s?"
_RANGE_BETWEEN = re.compile(
    rf"\b(?:between|from)\s+{_AMOUNT}{_UNIT_AFTER}\s+(?:and|to|-|\u2013)\s+{_AMOUNT}{_UNIT_AFTER}",
    re.IGNORECASE,
)
_MAX = re.compile(rf"(?<![\w-]){_MAX_CUE}\s*{_AMOUNT}{_UNIT_AFTER}", re.IGNORECASE)
_MIN = re.compile(rf"(?<![\w-]){_MIN_CUE}\s*{_AMOUNT}{_UNIT_AFTER}", re.IGNORECASE)
_MAX_AFTER = re.compile(
    rf"(?<![\w#-]){_AMOUNT}\s+(?:or\s+(?:less|under|cheaper|below)|max(?:imum)?)\b",
    re.IGNORECASE,
)
_MIN_AFTER = re.compile(
    rf"(?<![\w#-]){_AMOUNT}\s*(?:or\s+(?:more|above|over)|and\s+(?:up|above)"
    rf"|\+(?:\s?(?:{_CURRENCY_SIGN}|{_CURRENCY_WORD}))?(?!\w))",
    re.IGNORECASE,
)
# A bare range ("20-50", "20 to 50") is a price only with a currency marker on either side.
_RANGE_BARE = re.compile(
    rf"(?<![\w#.,-])(?:{_CURRENCY_SIGN}\s?{_NUMBER}{_DASH}(?:{_CURRENCY_SIGN}\s?)?{_NUMBER}"
    rf"(?:\s?(?:{_CURRENCY_SIGN}|{_CURRENCY_WORD}))?"
    rf"|{_NUMBER}{_DASH}{_NUMBER}\s?(?:{_CURRENCY_SIGN}|{_CURRENCY_WORD}))",
    re.IGNORECASE,
)

_COLOURS = {
    "black": "black",
    "white": "white",
    "red": "red",
    "blue": "blue",
    "navy": "navy",
    "green": "green",
    "olive": "olive",
    "khaki": "khaki",
    "yellow": "yellow",
    "orange": "orange",
    "purple": "purple",
    "violet": "purple",
    "pink": "pink",
    "brown": "brown",
    "beige": "beige",
    "grey": "grey",
    "gray": "grey",
    "charcoal": "charcoal",
    "silver": "silver",
    "gold": "gold",
    "turquoise": "turquoise",
    "teal": "teal",
    "burgundy": "burgundy",
    "terracotta": "terracotta",
}
_COLOUR = re.compile(r"\b(" + "|".join(_COLOURS) + r")\b", re.IGNORECASE)
# Yes/no attributes, named as the demo catalog names them.
_FLAGS = {
    "vegan": re.compile(r"\bvegan\b", re.IGNORECASE),
    "waterproof": re.compile(r"\bwater[\s-]?proof\b", re.IGNORECASE),
    "fragrance_free": re.compile(
        r"\b(?:fragrance[\s-]?free|unscented|without\s+(?:fragrance|perfume)|no\s+fragrance)\b",
        re.IGNORECASE,
    ),
    "dishwasher_safe": re.compile(
        r"\bdishwasher[\s-]?(?:safe|proof|friendly)\b|\bgoes\s+in\s+the\s+dishwasher\b",
        re.IGNORECASE,
    ),
}
_SIZE = re.compile(
    r"\bsize\s*:?\s*(\d{1,2}(?:[.,]5)?|xxs|xs|s|m|l|xl|xxl|xxxl|[2-5]xl)\b", re.IGNORECASE
)

# Hand-written extra words for the demo store's ten categories; any other category is matched
# by the words of its own name (with simple plural forms).
_SYNONYMS = {
    "electronics": (
        "electronic, gadget, headphones, headphone, earbuds, earphones, charger, power bank, "
        "speaker, bluetooth, cable, smartwatch, tech, usb"
    ),
    "outdoor & camping": (
        "tent, sleeping bag, sleeping mat, camping, camp, hiking, trekking, stove, lantern, "
        "outdoors"
    ),
    "beauty & care": (
        "skincare, skin care, shampoo, conditioner, sunscreen, cream, lotion, serum, soap, "
        "cosmetics, makeup, moisturiser, moisturizer, toothbrush"
    ),
    "toys & kids": (
        "toy, kid, children, child, baby, babies, puzzle, game, lego, building blocks, wooden train"
    ),
    "sports & fitness": (
        "sport, gym, yoga, workout, dumbbell, kettlebell, exercise, training, bike, cycling, "
        "running belt"
    ),
    "kitchen": (
        "kettle, knife, knives, cookware, pan, pot, coffee grinder, grinder, blender, cooking, mug"
    ),
    "home & living": (
        "home, decor, candle, lamp, rug, towel, duvet, bedding, cushion, throw, vase, mirror, "
        "furniture"
    ),
    "clothing": (
        "clothes, apparel, jacket, shirt, t-shirt, tshirt, jumper, sweater, cardigan, hoodie, "
        "trousers, pants, jeans, chinos, dress, coat, top"
    ),
    "footwear": (
        "shoe, shoes, sneaker, sneakers, trainer, trainers, boot, boots, sandal, sandals, "
        "slipper, slippers"
    ),
    "bags & accessories": (
        "bag, backpack, rucksack, daypack, duffel, tote, wallet, purse, trolley, suitcase, "
        "accessory, belt bag, crossbody"
    ),
}
CATEGORY_SYNONYMS: dict[str, tuple[str, ...]] = {
    name: tuple(term.strip() for term in terms.split(",")) for name, terms in _SYNONYMS.items()
}
_STOP_WORDS = frozenset({"and", "the", "for", "with", "of", "&", "or"})


@dataclass(frozen=True)
class ProductQuery:
    """Constraints parsed from a product question.

    ``query`` is the text with the price phrase removed (what the embedding search gets);
    prices are in the store's currency, the currency word itself is not interpreted.
    """

    min_price: Decimal | None
    max_price: Decimal | None
    category: str | None
    attributes: dict[str, str] = field(default_factory=dict)
    query: str = ""


def _amount(raw: str) -> Decimal | None:
    if "," in raw and "." in raw:
        raw = raw.replace(",", "")
    elif "," in raw:
        whole, _, fraction = raw.rpartition(",")
        raw = f"{whole}.{fraction}" if len(fraction) <= 2 else raw.replace(",", "")
    try:
        return Decimal(raw)
    except InvalidOperation:
        return None


def _numbers(match: re.Match[str]) -> list[Decimal]:
    values = [_amount(group) for group in match.groups() if group]
    return [value for value in values if value is not None]


def _price_bounds(text: str) -> tuple[Decimal | None, Decimal | None, list[tuple[int, int]]]:
    """(min, max, spans of the price phrases) — ranges first, then one-sided cues."""
    low: Decimal | None = None
    high: Decimal | None = None
    spans: list[tuple[int, int]] = []

    def free(match: re.Match[str]) -> bool:
        start, end = match.span()
        return all(end <= s or start >= e for s, e in spans)

    for pattern in (_RANGE_BETWEEN, _RANGE_BARE):
        for match in pattern.finditer(text):
            values = _numbers(match)
            if len(values) == 2 and free(match) and low is None and high is None:
                low, high = min(values), max(values)
                spans.append(match.span())
    for pattern, is_max in ((_MAX, True), (_MAX_AFTER, True), (_MIN, False), (_MIN_AFTER, False)):
        for match in pattern.finditer(text):
            values = _numbers(match)
            if len(values) != 1 or not free(match):
                continue
            if is_max and high is None:
                high = values[0]
            elif not is_max and low is None:
                low = values[0]
            else:
                continue
            spans.append(match.span())
    return low, high, spans


def _variants(word: str) -> set[str]:
    forms = {word}
    if word.endswith("ies"):
        forms.add(word[:-3] + "y")
    elif word.endswith("s") and len(word) > 3:
        forms.add(word[:-1])
    else:
        forms.add(word + "s")
        forms.add(word + "es")
        if word.endswith("y"):
            forms.add(word[:-1] + "ies")
    return forms


@functools.lru_cache(maxsize=1024)
def _category_patterns(category: str) -> tuple[re.Pattern[str], ...]:
    return tuple(
        re.compile(rf"(?<![\w-]){re.escape(term)}(?![\w-])")
        for term in sorted(category_terms(category))
    )


def category_terms(category: str) -> set[str]:
    """Lower-case words and phrases that name ``category``: its own words (with simple plurals
    and singulars) plus the hand-written synonyms for the demo categories."""
    words = [w for w in re.split(r"[^\w-]+", category.lower()) if w and w not in _STOP_WORDS]
    terms: set[str] = set()
    for word in words:
        if len(word) >= 3:
            terms |= _variants(word)
    for synonym in CATEGORY_SYNONYMS.get(category.lower(), ()):
        terms |= _variants(synonym) if " " not in synonym else {synonym, synonym + "s"}
    return terms


def match_category(text: str, categories: Sequence[str]) -> str | None:
    """The category with the most term hits in ``text``; ties go to the category whose hit
    comes last (in English the head noun ends the phrase: "hiking boots" is footwear)."""
    lowered = text.lower()
    best: tuple[int, int] | None = None
    chosen: str | None = None
    for category in categories:
        hits = 0
        last = -1
        for pattern in _category_patterns(category):
            for match in pattern.finditer(lowered):
                hits += 1
                last = max(last, match.start())
        if hits and (best is None or (hits, last) > best):
            best, chosen = (hits, last), category
    return chosen


def product_attributes(text: str) -> dict[str, str]:
    """``colour`` (first colour word), ``size`` ("42", "M"), and yes-flags ``vegan``,
    ``waterproof``, ``fragrance_free``, ``dishwasher_safe``."""
    attributes: dict[str, str] = {}
    colour = _COLOUR.search(text)
    if colour:
        attributes["colour"] = _COLOURS[colour.group(1).lower()]
    for name, pattern in _FLAGS.items():
        if pattern.search(text):
            attributes[name] = "yes"
    size = _SIZE.search(text)
    if size:
        attributes["size"] = size.group(1).upper().replace(",", ".")
    return attributes


def parse_product_query(text: str, categories: Sequence[str]) -> ProductQuery:
    """Price bounds, category, attributes and the price-free search text of ``text``.

    Price phrases: "under/below/less than/cheaper than/max/up to 40", "over/more than/at
    least 100", "between 20 and 50", "€20-€50", "20 to 50 eur", "40 or less", "100+". A
    number followed by a unit ("1.7 L", "2 pack", "size 42" has no cue) is not a price.
    """
    low, high, spans = _price_bounds(text)
    query = text
    for start, end in sorted(spans, reverse=True):
        query = query[:start] + " " + query[end:]
    query = re.sub(r"\s+", " ", query).strip(" ,;:-")
    return ProductQuery(
        min_price=low,
        max_price=high,
        category=match_category(text, categories),
        attributes=product_attributes(text),
        query=query,
    )
