"""A static-files finder for JavaScript that ships inside Python wheels.

Plotly's wheel carries ``plotly.min.js``; serving it from the installed package keeps the
dashboard free of CDNs and of a second, vendored copy. Only the files named here are exposed,
under ``vendor/``, for WhiteNoise in development and for ``collectstatic``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

# URL path under STATIC_URL -> (package, file inside the package).
PACKAGED_FILES = {"vendor/plotly.min.js": ("plotly", "package_data/plotly.min.js")}


def _package_file(package: str, relative: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    return path if path.is_file() else None


class PackagedFileFinder(BaseFinder):
    def check(self, **kwargs):  # type: ignore[no-untyped-def]
        return []

    def find(self, path, find_all=False, **kwargs):  # type: ignore[no-untyped-def]
        located = PACKAGED_FILES.get(path)
        found = _package_file(*located) if located else None
        if found is None:
            return [] if find_all or kwargs.get("all") else None
        return [str(found)] if find_all or kwargs.get("all") else str(found)

    def list(self, ignore_patterns):  # type: ignore[no-untyped-def]
        for url_path, located in PACKAGED_FILES.items():
            found = _package_file(*located)
            if found is not None:
                storage = FileSystemStorage(location=str(found.parent))
                storage.prefix = str(Path(url_path).parent)  # collected as vendor/<name>
                yield found.name, storage
