"""What a web process loads before it says it is ready: the chat's encoder, every store's live
intent model and search index, and the helpers a turn touches (each one then answers a first
message, so torch's first-call costs are paid here, not by a shopper)."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

_SAMPLE = "how long does delivery take?"


def warm_inference() -> None:
    from django.conf import settings

    from nlp.entities import parse_product_query
    from nlp.pii import redact
    from nlp.sentiment_lexicon import polarity
    from retrieval.embedding import shared_encoder
    from webapp.chat.inference import inference_threads_configure, query_vector

    inference_threads_configure()
    if settings.CHAT_TORCHSCRIPT:
        shared_encoder().for_serving()
    query_vector(_SAMPLE)
    polarity(_SAMPLE)
    redact(_SAMPLE)
    parse_product_query(_SAMPLE, [])


def warm_intent_models() -> None:
    from webapp.chat.inference import intent_predict
    from webapp.intents.selectors import intent_classifier_load_for_serving
    from webapp.mlops.models import ModelKind, ModelVersion, VersionState
    from webapp.mlops.runtime import ArtefactDamaged, live_models

    live = ModelVersion.objects.filter(kind=ModelKind.INTENT, state=VersionState.LIVE)
    for version in live.order_by("store_id"):
        try:
            classifier = live_models.get(version, intent_classifier_load_for_serving)
        except ArtefactDamaged:
            continue  # logged by the runtime; that store's bot answers from retrieval
        intent_predict(classifier, _SAMPLE)


def warm_search_indexes() -> None:
    from webapp.chat.inference import query_vector
    from webapp.kb.models import SearchIndex
    from webapp.kb.runtime import live_knowledge_bases
    from webapp.kb.selectors import search_index_live

    vector = query_vector(_SAMPLE)
    store_ids = SearchIndex.objects.order_by().values_list("store_id", flat=True).distinct()
    for store_id in sorted(store_ids):
        index = search_index_live(store_id=store_id)
        if index is not None:
            live_knowledge_bases.get(index).search(vector, 5, query_text=_SAMPLE)
