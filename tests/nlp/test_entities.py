from decimal import Decimal

import pytest

from nlp.entities import find_order_numbers, parse_product_query

CATEGORIES = [
    "Electronics",
    "Outdoor & Camping",
    "Beauty & Care",
    "Toys & Kids",
    "Sports & Fitness",
    "Kitchen",
    "Home & Living",
    "Clothing",
    "Footwear",
    "Bags & Accessories",
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("where is SD-10042?", ["SD-10042"]),
        ("sd10042 and SD 10043, also #10044", ["SD-10042", "SD-10043", "SD-10044"]),
        ("SD-10042 again SD-10042", ["SD-10042"]),
        ("my order number is 55555", ["SD-55555"]),
        ("order no. 12345 please", ["SD-12345"]),
        ("size 42, 2 pack, 10042 euros, SD-12", []),
    ],
)
def test_order_numbers(text, expected):
    assert find_order_numbers(text) == expected


def test_order_number_prefix_is_configurable():
    assert find_order_numbers("ab-778899 or #123456", prefix="AB") == ["AB-778899", "AB-123456"]
    assert find_order_numbers("SD-10042", prefix="AB") == []


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("running shoes under 40 euros", None, "40"),
        ("kettle below €40", None, "40"),
        ("headphones less than 40", None, "40"),
        ("max 40 eur for a tent", None, "40"),
        ("something up to €39.99", None, "39.99"),
        ("cheaper than 50", None, "50"),
        ("under 39,99", None, "39.99"),
        ("50 euros or less", None, "50"),
        ("backpacks over 100", "100", None),
        ("more than 100 euro", "100", None),
        ("at least 20", "20", None),
        ("100+ euros", "100", None),
        ("between 20 and 50 euros", "20", "50"),
        ("€20-€50 vegan shampoo", "20", "50"),
        ("20 to 50 eur", "20", "50"),
        ("toys for kids between 10 and 30", "10", "30"),
    ],
)
def test_price_phrases(text, low, high):
    query = parse_product_query(text, CATEGORIES)
    assert query.min_price == (Decimal(low) if low else None)
    assert query.max_price == (Decimal(high) if high else None)


@pytest.mark.parametrize(
    "text",
    [
        "shoes size 42",
        "1.7 L kettle",
        "2 pack t-shirts",
        "where is SD-10042",
        "something under 2 kg",
        "tent for between 2 and 4 persons",
        "sizes 36-42",
    ],
)
def test_numbers_that_are_not_prices(text):
    query = parse_product_query(text, CATEGORIES)
    assert (query.min_price, query.max_price) == (None, None)
    assert query.query == text


def test_query_text_drops_the_price_phrase_only():
    query = parse_product_query("waterproof hiking boots size 44 under 150€", CATEGORIES)
    assert query.query == "waterproof hiking boots size 44"
    assert query.category == "Footwear"
    assert query.attributes == {"waterproof": "yes", "size": "44"}


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("running shoes", "Footwear"),
        ("a new pair of sneakers", "Footwear"),
        ("noise cancelling headphones", "Electronics"),
        ("two-person tent", "Outdoor & Camping"),
        ("gentle shampoo", "Beauty & Care"),
        ("wooden toys", "Toys & Kids"),
        ("yoga mat", "Sports & Fitness"),
        ("electric kettle", "Kitchen"),
        ("scented candle", "Home & Living"),
        ("rain jacket", "Clothing"),
        ("laptop backpack", "Bags & Accessories"),
        ("what are your opening hours", None),
    ],
)
def test_demo_categories(text, category):
    assert parse_product_query(text, CATEGORIES).category == category


def test_arbitrary_category_names_match_by_their_words():
    categories = ["Garden Tools", "Pet Supplies", "Stationery"]
    assert parse_product_query("a tool for pruning", categories).category == "Garden Tools"
    assert parse_product_query("supply for my pets", categories).category == "Pet Supplies"
    assert parse_product_query("stationery under 10", categories).category == "Stationery"


def test_attributes():
    attributes = parse_product_query(
        "fragrance-free vegan cream in grey, dishwasher safe, size M", CATEGORIES
    ).attributes
    assert attributes == {
        "colour": "grey",
        "vegan": "yes",
        "fragrance_free": "yes",
        "dishwasher_safe": "yes",
        "size": "M",
    }
