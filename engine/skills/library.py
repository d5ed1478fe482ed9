"""Library snapshots handed to trials: prompt docs, source to seed, a content-hashed version."""

from __future__ import annotations

import hashlib

from engine.errors import UserError
from engine.trial.loop import LibrarySnapshot


def version_of(source: str, docs: str) -> str:
    """Content hash: the same skills give the same version id, wherever they were built."""
    return hashlib.sha256((source + "\0" + docs).encode()).hexdigest()[:12]


def builtin_library(name: str) -> LibrarySnapshot:
    """``none`` (base API only) or ``curated9`` (CaP-X's hand-curated helpers)."""
    if name in ("none", "P21_a", ""):
        return LibrarySnapshot(version="none", docs="", source="")
    if name == "curated9":
        from engine.api.curated9 import CURATED9, curated9_source
        from engine.api.docs import api_docs

        docs = api_docs((fn.__name__, fn) for fn in CURATED9)
        source = curated9_source()
        return LibrarySnapshot(
            version="curated9-" + version_of(source, docs), docs=docs, source=source
        )
    raise UserError(f"unknown library {name!r} (built in: none, curated9)")
