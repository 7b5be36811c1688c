"""The bot's view of one store: FAQ and product search, templates, orders (``BotKnowledge``)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings

from retrieval.documents import FAQ, PRODUCT
from webapp.catalog.models import Product
from webapp.kb.selectors import Source, kb_hits, kb_resolve, kb_search
from webapp.stores.models import Store

if TYPE_CHECKING:
    import numpy as np

    from nlp.entities import ProductQuery
    from webapp.chat.bot import OrderFacts, TemplateAnswer

# Products fetched from the index before price/category/attribute filters apply: a flat search
# over a few thousand vectors costs well under a millisecond, and candidates are only resolved
# (loaded and linked) once the filters have picked them, so over-fetching is cheap.
PRODUCT_CANDIDATES = 200
# Products resolved for the bot to choose from (it shows at most three).
PRODUCT_RESULTS = 10
# When the semantic candidates all fail the filters, this many filtered rows are read instead.
FILTER_FALLBACK_ROWS = 50


class StoreKnowledge:
    """One turn's access to a store's data; the query embedding is computed once and reused."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._vectors: dict[str, np.ndarray] = {}
        self._categories: list[str] | None = None

    def vector(self, text: str) -> np.ndarray:
        """``text``'s MiniLM embedding, computed once per turn (search, and a floor intent
        model that shares the encoder, use the same one)."""
        from webapp.chat.inference import query_vector

        if text not in self._vectors:
            self._vectors[text] = query_vector(text)
        return self._vectors[text]

    def faq_search(self, query: str) -> list[Source]:
        return kb_search(store_id=self.store.id, query=query, k=5, query_vector=self.vector(query))

    def product_query(self, text: str) -> ProductQuery:
        from nlp.entities import parse_product_query

        if self._categories is None:
            self._categories = sorted(
                Product.objects.filter(store=self.store)
                .exclude(category="")
                .order_by()  # without the model's ordering, DISTINCT is over categories alone
                .values_list("category", flat=True)
                .distinct()
            )
        return parse_product_query(text, self._categories)

    def product_search(self, query: ProductQuery) -> list[Source]:
        """Products for the query's words that honour its price, category and attributes."""
        text = query.query or "product"
        rows = self._filtered_products(query)
        hits = kb_hits(
            store_id=self.store.id,
            query=text,
            k=PRODUCT_RESULTS if rows is None else PRODUCT_CANDIDATES,
            query_vector=self.vector(text),
            kinds=(PRODUCT,),
        )
        if rows is None:
            return kb_resolve(store_id=self.store.id, hits=hits)
        allowed = rows.filter(id__in=[hit.id for hit in hits])
        matching = {p.id for p in allowed.only("id", "attributes", "name") if _has(p, query)}
        kept = [hit for hit in hits if hit.id in matching][:PRODUCT_RESULTS]
        if kept:
            return kb_resolve(store_id=self.store.id, hits=kept)
        cheapest = rows.select_related("store").order_by("price")[:FILTER_FALLBACK_ROWS]
        fallback = [product for product in cheapest if _has(product, query)]
        return [_product_source(product) for product in fallback]

    def _filtered_products(self, query: ProductQuery):  # type: ignore[no-untyped-def]
        if (
            query.min_price is None
            and query.max_price is None
            and not query.category
            and not query.attributes
        ):
            return None
        rows = Product.objects.filter(store=self.store)
        if query.min_price is not None:
            rows = rows.filter(price__gte=Decimal(query.min_price))
        if query.max_price is not None:
            rows = rows.filter(price__lte=Decimal(query.max_price))
        if query.category:
            rows = rows.filter(category=query.category)
        return rows

    def template_answer(self, intent: str) -> TemplateAnswer | None:
        from webapp.chat.bot import TemplateAnswer
        from webapp.intents.selectors import intent_answer_for

        answer = intent_answer_for(store_id=self.store.id, intent=intent)
        if answer is None:
            return None
        source = None
        if answer.faq is not None:
            faq = answer.faq
            source = Source(FAQ, faq.id, faq.question, faq.get_absolute_url(), 1.0, faq.answer)
        return TemplateAnswer(answer.render(), source)

    def order_numbers(self, text: str) -> list[str]:
        from nlp.entities import find_order_numbers

        return find_order_numbers(text, prefix=settings.CHAT_ORDER_PREFIX)

    def order_lookup(self, *, number: str, email_sha256: str) -> OrderFacts | None:
        from webapp.chat.bot import OrderFacts
        from webapp.orders.selectors import (
            date_text,
            order_for_shopper,
            order_item_count,
            order_status_label,
        )

        order = order_for_shopper(store_id=self.store.id, number=number, email_sha256=email_sha256)
        if order is None:
            return None
        return OrderFacts(
            number=order.number,
            status=order.status,
            status_label=order_status_label(order),
            item_count=order_item_count(order),
            carrier=order.carrier,
            tracking_number=order.tracking_number,
            tracking_url=order.tracking_url,
            placed_on=date_text(order.placed_at),
            shipped_on=date_text(order.shipped_at),
            delivered_on=date_text(order.delivered_at),
            estimated_delivery=date_text(order.estimated_delivery),
        )


def _has(product: Product, query: ProductQuery) -> bool:
    """Whether the product shows every attribute the shopper asked for (in attributes or name)."""
    for key, wanted in query.attributes.items():
        values = [str(product.attributes.get(key, ""))]
        if key == "size":
            values.append(str(product.attributes.get("sizes", "")))
        values.append(product.name)
        haystack = " ".join(values).casefold()
        if str(wanted).casefold() not in haystack:
            return False
    return True


def _product_source(product: Product) -> Source:
    return Source(
        PRODUCT,
        product.id,
        product.name,
        product.get_absolute_url(),
        0.0,
        price=f"{product.price} {product.currency}",
        stock=product.stock,
    )
