"""Shopper messages for the load harness: thousands of distinct, realistic texts from a seed.

Each text is one of our own templates (shipping times and costs to many countries, returns,
refunds, order status with order numbers, payment methods, product questions naming the demo
store's real products, categories, prices, sizes and colours, stock, gift cards, accounts,
discounts, mild complaints), filled in, then written the way shoppers write: a greeting or a
sign-off now and then, lower case, a typo, no question mark. A small share are held-out demo
utterances (never trained on). Asking for a human and angry texts escalate the conversation, so
they stay at about 2%; any other text VADER finds very negative (it would escalate too) is
redrawn.

Every text is distinct (asserted): a reply cache keyed on the text would not flatter a load
figure. ``.venv/bin/python -m bench.shopper_texts [--count 5000] [--seed 7] [--show 20]`` prints
a sample and the counts.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from nlp.sentiment_lexicon import polarity

DATA = Path(__file__).resolve().parent.parent / "webapp" / "demo" / "data"
PRODUCTS = DATA / "products.jsonl"
HELDOUT = DATA / "intents_heldout.jsonl"

HELDOUT_SHARE = 0.08
# Beyond this many draws per text the template space is too small for the count asked.
MAX_DRAWS_PER_TEXT = 40
ESCALATING_TOPICS = frozenset({"human", "angry"})
# The chat's CHAT_VERY_NEGATIVE default: other texts this negative would escalate too, so the
# generator redraws them and the escalating share stays what the topic weights say.
VERY_NEGATIVE = -0.7
HELDOUT_LEFT_OUT = frozenset({"talk_to_human"})

COUNTRIES = (
    "Germany", "France", "Belgium", "the Netherlands", "Austria", "Spain", "Italy", "Portugal",
    "Ireland", "Denmark", "Sweden", "Finland", "Poland", "Czechia", "Luxembourg", "Greece",
    "Norway", "Switzerland", "the UK", "England", "Scotland", "the US", "Canada", "Australia",
    "Iceland", "Croatia", "Slovenia", "Hungary", "Romania", "Estonia", "Lithuania", "Japan",
)  # fmt: skip
CITIES = (
    "Berlin", "Lyon", "Ghent", "Utrecht", "Vienna", "Madrid", "Milan", "Porto", "Cork",
    "Aarhus", "Malmö", "Kraków", "Brno", "Munich", "Rotterdam", "Antwerp", "Graz", "Seville",
)  # fmt: skip
PAYMENT_METHODS = (
    "PayPal", "Klarna", "Apple Pay", "Google Pay", "iDEAL", "Bancontact", "a Visa card",
    "Mastercard", "Amex", "bank transfer", "SEPA direct debit", "a debit card",
)  # fmt: skip
FIRST_NAMES = ("anna", "tom", "lisa", "marc", "sofie", "jan", "elena", "pieter", "noor", "luca")
LAST_NAMES = ("jansen", "meyer", "dubois", "rossi", "novak", "berg", "costa", "walsh", "peeters")
MAIL_HOSTS = ("example.com", "example.org", "example.net", "mail.example")
PROMO_CODES = ("SUMMER15", "WELCOME10", "FREESHIP", "SPRING20", "VIP25", "NEWS5", "BFRIDAY")
COLOURS = ("black", "navy", "red", "grey", "white", "olive", "beige", "blue", "green", "pink")
LETTER_SIZES = ("XS", "S", "M", "L", "XL", "XXL")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
GROUP_NOUNS = frozenset({"set", "pair", "trio", "pack", "kit"})
UNITS = frozenset({"cm", "mm", "l", "ml", "g", "kg", "inch", "w", "mah", "m", "x"})

OPENERS = (
    "hi", "hi!", "hello", "hello,", "hey", "hey there", "good morning", "good evening", "hiya",
    "hi team,", "hallo", "hi there,", "morning!", "hello again", "hey, quick question:",
)  # fmt: skip
CLOSERS = (
    "thanks", "thanks!", "thx", "thank you", "thanks in advance", "cheers", "ty", "many thanks",
    "thank you so much", "appreciate it", "thanks a lot",
)  # fmt: skip


@dataclass(frozen=True)
class Product:
    name: str
    category: str
    price: float
    colours: tuple[str, ...]
    sizes: tuple[str, ...]
    short: str  # how a shopper names it: "Tidepool floating Bluetooth speaker"
    noun: str  # what it is: "speaker", "hiking boots"


# --- the demo catalogue ------------------------------------------------------------------


def _before_details(name: str) -> str:
    head = re.split(r", | with | for |:", name, maxsplit=1)[0]
    return head.strip()


def _short_name(name: str) -> str:
    words = _before_details(name).split()
    while len(words) > 2 and (words[-1].lower() in UNITS or re.fullmatch(r"[\d.,/-]+", words[-1])):
        words.pop()
    return " ".join(words)


def _noun(name: str) -> str:
    words = [
        w
        for w in _short_name(name).split()
        if re.fullmatch(r"[A-Za-z-]+", w) and w.lower() not in UNITS
    ]
    if not words:
        return "one"
    size = 3 if words[-1] in GROUP_NOUNS else 2
    tail = words[-size:]
    while len(tail) > 1 and not tail[0].islower():
        tail = tail[1:]
    return " ".join(tail).lower()


def _sizes(value: str) -> tuple[str, ...]:
    letters = re.findall(r"\b(XXL|XL|XS|S|M|L)\b", value)
    if len(letters) == 2 and "-" in value:
        start, end = LETTER_SIZES.index(letters[0]), LETTER_SIZES.index(letters[1])
        return LETTER_SIZES[start : end + 1]
    if letters:
        return tuple(letters)
    numbers = re.fullmatch(r"\s*(\d{2})-(\d{2})\s*", value)
    if numbers:
        low, high = int(numbers.group(1)), int(numbers.group(2))
        return tuple(str(n) for n in range(low, high + 1))
    return ()


@cache
def demo_products() -> tuple[Product, ...]:
    products = []
    with PRODUCTS.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            row = json.loads(line)
            colours = tuple(c.strip() for c in str(row.get("colour", "")).split("/") if c.strip())
            products.append(
                Product(
                    name=row["name"],
                    category=row["category"],
                    price=float(row["price"]),
                    colours=colours,
                    sizes=_sizes(str(row.get("sizes", ""))),
                    short=_short_name(row["name"]),
                    noun=_noun(row["name"]),
                )
            )
    return tuple(products)


@cache
def heldout_utterances() -> tuple[str, ...]:
    with HELDOUT.open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return tuple(row["text"] for row in rows if row["intent"] not in HELDOUT_LEFT_OUT)


# --- slots -------------------------------------------------------------------------------


def _price_limit(rng: random.Random, price: float) -> str:
    ceiling = max(10, int(round(price * rng.uniform(1.05, 1.6) / 5) * 5))
    floor = max(5, int(ceiling * rng.uniform(0.3, 0.6) / 5) * 5)
    forms = (
        f"under {ceiling} euros",
        f"under €{ceiling}",
        f"below {ceiling} eur",
        f"less than {ceiling} euro",
        f"max {ceiling}€",
        f"no more than {ceiling} euros",
        f"for {ceiling} euros or less",
        f"between {floor} and {ceiling} euros",
        f"around {int(round(price / 5) * 5)} euros",
        f"under {ceiling}",
    )
    return rng.choice(forms)


def _order_number(rng: random.Random) -> str:
    number = rng.randint(10001, 10040) if rng.random() < 0.4 else rng.randint(10041, 19999)
    return rng.choice((f"SD-{number}", f"SD-{number}", f"SD{number}", f"sd-{number}", f"#{number}"))


def _email(rng: random.Random) -> str:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    local = rng.choice(
        (f"{first}.{last}", f"{first}{last[0]}", f"{first}_{last}{rng.randint(1, 99)}")
    )
    return f"{local}@{rng.choice(MAIL_HOSTS)}"


def _plural(noun: str) -> str:
    if noun.endswith("s"):
        return noun
    return f"{noun}es" if noun.endswith(("sh", "ch", "x")) else f"{noun}s"


def _with_article(noun: str) -> str:
    if noun.endswith("s") and not noun.endswith("ss"):
        return noun
    return f"an {noun}" if noun[0] in "aeiou" else f"a {noun}"


@cache
def _products_for(categories: frozenset[str], sized: bool) -> tuple[Product, ...]:
    return tuple(
        product
        for product in demo_products()
        if (not categories or product.category in categories) and (product.sizes or not sized)
    )


def _size(rng: random.Random, product: Product) -> str:
    size = rng.choice(product.sizes) if product.sizes else rng.choice(LETTER_SIZES)
    return f"EU {size}" if size.isdigit() and rng.random() < 0.3 else size


def _colour(rng: random.Random, product: Product) -> str:
    if product.colours and rng.random() < 0.6:
        return rng.choice(product.colours)
    return rng.choice(COLOURS)


def _slots(rng: random.Random, product: Product) -> dict[str, str]:
    category = product.category
    return {
        "product": product.short if rng.random() < 0.7 else product.name,
        "noun": product.noun,
        "nouns": _plural(product.noun),
        "a_noun": _with_article(product.noun),
        "category": rng.choice((category, category.lower(), category.split(" & ")[0].lower())),
        "price": _price_limit(rng, product.price),
        "colour": _colour(rng, product),
        "size": _size(rng, product),
        "country": rng.choice(COUNTRIES),
        "city": rng.choice(CITIES),
        "method": rng.choice(PAYMENT_METHODS),
        "order": _order_number(rng),
        "email": _email(rng),
        "code": rng.choice(PROMO_CODES),
        "days": str(rng.choice((2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20))),
        "amount": str(rng.choice((10, 15, 20, 25, 30, 40, 50, 75, 100, 150))),
        "weekday": rng.choice(WEEKDAYS),
        "count": str(rng.choice((2, 3, 4, 5, 6))),
    }


# --- templates: our own wording, one tuple per topic ---------------------------------------

CLOTHES = "Clothing,Footwear"
WORN = "Clothing,Footwear,Bags & Accessories,Sports & Fitness,Outdoor & Camping"
PLUGGED = "Electronics,Kitchen"
TOPICS: dict[str, tuple[float, tuple[str, ...]]] = {
    "shipping_time": (9, (
        "how long does delivery to {country} take?",
        "how many days is shipping to {city}?",
        "if I order today, when would it arrive in {country}?",
        "what's the usual delivery time for {country}",
        "would the {product} get to {city} before {weekday}?",
        "how fast can you ship to {country}? I need it within {days} days",
        "do you do express delivery to {country}?",
        "when will my order ship if I buy the {product} now?",
        "do you deliver on saturdays in {country}?",
        "is next-day delivery possible to {city}?",
        "roughly how long for a parcel to {country}, standard shipping",
        "I ordered {days} days ago, how long does shipping usually take?",
        "it's a birthday present, can the {noun} reach {city} by {weekday}?",
    )),
    "shipping_cost": (7, (
        "how much is shipping to {country}?",
        "what does delivery cost for the {product}?",
        "is shipping free if I spend {amount} euros?",
        "what's the minimum order for free shipping to {country}",
        "shipping costs for {city}?",
        "do I pay extra shipping for a big {noun}?",
        "how much would express shipping to {country} be",
        "do I have to pay customs when you ship to {country}?",
        "are there import fees for orders to {country}?",
        "is delivery included in the price of the {product}?",
    )),
    "international": (5, (
        "do you ship to {country}?",
        "can I order from {country}?",
        "do you deliver outside the EU, e.g. {country}?",
        "which carriers do you use for {country}?",
        "I live in {country}, can you send the {product} there?",
        "is {country} on your list of shipping countries",
        "can I have it delivered to my friend in {city}?",
    )),
    "order_status": (10, (
        "where is my order {order}?",
        "any update on {order}?",
        "my order {order} still hasn't arrived",
        "can you check the status of order {order}",
        "order {order}, it says packing for {days} days now",
        "I placed order {order} last week and haven't heard anything",
        "has {order} shipped yet?",
        "tracking for {order} shows no movement, what's going on?",
        "where's my parcel? order number {order}, email {email}",
        "status of {order} please, my email is {email}",
        "when will {order} be delivered?",
        "I'm still waiting for the {product} from order {order}",
        "can you tell me where my package is",
        "my tracking link doesn't work for {order}",
    )),
    "returns": (7, (
        "how do I return the {product}?",
        "can I send back the {noun} I bought {days} days ago?",
        "what is your return policy?",
        "are returns free to {country}?",
        "I want to return order {order}",
        "how long do I have to return something",
        "the {noun} isn't what I expected, can I return it?",
        "can I return a gift without the receipt?",
        "do I need the original packaging to return the {product}?",
        "which items can't be returned?",
        "I'd like to send back the {product}, how does that work?",
    )),
    "refunds": (6, (
        "when do I get my refund for {order}?",
        "I returned the {product} {days} days ago, where's my money?",
        "how will the refund be paid, back to {method}?",
        "my refund is less than what I paid, why?",
        "has my return for {order} arrived?",
        "how long do refunds take with {method}?",
        "refund status for order {order} please",
        "I paid with Klarna, how does the refund work?",
    )),
    "exchange": (4, (
        "can I exchange the {product} for size {size}?",
        "the {noun} came up too small, can I swap it for size {size}?",
        f"{CLOTHES}|I need a bigger size of the {{product}}",
        "how do I exchange something for a different size?",
        "can I change my {noun} for the {colour} one?",
        "what if the size I want to exchange for is out of stock?",
        "ordered size {size} of the {product} but it's too big, can I exchange it?",
    )),
    "damaged_wrong": (5, (
        "the {product} arrived damaged",
        "my {noun} came broken, what now?",
        "I received the wrong item in order {order}",
        "you sent me a {colour} {noun} instead of the one I ordered",
        "Kitchen,Home & Living|there's a crack in the {product} I got yesterday",
        "part of order {order} is missing",
        "the box was crushed and the {noun} is scratched",
    )),
    "order_changes": (5, (
        "can I cancel order {order}?",
        "I'd like to cancel my order, it was placed an hour ago",
        "can I still change the delivery address for {order}?",
        "I moved to {city}, can you update the address on {order}?",
        "can I add the {product} to the order I just placed?",
        "please remove the {product} from my order {order}",
        "can I cancel if it's already packing?",
    )),
    "payment_methods": (5, (
        "do you accept {method}?",
        "can I pay with {method}?",
        "which payment methods can I use from {country}?",
        "is paying later with Klarna possible for the {product}?",
        "when is my payment taken, at order or at shipping?",
        "can I pay by {method} for orders over {amount} euros?",
        "do you store my card details?",
    )),
    "payment_problem": (3, (
        "my payment with {method} was declined",
        "I was charged twice for order {order}",
        "checkout keeps failing when I pay with {method}",
        "the payment went through but I got no confirmation",
        "why was my card declined? I tried {count} times",
    )),
    "discounts": (5, (
        "my code {code} isn't working",
        "how do I use a promo code?",
        "do you have any discounts on {category} right now?",
        "is there a student discount?",
        "can I use {code} on the {product}?",
        "the discount code {code} says expired, is there a new one?",
        "any sales coming up for {category}?",
        "do you do a newsletter discount?",
    )),
    "gift_cards": (4, (
        "do you sell gift cards?",
        "can I buy a {amount} euro gift card?",
        "how long is a gift card valid?",
        "how do I use my gift card at checkout?",
        "can I pay part with a gift card and the rest with {method}?",
        "how is a digital gift card delivered?",
        "can I get cash back for a gift card?",
        "I'd like a gift card for my sister, which amounts are there?",
    )),
    "account": (4, (
        "I forgot my password",
        "how do I reset my password?",
        "the password reset link expired",
        "I never got the reset email at {email}",
        "how do I change my email address to {email}?",
        "can I order without an account?",
        "please delete my account",
        "how do I unsubscribe from your emails",
        "can I get a copy of the personal data you have on me?",
    )),
    "product_question": (9, (
        "what is the {product} made of?",
        "Kitchen|is the {product} dishwasher safe?",
        "what are the dimensions of the {product}?",
        f"{PLUGGED}|does the {{product}} come with an EU plug?",
        "how heavy is the {product}?",
        f"{WORN},Electronics|is the {{product}} waterproof?",
        "what's the warranty on the {product}?",
        "does the {product} in size {size} run true to size?",
        "can you tell me more about the {product}",
        "Toys & Kids|what age is the {product} for?",
        "how do I clean the {product}?",
        "Beauty & Care,Footwear,Clothing|is the {product} vegan?",
        "does the {noun} come in other colours?",
        "which of your {nouns} would you pick for everyday use?",
        f"{PLUGGED}|how long is the warranty on the {{noun}}?",
        "Beauty & Care|is the {product} fragrance free?",
    )),
    "recommendation": (9, (
        "{a_noun} {price}",
        "can you recommend {a_noun} {price}?",
        "looking for {a_noun} {price}",
        "I need a gift from {category} {price}",
        "any {category} ideas {price}?",
        "what {noun} would you suggest for a beginner?",
        "do you have a {colour} {noun} {price}?",
        "something from {category} {price} please",
        "which {noun} is best for travelling?",
        "show me {nouns} {price}",
        "I'm looking for {a_noun} in size {size}",
        "best {noun} you have {price}?",
        "gift for my dad, {category}, {price}",
        "Outdoor & Camping,Sports & Fitness|waterproof {nouns} {price}?",
    )),
    "stock": (6, (
        "is the {product} in stock?",
        "do you have the {product} in {colour}?",
        "is the {product} available in size {size}?",
        "when will the {product} be back in stock?",
        "do you have {count} of the {product} available?",
        "any {colour} {nouns} left?",
        "any {nouns} in size {size} left?",
        "will you restock the {product}?",
    )),
    "complaint": (3, (
        "not very happy with the {product}, the quality is lower than I expected",
        f"{PLUGGED}|the {{noun}} stopped working after {{days}} days",
        "delivery took {days} days, that's longer than you said",
        "I want to make a complaint about order {order}",
        "Bags & Accessories,Clothing|the zip on my {noun} came loose after a week",
        "the colour of the {noun} is quite different from the photo",
    )),
    "warranty_invoice": (3, (
        "how do I make a warranty claim for the {product}?",
        f"{PLUGGED}|my {{noun}} broke after {{count}} months, is that covered by warranty?",
        "can I get an invoice for order {order}?",
        "I need a VAT invoice for {order}, company name on it",
        "do I need the receipt for a warranty claim?",
        "do your prices include VAT for {country}?",
    )),
    "contact": (2, (
        "what are your phone support hours?",
        "how quickly do you answer emails?",
        "is there a phone number I can call from {country}?",
        "can I reach you on {weekday}?",
    )),
    "thanks_goodbye": (2, (
        "thanks, that helps with the {noun}",
        "great, I'll order the {product} then",
        "ok perfect, bye",
        "thank you, I'll check the tracking for {order} tomorrow",
        "cool, that's all I needed about shipping to {country}",
    )),
    "human": (1.5, (
        "can I talk to a real person?",
        "I'd like to speak to someone from your team about {order}",
        "please put me through to an agent",
        "is there a human I can chat with about the {product}?",
    )),
    "angry": (0.5, (
        "this is absolutely terrible, third time I'm asking about {order}, useless service",
        "worst shop ever, the {noun} is garbage and nobody helps me, I'm furious",
    )),
}  # fmt: skip


# --- how shoppers write ------------------------------------------------------------------


def _typo(word: str, rng: random.Random) -> str:
    position = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:  # two letters swapped
        return word[: position - 1] + word[position] + word[position - 1] + word[position + 1 :]
    if kind == 1:  # a letter dropped
        return word[:position] + word[position + 1 :]
    return word[:position] + word[position] + word[position:]  # a letter doubled


def _with_typo(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if w.isalpha() and len(w) >= 5]
    if not candidates:
        return text
    index = rng.choice(candidates)
    words[index] = _typo(words[index], rng)
    return " ".join(words)


SHORTHAND: tuple[tuple[str, str], ...] = (
    (" you ", " u "),
    (" please", " pls"),
    (" please", " plz"),
    (" thanks", " thx"),
    (" tomorrow", " tmrw"),
    (" because", " bc"),
)


def _styled(text: str, rng: random.Random) -> str:
    if rng.random() < 0.22:
        text = f"{rng.choice(OPENERS)} {text}"
    if rng.random() < 0.12:
        text = f"{text.rstrip('?.!')}{rng.choice(('?', '.', '', ' -', ','))} {rng.choice(CLOSERS)}"
    if rng.random() < 0.15:
        text = _with_typo(text, rng)
    if rng.random() < 0.1:
        old, new = rng.choice(SHORTHAND)
        text = text.replace(old, new)
    if rng.random() < 0.2:
        text = text.rstrip("?.!")
    if rng.random() < 0.1:
        text = text.replace("?", "??")
    if rng.random() < 0.35:
        return text.lower()
    return text[0].upper() + text[1:] if rng.random() < 0.6 else text


# --- the generator -----------------------------------------------------------------------


def topic_drawer(rng: random.Random) -> Callable[[], str]:
    names = list(TOPICS)
    weights = [TOPICS[name][0] for name in names]
    return lambda: rng.choices(names, weights=weights)[0]


def templated_text(topic: str, rng: random.Random) -> str:
    """One filled-in template; a ``"Kitchen,Electronics|..."`` prefix limits its products to
    those categories, and a ``{size}`` slot to products that come in sizes."""
    template = rng.choice(TOPICS[topic][1])
    categories, _, template = template.rpartition("|")
    allowed = frozenset(categories.split(",")) if categories else frozenset()
    product = rng.choice(_products_for(allowed, "{size}" in template))
    return _styled(template.format(**_slots(rng, product)), rng)


@dataclass(frozen=True)
class ShopperTexts:
    texts: list[str]
    topics: list[str]  # what each text is about: a TOPICS key or "heldout"

    def escalating_share(self) -> float:
        return sum(t in ESCALATING_TOPICS for t in self.topics) / max(1, len(self.topics))


def shopper_texts(count: int, seed: int = 7, heldout_share: float = HELDOUT_SHARE) -> ShopperTexts:
    """``count`` distinct shopper messages, the same ones for the same seed, in random order."""
    rng = random.Random(seed)
    heldout = list(heldout_utterances())
    rng.shuffle(heldout)
    texts = [t for t in heldout if polarity(t) > VERY_NEGATIVE][: int(count * heldout_share)]
    topics = ["heldout"] * len(texts)
    seen = {text.casefold() for text in texts}
    draw_topic = topic_drawer(rng)
    draws = 0
    while len(texts) < count:
        draws += 1
        if draws > MAX_DRAWS_PER_TEXT * count:
            raise ValueError(f"only {len(texts)} distinct texts after {draws} draws")
        topic = draw_topic()
        text = templated_text(topic, rng)
        if text.casefold() in seen:
            continue
        if topic not in ESCALATING_TOPICS and polarity(text) <= VERY_NEGATIVE:
            continue
        seen.add(text.casefold())
        texts.append(text)
        topics.append(topic)
    order = list(range(count))
    rng.shuffle(order)
    result = ShopperTexts([texts[i] for i in order], [topics[i] for i in order])
    assert len({t.casefold() for t in result.texts}) == count, "shopper texts repeat"
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--show", type=int, default=20, help="print this many texts")
    args = parser.parse_args(argv)
    generated = shopper_texts(args.count, args.seed)
    for text in generated.texts[: args.show]:
        print(text)
    counts = Counter(generated.topics)
    print(f"\n{args.count} distinct texts; escalating share {generated.escalating_share():.1%}")
    print(", ".join(f"{topic} {n}" for topic, n in counts.most_common()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
