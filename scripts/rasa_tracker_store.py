"""Rasa's SQL tracker store with the privacy rules of core/tracker_privacy.py (runs in Rasa's Python 3.10).

endpoints.yml names it (`type: scripts.rasa_tracker_store.PrivacySQLTrackerStore`). Each save writes the new
events with the caller's and the bot's text masked, and masks the earlier values of every slot the turn
replaced (all of them after a reset), in the same transaction.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from core import tracker_privacy


class PrivacySQLTrackerStore(SQLTrackerStore):
    """SQLTrackerStore that never keeps raw personal data longer than the conversation needs it."""

    async def save(self, tracker: DialogueStateTracker) -> None:
        await self.stream_events(tracker)
        with self.session_scope() as session:
            new = list(self._additional_events(session, tracker))
            if not new:
                return
            before = list(tracker.events)[: len(tracker.events) - len(new)]
            asked = _last_bot_asked_personal(before)
            raw = [event.as_dict() for event in new]
            rows = tracker_privacy.mask_superseded(tracker_privacy.stored_events(raw, asked))
            names, reset = tracker_privacy.superseded(raw)
            if names or reset:
                self._mask_earlier_slots(session, tracker.sender_id, names, reset)
            for data in rows:
                session.add(self.SQLEvent(
                    sender_id=tracker.sender_id, type_name=data.get("event"), timestamp=data.get("timestamp"),
                    intent_name=(data.get("parse_data") or {}).get("intent", {}).get(INTENT_NAME_KEY),
                    action_name=data.get("name"), data=json.dumps(data)))
            session.commit()

    def _mask_earlier_slots(self, session: Any, sender_id: str, names: set, reset: bool) -> None:
        query = session.query(self.SQLEvent).filter(self.SQLEvent.sender_id == sender_id,
                                                    self.SQLEvent.type_name == "slot")
        if not reset:  # a slot event's row keeps the slot's name in action_name: read only the slots replaced
            query = query.filter(self.SQLEvent.action_name.in_(sorted(names)))
        for row in query:
            event: Dict[str, Any] = json.loads(row.data)
            if reset or event.get("name") in names:
                masked = json.dumps(tracker_privacy.mask_slot_event(event))
                if masked != row.data:
                    row.data = masked


def _last_bot_asked_personal(events: List[Any]) -> bool:
    for event in reversed(events):
        if getattr(event, "type_name", None) == "bot":
            return tracker_privacy.asks_personal(event.as_dict())
    return False
