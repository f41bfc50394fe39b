"""Which stored replies a re-sent message gets (scripts/rasa_server.py `stored_replies`, `recent_replies`), with
Rasa's own event classes in its environment. The live tests (test_application_conversation, test_websocket)
send messages again through the gateway."""
from __future__ import annotations

from tests.rasa_venv import needs_rasa, run_in_rasa

SCRIPT = r"""
import json, sys, time
sys.path.insert(0, ".")
from scripts.rasa_server import recent_replies, stored_replies
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

def tracker(*events):
    return DialogueStateTracker.from_events("caller", list(events))

card = {"kind": "form_question", "text": "请告诉我身份证号码。", "data": {"field": "applicant_id_number"}}
first = [UserUttered("赵敏", metadata={"turn_id": "t1"}), ActionExecuted("application_form"),
         BotUttered(None, {"custom": card}), BotUttered("好的", {"buttons": [{"title": "确认", "payload": "/ok"}]}),
         ActionExecuted("action_listen")]
report = {
    "same id": stored_replies(tracker(*first), "t1"),
    "other id": stored_replies(tracker(*first), "t2"),
    "not the latest message": stored_replies(tracker(*first, UserUttered("你好", metadata={"turn_id": "t3"})), "t1"),
    "after a new session": stored_replies(tracker(*first, ActionExecuted("action_session_start"),
                                                  SessionStarted()), "t1"),
    "no id stored": stored_replies(tracker(UserUttered("你好")), "t1"),
}
recent = recent_replies(seconds=120, size=2)
for sender in ("a", "b", "c"):
    recent.put(sender, "t1", None, [{"text": sender}])
report["recent"] = [recent.get("a", "t1", None), recent.get("c", "t1", None), recent.get("b", "t2", None),
                    recent.get("b", "t1", None)]
short = recent_replies(seconds=0.2, size=10)
short.put("x", "t1", None, [{"text": "raw"}])
time.sleep(0.6)
report["left after expiry, no turn since"] = len(short._kept)
print(json.dumps(report, ensure_ascii=False))
"""


@needs_rasa
def test_only_the_latest_message_of_the_current_session_is_replayed_with_its_replies():
    report = run_in_rasa(SCRIPT)
    assert report["same id"] == [
        {"recipient_id": "caller", "custom": {"kind": "form_question", "text": "请告诉我身份证号码。",
                                              "data": {"field": "applicant_id_number"}}},
        {"recipient_id": "caller", "text": "好的", "buttons": [{"title": "确认", "payload": "/ok"}]}]
    assert report["other id"] is None and report["not the latest message"] is None
    assert report["after a new session"] is None and report["no id stored"] is None
    # kept as sent, the oldest conversation's dropped beyond the size, only for the same id (asked for another,
    # the entry is gone); swept after its time even when no turn comes
    assert report["recent"] == [None, [{"text": "c"}], None, None]
    assert report["left after expiry, no turn since"] == 0
