"""Per-process cache of loaded models, one per (store, kind), swapped when another goes live.

Every caller passes the live ``ModelVersion`` it just read (one indexed query), so a process
notices a promotion or rollback on its next message or batch, whichever web or worker process
it is: no restart, no signal to deliver. Loading a fine-tuned MiniLM takes ~0.5 s and ~90 MB.

* The swap is one dict assignment. A prediction already running keeps the model object it
  holds and finishes on it; the old model is freed when the last one is done.
* Workers (``wait=True``) load the new version before their next batch, so a batch is always
  scored, and labelled, by the version it names. The chat (``wait=False``) keeps answering
  with the old version while a background thread loads the new one (~1 s), so no shopper's
  reply waits for a load.
* The artefact's checksum is verified before a version is served; a damaged folder is refused
  with an error in the log and the process keeps the version it has.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webapp.mlops.models import ModelVersion

logger = logging.getLogger(__name__)


class ArtefactDamaged(RuntimeError):
    """A version's files don't match the checksum recorded when it was registered."""


@dataclass(frozen=True)
class Loaded:
    version_id: int
    version: int
    model: Any


def _name(version: ModelVersion) -> str:
    """``store 3 intent v7``, without a query (``str(version)`` would fetch the store)."""
    return f"store {version.store_id} {version.kind} v{version.version}"


def _release_freed_memory() -> None:
    """Return the old model's freed heap to the OS: without it glibc keeps ~the model's size
    of arena per swap and RSS creeps up (bench/learning.py measures 20 swaps)."""
    gc.collect()
    name = ctypes.util.find_library("c")
    if name:
        with contextlib.suppress(OSError, AttributeError):  # AttributeError: not glibc
            ctypes.CDLL(name).malloc_trim(0)


def load_verified(version: ModelVersion, load: Callable[[Path], Any]) -> Any:
    """``load(version.path)`` after checking the files against the registered checksum,
    outside any cache (the training gate loads the live model this way, once per run, so the
    training worker does not keep every store's model in memory)."""
    from webapp.mlops.services import artefact_checksum

    if version.checksum and artefact_checksum(version.path) != version.checksum:
        raise ArtefactDamaged(f"{_name(version)}: files do not match their checksum")
    return load(version.path)


class LiveModels:
    def __init__(self) -> None:
        self._loaded: dict[tuple[int, str], Loaded] = {}
        self._loading: set[tuple[int, str]] = set()
        # Versions whose files failed their checksum: not read again on every message.
        self._refused: set[int] = set()
        self._lock = threading.Lock()  # held while loading
        self._loading_lock = threading.Lock()  # never held for long: guards ``_loading``

    def get(self, version: ModelVersion, load: Callable[[Path], Any], *, wait: bool = True) -> Any:
        """The loaded model of ``version``; see the module docstring for ``wait``."""
        return self.serving(version, load, wait=wait).model

    def serving(
        self, version: ModelVersion, load: Callable[[Path], Any], *, wait: bool = True
    ) -> Loaded:
        key = (version.store_id, version.kind)
        entry = self._loaded.get(key)
        if entry is not None and entry.version_id == version.id:
            return entry
        if version.id in self._refused:
            if entry is None:
                raise ArtefactDamaged(f"{_name(version)}: files do not match their checksum")
            return entry
        if entry is not None and not wait:
            self._load_in_background(key, version, load)
            return entry
        with self._lock:
            entry = self._loaded.get(key)
            if entry is not None and entry.version_id == version.id:
                return entry
            try:
                return self._swap(key, version, load)
            except ArtefactDamaged:
                if entry is None:
                    raise
                return entry

    def _swap(
        self, key: tuple[int, str], version: ModelVersion, load: Callable[[Path], Any]
    ) -> Loaded:
        from webapp.mlops.services import artefact_checksum

        if version.checksum and artefact_checksum(version.path) != version.checksum:
            logger.error("%s: artefact checksum mismatch; not serving it", _name(version))
            self._refused.add(version.id)
            raise ArtefactDamaged(f"{_name(version)}: files do not match their checksum")
        loaded = Loaded(version.id, version.version, load(version.path))
        replaced = key in self._loaded
        self._loaded[key] = loaded
        if replaced:
            _release_freed_memory()
        logger.info("serving %s", _name(version))
        return loaded

    def _load_in_background(
        self, key: tuple[int, str], version: ModelVersion, load: Callable[[Path], Any]
    ) -> None:
        with self._loading_lock:
            if key in self._loading:
                return
            self._loading.add(key)

        def run() -> None:
            try:
                with self._lock:
                    current = self._loaded.get(key)
                    if current is None or current.version_id != version.id:
                        self._swap(key, version, load)
            except Exception:
                logger.exception(
                    "loading %s failed; still serving the previous version", _name(version)
                )
            finally:
                with self._loading_lock:
                    self._loading.discard(key)

        threading.Thread(target=run, name=f"load-{_name(version)}", daemon=True).start()

    def loaded_version_id(self, store_id: int, kind: str) -> int | None:
        entry = self._loaded.get((store_id, kind))
        return entry.version_id if entry else None

    def clear(self) -> None:
        with self._lock:
            self._loaded.clear()
            self._refused.clear()


live_models = LiveModels()
