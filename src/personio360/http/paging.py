"""Pagination guards: every paginated read is bounded and detects a server that loops (dlt, Singer)."""

from __future__ import annotations

__all__ = ["MAX_PAGES", "PageGuard"]

from collections.abc import Hashable

#: 100,000 employees at Personio's 100 a page is 1,000 pages; 360Learning's smallest page is 500.
MAX_PAGES = 20_000


class PageGuard:
    """Remembers the pages seen by one read; ``visit`` raises ``LoopError`` on a repeat or past the cap."""

    def __init__(self, max_pages: int = MAX_PAGES) -> None:
        self._seen: set[Hashable] = set()
        self._max_pages = max_pages

    def visit(self, key: Hashable) -> None:
        if key in self._seen:
            raise LoopError(f"the API sent the same page twice ({key!r}): pagination loops")
        if len(self._seen) >= self._max_pages:
            raise LoopError(f"more than {self._max_pages} pages: pagination does not end")
        self._seen.add(key)


class LoopError(Exception):
    """The pagination does not end; the client turns this into ``MalformedResponse``."""
