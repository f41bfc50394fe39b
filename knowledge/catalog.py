"""The published guides, loaded once per process and reloaded when a guide file changes."""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from knowledge.settings import knowledge_settings
from knowledge.schema import Guide, load_guides

log = logging.getLogger(__name__)


class Catalog:
    def __init__(self, guides: list[Guide]) -> None:
        self.guides = guides
        self._by_name = {g.name: g for g in guides}

    def get(self, name: str | None) -> Guide | None:
        return self._by_name.get(name or "")


class _CatalogHolder:
    CHECK_SECONDS = 1.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._catalog: Catalog | None = None
        self._stamp: tuple | None = None
        self._checked = float("-inf")

    @staticmethod
    def _stamp_of(folder: Path) -> tuple:
        return tuple(sorted((p.name, p.stat().st_mtime_ns) for p in folder.glob("*.yaml")))

    def get(self, folder: Path) -> Catalog:
        now = time.monotonic()
        if self._catalog is not None and now - self._checked < self.CHECK_SECONDS:
            return self._catalog
        with self._lock:
            self._checked = now
            stamp = self._stamp_of(folder)
            if self._catalog is None or stamp != self._stamp:
                try:
                    self._catalog = Catalog(load_guides(folder))
                    self._stamp = stamp
                except Exception:
                    if self._catalog is None:  # nothing to fall back to
                        raise
                    # keep serving the last good catalogue while an editor fixes a broken file
                    log.exception("guide folder has errors; still serving the previous version")
                    self._stamp = stamp
            return self._catalog


_holder = _CatalogHolder()


def get_catalog() -> Catalog:
    """The published guides: the guide editor's store when this process follows it (knowledge/live.py),
    otherwise the YAML files of KNOWLEDGE_DIR."""
    from knowledge.live import live_catalog

    return live_catalog() or file_catalog()


def file_catalog(folder: Path | None = None) -> Catalog:
    """The guides of the YAML files (default KNOWLEDGE_DIR), loaded once per process; GuideError when a file is
    broken and nothing was loaded before."""
    return _holder.get(Path(folder) if folder is not None else knowledge_settings().knowledge_dir)
