"""A store's knowledge base: chunks, their vectors in a FAISS index, and BM25 over the same text.

Saved as an immutable folder (``manifest.json``, ``chunks.jsonl``, ``vectors.faiss``); a new
version is always a new folder, written under a temporary name and renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from retrieval.bm25 import BM25
from retrieval.documents import Chunk, Document, chunk_documents
from retrieval.index import VectorIndex

MANIFEST = "manifest.json"
CHUNKS = "chunks.jsonl"
VECTORS = "vectors.faiss"
FORMAT_VERSION = 1

# Weight of the max-normalised BM25 score added to the cosine similarity when ranking. Measured
# on the demo paraphrases (bench/retrieval, FAQ + products): every weight tried lowered recall@1
# (0.767 dense -> 0.733 at 0.1, 0.648 at 0.3), so hybrid ranking is off by default. The reported
# "score" always stays the cosine, so answer thresholds keep their meaning.
DEFAULT_LEXICAL_WEIGHT = 0.0


@dataclass(frozen=True)
class Hit:
    """One document found for a query; ``score`` is the best chunk's cosine similarity."""

    kind: str
    id: int
    title: str
    score: float
    rank_score: float
    text: str


@dataclass(frozen=True)
class Manifest:
    format: int
    created_at: float
    encoder: str
    documents: int
    chunks: int
    index_kind: str
    content_hash: str
    build_seconds: float
    vectors_sha256: str


class KnowledgeBase:
    def __init__(
        self,
        chunks: Sequence[Chunk],
        index: VectorIndex,
        manifest: Manifest,
        *,
        lexical_weight: float = DEFAULT_LEXICAL_WEIGHT,
    ) -> None:
        if index.size != len(chunks):
            raise ValueError(f"index has {index.size} vectors for {len(chunks)} chunks")
        self.chunks = list(chunks)
        self.index = index
        self.manifest = manifest
        self.lexical_weight = lexical_weight
        self._bm25 = BM25([chunk.text for chunk in self.chunks]) if lexical_weight else None

    def __len__(self) -> int:
        return len(self.chunks)

    def search(
        self,
        query_vector: np.ndarray,
        k: int = 5,
        *,
        query_text: str = "",
        kinds: Sequence[str] | None = None,
    ) -> list[Hit]:
        """Best ``k`` documents for one query.

        ``query_vector`` is the encoded query, float32 ``(384,)`` or ``(1, 384)``. Chunks are
        over-fetched and folded per document (max over its chunks), then BM25 on
        ``query_text`` re-ranks when a lexical weight is set.
        """
        if not self.chunks:
            return []
        fetch = min(len(self.chunks), max(4 * k, 32))
        found = self.index.search(np.reshape(query_vector, (1, -1)), fetch)
        lexical = self._lexical_scores(query_text)
        best: dict[tuple[str, int], Hit] = {}
        for chunk_index, score in zip(found.ids[0], found.scores[0], strict=True):
            if chunk_index < 0:
                continue
            chunk = self.chunks[chunk_index]
            if kinds is not None and chunk.kind not in kinds:
                continue
            rank = float(score) + (self.lexical_weight * float(lexical[chunk_index]))
            key = (chunk.kind, chunk.doc_id)
            current = best.get(key)
            if current is None or rank > current.rank_score:
                best[key] = Hit(
                    chunk.kind, chunk.doc_id, chunk.title, float(score), rank, chunk.text
                )
        ranked = sorted(best.values(), key=lambda hit: hit.rank_score, reverse=True)
        return ranked[:k]

    def _lexical_scores(self, query_text: str) -> np.ndarray:
        if self._bm25 is None or not query_text:
            return np.zeros(len(self.chunks), dtype=np.float32)
        scores = self._bm25.scores(query_text)
        top = float(scores.max()) if len(scores) else 0.0
        return scores / top if top > 0 else scores

    # --- persistence ------------------------------------------------------------------------

    def save(self, directory: Path) -> Path:
        """Write to ``directory`` atomically: a temporary sibling folder renamed into place."""
        directory = Path(directory)
        if directory.exists():
            raise FileExistsError(f"{directory} exists; index versions are immutable")
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = directory.parent / f".staging-{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            self.index.save(staging / VECTORS)
            with open(staging / CHUNKS, "w", encoding="utf-8") as out:
                for chunk in self.chunks:
                    out.write(json.dumps(asdict(chunk), ensure_ascii=False) + "\n")
            manifest = _replace_checksum(self.manifest, _sha256(staging / VECTORS))
            (staging / MANIFEST).write_text(json.dumps(asdict(manifest), indent=2))
            for name in (VECTORS, CHUNKS, MANIFEST):
                _fsync(staging / name)
            os.rename(staging, directory)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self.manifest = manifest
        return directory

    @classmethod
    def load(
        cls,
        directory: Path,
        *,
        device: str = "auto",
        lexical_weight: float = DEFAULT_LEXICAL_WEIGHT,
    ) -> KnowledgeBase:
        directory = Path(directory)
        manifest = Manifest(**json.loads((directory / MANIFEST).read_text()))
        if manifest.format != FORMAT_VERSION:
            raise ValueError(f"{directory}: unsupported index format {manifest.format}")
        checksum = _sha256(directory / VECTORS)
        if checksum != manifest.vectors_sha256:
            raise ValueError(f"{directory}: {VECTORS} checksum mismatch; the artefact is corrupt")
        with open(directory / CHUNKS, encoding="utf-8") as lines:
            chunks = [Chunk(**json.loads(line)) for line in lines if line.strip()]
        index = VectorIndex.load(directory / VECTORS, device=device)
        return cls(chunks, index, manifest, lexical_weight=lexical_weight)


ProgressCallback = Callable[[int, int], None]


def build_knowledge_base(
    documents: Sequence[Document],
    encode: Callable[[list[str]], np.ndarray],
    *,
    encoder_name: str,
    content_hash: str,
    exact_max: int = 50_000,
    device: str = "auto",
    batch_size: int = 64,
    progress: ProgressCallback | None = None,
    lexical_weight: float = DEFAULT_LEXICAL_WEIGHT,
) -> KnowledgeBase:
    """Chunk, embed (in batches of ``batch_size``, reporting progress) and index ``documents``."""
    started = time.perf_counter()
    chunks = chunk_documents(documents)
    texts = [chunk.text for chunk in chunks]
    parts = []
    for start in range(0, len(texts), batch_size):
        parts.append(encode(texts[start : start + batch_size]))
        if progress is not None:
            progress(min(start + batch_size, len(texts)), len(texts))
    dim = parts[0].shape[1] if parts else 384
    vectors = np.concatenate(parts) if parts else np.zeros((0, dim), dtype=np.float32)
    index = VectorIndex.build(vectors, exact_max=exact_max, device=device)
    manifest = Manifest(
        format=FORMAT_VERSION,
        created_at=time.time(),
        encoder=encoder_name,
        documents=len(documents),
        chunks=len(chunks),
        index_kind=index.spec.kind,
        content_hash=content_hash,
        build_seconds=round(time.perf_counter() - started, 3),
        vectors_sha256="",
    )
    return KnowledgeBase(chunks, index, manifest, lexical_weight=lexical_weight)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _replace_checksum(manifest: Manifest, checksum: str) -> Manifest:
    data = asdict(manifest)
    data["vectors_sha256"] = checksum
    return Manifest(**data)
