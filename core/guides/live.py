"""Every gateway and action-server process follows the guide store: the published guides reach its answers
within a poll interval (GUIDE_POLL_MS, default 1 s) plus the re-embedding of the changed guide.

    from core.guides.live import follow_store
    follow_store()            # at process start (gateway lifespan, action server import): seed, first load, poller

knowledge/live.py does the in-memory work (catalog, derived index); this module hands it the database as its
source and, at start, seeds the store from the YAML guides this process has loaded anyway (new guides, and
changed files of guides nobody edited in the editor).
"""
from __future__ import annotations

import logging

from core.guides import store
from core.settings import get_settings
from knowledge import live
from knowledge.catalog import file_catalog

log = logging.getLogger(__name__)


class StoreSource:
    """knowledge.live.GuideSource over the application database."""

    def revision(self) -> str:
        return store.revision()

    def published(self):
        return store.published_guides()


def follow_store() -> live.LiveGuides | None:
    """Seed from YAML (new or untouched guides only), then serve the store's published guides in this process.

    Never stops the process: without a database it logs and keeps serving the YAML guides."""
    settings = get_settings()
    try:
        yaml_guides = file_catalog(settings.knowledge_dir).guides   # loaded by warm_up already: not parsed again
    except Exception:  # noqa: BLE001 - a broken file: the seed reads the files one by one and reports it
        yaml_guides = None
    try:
        report = store.seed_from_folder(settings.knowledge_dir, guides=yaml_guides)
        if report.added or report.updated:
            log.info("guide store seeded from YAML: %d added, %d updated", len(report.added), len(report.updated))
        for error in report.errors:
            log.error("guide file not imported: %s", error)
    except Exception:  # noqa: BLE001 - e.g. the database not migrated yet
        log.exception("guide store: seeding from YAML failed; serving the YAML guides")
        return None
    return live.install(StoreSource(), poll_seconds=settings.guide_poll_seconds)


def follow_store_in_action_server() -> None:
    """follow_store() when this process is the action server (`python -m rasa_sdk`); a no-op when a test or a
    tool merely imports the actions, so they keep reading the YAML guides and never touch var/hotline.db."""
    import sys

    if "rasa_sdk" in (sys.argv[0] if sys.argv else "") or "rasa_sdk.__main__" in sys.modules:
        follow_store()
