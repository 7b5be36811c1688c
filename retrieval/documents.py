"""Documents (FAQ entries, products) and the chunks that get embedded."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

FAQ = "faq"
PRODUCT = "product"
KINDS = (FAQ, PRODUCT)

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Document:
    """One searchable thing: an FAQ entry or a product, identified by ``(kind, id)``."""

    kind: str
    id: int
    title: str
    body: str
    facts: str = ""  # short structured text: a product's category, price and attributes

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown document kind {self.kind!r}")


@dataclass(frozen=True)
class Chunk:
    """A piece of a document small enough for the encoder (MiniLM reads 256 word pieces)."""

    kind: str
    doc_id: int
    title: str
    text: str
    part: str = field(default="body")  # "title" or "body"


def split_words(text: str, *, max_words: int = 120, overlap: int = 30) -> list[str]:
    """Split ``text`` into windows of whole sentences of at most ~``max_words`` words.

    Consecutive windows share up to ``overlap`` words so an answer spanning a boundary is still
    found. A single sentence longer than ``max_words`` is cut on word boundaries.
    """
    if max_words <= overlap:
        raise ValueError("max_words must be larger than overlap")
    words = text.split()
    if len(words) <= max_words:
        return [" ".join(words)] if words else []
    sentences: list[list[str]] = []
    for sentence in _SENTENCE_END.split(text.strip()):
        tokens = sentence.split()
        while len(tokens) > max_words:
            sentences.append(tokens[:max_words])
            tokens = tokens[max_words - overlap :]
        if tokens:
            sentences.append(tokens)
    windows: list[str] = []
    current: list[str] = []
    for tokens in sentences:
        if current and len(current) + len(tokens) > max_words:
            windows.append(" ".join(current))
            current = current[-overlap:] if overlap else []
            while current and len(current) + len(tokens) > max_words:
                current = current[1:]
        current = current + tokens
    if current:
        windows.append(" ".join(current))
    return windows


def chunk_document(doc: Document, *, max_words: int = 120, overlap: int = 30) -> list[Chunk]:
    """Chunks for one document.

    FAQ entries give the question alone (shoppers paraphrase questions, so it matches best) and
    question + answer windows; products give name + facts, and name + description windows.
    """
    if doc.kind == FAQ:
        head = Chunk(doc.kind, doc.id, doc.title, doc.title, part="title")
    else:
        head_text = f"{doc.title}. {doc.facts}".strip(". ") if doc.facts else doc.title
        head = Chunk(doc.kind, doc.id, doc.title, head_text, part="title")
    chunks = [head]
    for window in split_words(doc.body, max_words=max_words, overlap=overlap):
        chunks.append(Chunk(doc.kind, doc.id, doc.title, f"{doc.title}\n{window}", part="body"))
    return chunks


def chunk_documents(docs: Iterable[Document], **kwargs: int) -> list[Chunk]:
    return [chunk for doc in docs for chunk in chunk_document(doc, **kwargs)]


def content_hash(docs: Sequence[Document], *, salt: str = "") -> str:
    """A stable fingerprint of the documents, used to skip rebuilding an unchanged index."""
    digest = hashlib.sha256(salt.encode())
    for doc in sorted(docs, key=lambda d: (d.kind, d.id)):
        digest.update(json.dumps(asdict(doc), sort_keys=True).encode())
    return digest.hexdigest()
