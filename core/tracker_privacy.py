"""Personal data in stored conversations (Rasa's tracker store): masked once used, deleted after a while.

Rasa keeps every event of a conversation (what the caller typed, what the bot said, slot values). Three
rules keep personal data out of it (docs/ARCHITECTURE.md "Privacy"):

1. When stored (scripts/rasa_tracker_store.py, Rasa's process): the caller's text and the bot's text are
   masked (`mask_text`: ID and phone numbers however typed, introduced names, print-form tokens); an answer
   to a question for a name, ID number, phone, address or verification factor is masked whole. Slot values
   are stored as they are, because the conversation still needs them (an application being filled in).
2. A slot value is masked as soon as it is replaced: the same save masks the earlier values of every slot
   the turn set (or all, after a reset). So cancelling an application (which empties its slots) leaves no
   value of it in the store: "您填写的信息不会保存" is true.
3. The retention job (`python -m core.tracker_privacy retain`, run hourly by the supervisor) masks every
   value, current ones included, of conversations idle for TRACKER_MASK_AFTER_HOURS (24) and deletes
   conversations idle for TRACKER_RETENTION_DAYS (30; 0 keeps them masked for ever).

Rules 1-2 run in Rasa's Python 3.10 with its own SQLAlchemy: the event functions here use the standard
library and core.privacy only; the job (rule 3) imports SQLAlchemy and settings inside its functions.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from typing import Any, Iterable

from core.privacy import mask_name, mask_text

PERSONAL_FIELD_TYPES = frozenset({"name", "id_number", "phone", "address"})
FREE_ANSWER_SLOTS = frozenset({"app_answer", "status_verify"})  # the caller's raw answer, whatever was asked
_PRINT_TOKEN = re.compile(r"([?&]token=)[A-Za-z0-9_\-]{6,}")
_RESETS = frozenset({"reset_slots", "restart"})
PRIVACY_JOB = "tracker_retention"


# -- masking values ---------------------------------------------------------------------------------------------
def mask_string(text: str) -> str:
    """Free text as stored: personal data and the tokens of printable forms masked."""
    return _PRINT_TOKEN.sub(r"\1***", mask_text(text))


def mask_whole(text: Any) -> Any:
    """An answer that is personal data as a whole (a name, a verification factor): nothing of it kept."""
    return "*" * min(len(text), 8) if isinstance(text, str) and text else text


def mask_value(value: Any, key: str = "") -> Any:
    """A slot value, recursively: names (by field name) and addresses whole, numbers wherever they appear."""
    if isinstance(value, str):
        lowered = key.lower()
        if "address" in lowered:
            return mask_whole(value)
        if "name" in lowered:
            return mask_name(value)
        return mask_string(value)
    if isinstance(value, dict):
        return {k: mask_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(v, key) for v in value]
    return value


def masked_slot_value(name: str, value: Any) -> Any:
    return mask_whole(value) if name in FREE_ANSWER_SLOTS else mask_value(value, name)


# -- events ---------------------------------------------------------------------------------------------------
def asks_personal(event: dict[str, Any]) -> bool:
    """Is this bot event a question whose answer is personal data as a whole?"""
    if event.get("event") != "bot":
        return False
    custom = (event.get("data") or {}).get("custom") or {}
    data = custom.get("data") or {}
    if custom.get("kind") == "form_question":
        return data.get("type") in PERSONAL_FIELD_TYPES
    return custom.get("kind") == "status_question" and data.get("field") == "verify"


def _mask_user(event: dict[str, Any], whole: bool) -> dict[str, Any]:
    out = dict(event)
    mask = mask_whole if whole else (lambda t: mask_string(t) if isinstance(t, str) else t)
    if isinstance(out.get("text"), str):
        out["text"] = mask(out["text"])
    parse = out.get("parse_data")
    if isinstance(parse, dict):
        parse = dict(parse)
        if isinstance(parse.get("text"), str):
            parse["text"] = mask(parse["text"])
        if isinstance(parse.get("entities"), list):
            parse["entities"] = [dict(e, value=mask_value(e.get("value"), str(e.get("entity") or "")))
                                 if isinstance(e, dict) else e for e in parse["entities"]]
        out["parse_data"] = parse
    return out


def _mask_bot(event: dict[str, Any]) -> dict[str, Any]:
    out = dict(event)
    if isinstance(out.get("text"), str):
        out["text"] = mask_string(out["text"])
    if isinstance(out.get("data"), dict):
        out["data"] = _mask_strings(out["data"])
    return out


def _mask_strings(value: Any) -> Any:
    """Bot data: numbers, introduced names and tokens masked in every string; keys are labels, not fields."""
    if isinstance(value, str):
        return mask_string(value)
    if isinstance(value, dict):
        return {k: _mask_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_strings(v) for v in value]
    return value


def stored_events(events: Iterable[dict[str, Any]], asked_personal: bool = False) -> list[dict[str, Any]]:
    """Rule 1: the events of one save as they are written. `asked_personal`: the last bot event before them
    asked for personal data. Slot values are kept (rule 2 masks them once replaced)."""
    out = []
    for event in events:
        kind = event.get("event")
        if kind == "user":
            out.append(_mask_user(event, asked_personal))
        elif kind == "bot":
            out.append(_mask_bot(event))
            asked_personal = asks_personal(event)
        else:
            out.append(event)
    return out


def superseded(new_events: Iterable[dict[str, Any]]) -> tuple[set[str], bool]:
    """Rule 2: (slot names the new events set, whether they reset every slot)."""
    names, reset = set(), False
    for event in new_events:
        if event.get("event") == "slot" and isinstance(event.get("name"), str):
            names.add(event["name"])
        elif event.get("event") in _RESETS:
            reset = True
    return names, reset


def mask_slot_event(event: dict[str, Any]) -> dict[str, Any]:
    return dict(event, value=masked_slot_value(str(event.get("name") or ""), event.get("value")))


def mask_superseded(new_events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Within one save, a slot set twice keeps only its last value unmasked."""
    last = {e.get("name"): i for i, e in enumerate(new_events) if e.get("event") == "slot"}
    return [mask_slot_event(e) if e.get("event") == "slot" and last.get(e.get("name")) != i else e
            for i, e in enumerate(new_events)]


