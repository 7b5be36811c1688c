"""Per-process cache of loaded knowledge bases, one per store, swapped when a newer one is live.

Loading takes ~20 ms for the demo store and the artefacts are immutable, so each process keeps
the version it loaded until the database says a newer one is live; the swap is one dict
assignment, and searches already running keep the object they hold.
"""

from __future__ import annotations

import threading

from django.conf import settings

from retrieval.knowledge import KnowledgeBase
from webapp.kb.models import SearchIndex


class LiveKnowledgeBases:
    def __init__(self) -> None:
        # store id -> ((index id, checksum), knowledge base)
        self._loaded: dict[int, tuple[tuple[int, str], KnowledgeBase]] = {}
        self._lock = threading.Lock()

    def get(self, index: SearchIndex) -> KnowledgeBase:
        key = (index.id, index.checksum)
        entry = self._loaded.get(index.store_id)
        if entry is not None and entry[0] == key:
            return entry[1]
        with self._lock:
            entry = self._loaded.get(index.store_id)
            if entry is not None and entry[0] == key:
                return entry[1]
            knowledge = KnowledgeBase.load(index.directory, device=settings.SEARCH_DEVICE)
            self._loaded[index.store_id] = (key, knowledge)
            return knowledge

    def loaded_index_id(self, store_id: int) -> int | None:
        entry = self._loaded.get(store_id)
        return entry[0][0] if entry else None

    def clear(self) -> None:
        with self._lock:
            self._loaded.clear()


live_knowledge_bases = LiveKnowledgeBases()
