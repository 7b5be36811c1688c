"""Reads: a store's documents for indexing, and the live index version."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from retrieval.documents import FAQ, PRODUCT, Document
from retrieval.embedding import shared_encoder
from retrieval.knowledge import Hit
from webapp.catalog.models import FaqEntry, Product
from webapp.kb.models import SearchIndex
from webapp.kb.runtime import live_knowledge_bases


def kb_documents(*, store_id: int) -> list[Document]:
    """Every FAQ entry and product of a store as retrieval documents."""
    documents = [
        Document(FAQ, entry_id, question, answer)
        for entry_id, question, answer in FaqEntry.objects.filter(store_id=store_id)
        .order_by("id")
        .values_list("id", "question", "answer")
    ]
    products = Product.objects.filter(store_id=store_id).order_by("id")
    for product in products.only(
        "id", "name", "description", "category", "price", "currency", "attributes"
    ):
        documents.append(
            Document(PRODUCT, product.id, product.name, product.description, _facts(product))
        )
    return documents


def _facts(product: Product) -> str:
    parts = [product.category] if product.category else []
    parts.append(f"{product.price} {product.currency}")
    for key, value in sorted(product.attributes.items()):
        parts.append(f"{key.replace('_', ' ')}: {value}")
    return "; ".join(parts)


def search_index_live(*, store_id: int) -> SearchIndex | None:
    """The newest index of the store (one indexed query on (store, version))."""
    return SearchIndex.objects.filter(store_id=store_id).order_by("-version").first()


@dataclass(frozen=True)
class Source:
    """A search hit resolved against the current catalog, ready to show a shopper."""

    kind: str
    id: int
    title: str
    url: str
    score: float
    answer: str = ""
    intent: str = ""
    price: str = ""
    stock: int | None = None

    def as_source(self) -> dict[str, object]:
        return {"kind": self.kind, "id": self.id, "title": self.title, "url": self.url}


def kb_search(
    *,
    store_id: int,
    query: str,
    k: int = 5,
    query_vector: np.ndarray | None = None,
    kinds: tuple[str, ...] | None = None,
) -> list[Source]:
    """Best ``k`` FAQ entries and products for ``query``; empty if the store has no index.

    Costs one query for the live version, the encode (~10 ms on CPU), the FAISS search and two
    queries to resolve hits against current rows (deleted rows drop out).
    """
    hits = kb_hits(store_id=store_id, query=query, k=k, query_vector=query_vector, kinds=kinds)
    return kb_resolve(store_id=store_id, hits=hits)


def kb_hits(
    *,
    store_id: int,
    query: str,
    k: int = 5,
    query_vector: np.ndarray | None = None,
    kinds: tuple[str, ...] | None = None,
) -> list[Hit]:
    """``kb_search`` without resolving: the index's best ``k`` (kind, id, score) hits. For
    callers that filter many candidates by id first and resolve only the few they keep."""
    index = search_index_live(store_id=store_id)
    if index is None:
        return []
    knowledge = live_knowledge_bases.get(index)
    if query_vector is None:
        query_vector = shared_encoder().encode([query])[0]
    return knowledge.search(query_vector, k, query_text=query, kinds=kinds)


def kb_resolve(*, store_id: int, hits: list[Hit]) -> list[Source]:
    """Hits as ``Source`` objects from the current rows, in hit order (deleted rows drop out)."""
    faq_ids = [hit.id for hit in hits if hit.kind == FAQ]
    product_ids = [hit.id for hit in hits if hit.kind == PRODUCT]
    faqs = (
        FaqEntry.objects.filter(store_id=store_id, id__in=faq_ids).select_related("store")
        if faq_ids
        else []
    )
    products = (
        Product.objects.filter(store_id=store_id, id__in=product_ids).select_related("store")
        if product_ids
        else []
    )
    faq_by_id = {entry.id: entry for entry in faqs}
    product_by_id = {product.id: product for product in products}
    sources = []
    for hit in hits:
        if hit.kind == FAQ and hit.id in faq_by_id:
            entry = faq_by_id[hit.id]
            sources.append(
                Source(
                    FAQ,
                    entry.id,
                    entry.question,
                    entry.get_absolute_url(),
                    hit.score,
                    answer=entry.answer,
                    intent=entry.intent,
                )
            )
        elif hit.kind == PRODUCT and hit.id in product_by_id:
            product = product_by_id[hit.id]
            sources.append(
                Source(
                    PRODUCT,
                    product.id,
                    product.name,
                    product.get_absolute_url(),
                    hit.score,
                    price=f"{product.price} {product.currency}",
                    stock=product.stock,
                )
            )
    return sources