def retired_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rule 3: a whole idle conversation, every value masked (the current slot values too)."""
    out, asked = [], False
    for event in events:
        kind = event.get("event")
        if kind == "slot":
            out.append(mask_slot_event(event))
        else:
            out.extend(stored_events([event], asked))
            if kind == "bot":
                asked = asks_personal(event)
    return out


# -- the retention job (application venv) -----------------------------------------------------------------------
def tracker_url() -> str:
    """TRACKER_DB_URL, else the SQLite file the supervisor gives Rasa (TRACKER_DB, $HOTLINE_DATA_DIR/tracker.db)."""
    import os

    from core.settings import get_settings

    settings = get_settings()
    if settings.tracker_db_url:
        return settings.tracker_db_url
    return f"sqlite:///{os.environ.get('TRACKER_DB') or settings.data_dir / 'tracker.db'}"


def retain(url: str | None = None, *, now: float | None = None, mask_after_hours: int | None = None,
           retention_days: int | None = None) -> dict[str, int]:
    """Mask conversations idle for `mask_after_hours`, delete those idle for `retention_days` (0 = never).

    Only conversations whose last event is newer than the previous run's cut-off are read again (the
    cut-off is kept in the application database), so a run costs what changed since the last one.
    """
    from sqlalchemy import create_engine, inspect, text

    from core.db import session_scope
    from core.models import PrivacyJob
    from core.settings import get_settings

    settings = get_settings()
    mask_after_hours = settings.tracker_mask_after_hours if mask_after_hours is None else mask_after_hours
    retention_days = settings.tracker_retention_days if retention_days is None else retention_days
    now = time.time() if now is None else now
    mask_cutoff = now - mask_after_hours * 3600
    engine = create_engine(url or tracker_url())
    counts = {"masked_conversations": 0, "masked_events": 0, "deleted_conversations": 0}
    try:
        if not inspect(engine).has_table("events"):
            return counts  # Rasa has not stored anything yet
        with session_scope() as session:
            job = session.get(PrivacyJob, PRIVACY_JOB)
            since = job.watermark if job is not None else 0.0
        with engine.begin() as conn:
            if retention_days > 0:
                old = [r[0] for r in conn.execute(text(
                    "SELECT sender_id FROM events GROUP BY sender_id HAVING MAX(timestamp) < :cutoff"),
                    {"cutoff": now - retention_days * 86400})]
                for sender in old:
                    conn.execute(text("DELETE FROM events WHERE sender_id = :sender"), {"sender": sender})
                counts["deleted_conversations"] = len(old)
            idle = [r[0] for r in conn.execute(text(
                "SELECT sender_id FROM events GROUP BY sender_id HAVING MAX(timestamp) < :cutoff "
                "AND MAX(timestamp) >= :since"), {"cutoff": mask_cutoff, "since": since})]
        for sender in idle:  # one transaction per conversation: Rasa's writes never wait long
            with engine.begin() as conn:
                rows = list(conn.execute(text("SELECT id, data FROM events WHERE sender_id = :sender ORDER BY id"),
                                         {"sender": sender}))
                events = [json.loads(data) for _, data in rows]
                changed = 0
                for (row_id, data), event in zip(rows, retired_events(events)):
                    new = json.dumps(event)
                    if new != data:
                        conn.execute(text("UPDATE events SET data = :data WHERE id = :id"), {"data": new, "id": row_id})
                        changed += 1
                counts["masked_events"] += changed
                counts["masked_conversations"] += 1 if changed else 0
        with session_scope() as session:
            job = session.get(PrivacyJob, PRIVACY_JOB)
            if job is None:
                session.add(PrivacyJob(name=PRIVACY_JOB, watermark=mask_cutoff))
            else:
                job.watermark = max(job.watermark, mask_cutoff)
    finally:
        engine.dispose()
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.tracker_privacy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("retain", help="mask idle conversations and delete old ones in Rasa's tracker store")
    run.add_argument("--url", help="tracker store SQLAlchemy URL (default: TRACKER_DB_URL or TRACKER_DB)")
    args = parser.parse_args(argv)
    counts = retain(args.url)
    print(" ".join(f"{k}={v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
