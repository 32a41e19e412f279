"""The store's side of ``connectors.base.StoredFacts``: the named questions a stream may ask."""

from __future__ import annotations

from tracer.store.reads import Reads


class FactsPort(Reads):
    """Implements :class:`connectors.base.StoredFacts` on top of the backend's ``query``."""
