"""Writes: building a store's search index as a new immutable version."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Max

from retrieval.documents import content_hash
from retrieval.embedding import base_model_path, shared_encoder
from retrieval.knowledge import FORMAT_VERSION, ProgressCallback, build_knowledge_base
from webapp.kb.models import SearchIndex
from webapp.kb.selectors import kb_documents, search_index_live
from webapp.stores.models import Store

logger = logging.getLogger(__name__)

# A burst of admin edits or import batches coalesces into one build: every queued task after
# the first finds the content unchanged and returns at once.
REBUILD_DELAY_SECONDS = 3


@dataclass(frozen=True)
class BuildResult:
    index: SearchIndex
    built: bool


def search_index_request_rebuild(*, store_id: int) -> None:
    """Queue a rebuild of the store's index once the current transaction commits."""
    from workers.tasks import rebuild_search_index

    transaction.on_commit(
        lambda: rebuild_search_index.apply_async(args=[store_id], countdown=REBUILD_DELAY_SECONDS)
    )


def search_index_build(
    *, store_id: int, force: bool = False, progress: ProgressCallback | None = None
) -> BuildResult:
    """Build a new index version unless the live one already covers the same content."""
    documents = kb_documents(store_id=store_id)
    # The fingerprint names the encoder without loading it (~5 s), so a no-op rebuild is cheap.
    fingerprint = content_hash(documents, salt=f"{base_model_path().name}:{FORMAT_VERSION}")
    live = search_index_live(store_id=store_id)
    if not force and _covers(live, fingerprint):
        return BuildResult(index=live, built=False)  # type: ignore[arg-type]
    encoder = shared_encoder()
    knowledge = build_knowledge_base(
        documents,
        encoder.encode,
        encoder_name=encoder.name,
        content_hash=fingerprint,
        exact_max=settings.SEARCH_EXACT_MAX_VECTORS,
        device="cpu",  # built on the CPU; each process moves it to its GPU when loading
        progress=progress,
    )
    with transaction.atomic():
        # The store row lock serialises version numbering between concurrent builders.
        Store.objects.select_for_update().get(id=store_id)
        live = search_index_live(store_id=store_id)
        if not force and _covers(live, fingerprint):
            return BuildResult(index=live, built=False)  # type: ignore[arg-type]
        version = (
            SearchIndex.objects.filter(store_id=store_id).aggregate(v=Max("version"))["v"] or 0
        ) + 1
        relative = f"stores/{store_id}/index/v{version:06d}"
        directory = settings.MODEL_DIR / relative
        if directory.exists():
            # Left by a build whose transaction rolled back: no row points at it.
            shutil.rmtree(directory)
        knowledge.save(directory)
        index = SearchIndex.objects.create(
            store_id=store_id,
            version=version,
            path=relative,
            content_hash=fingerprint,
            encoder=encoder.name,
            documents=knowledge.manifest.documents,
            chunks=knowledge.manifest.chunks,
            index_kind=knowledge.manifest.index_kind,
            checksum=knowledge.manifest.vectors_sha256,
            build_seconds=knowledge.manifest.build_seconds,
        )
    logger.info(
        "built search index v%s for store %s: %s documents, %s chunks in %.2fs",
        version,
        store_id,
        index.documents,
        index.chunks,
        index.build_seconds,
    )
    return BuildResult(index=index, built=True)


def _covers(live: SearchIndex | None, fingerprint: str) -> bool:
    return live is not None and live.content_hash == fingerprint and live.directory.exists()
