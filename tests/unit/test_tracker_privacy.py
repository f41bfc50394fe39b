"""Stored conversations (Rasa's tracker store) keep no raw personal data once it was used (issue 10).

The store itself runs in Rasa's Python 3.10: it is driven there with real Rasa events and a real SQLite
file, and the rows it wrote are read back here. The retention job runs on such a file too.
"""
from __future__ import annotations

import json
import re
import sqlite3
import time
from pathlib import Path

import pytest

from core import tracker_privacy
from tests.rasa_venv import needs_rasa, run_in_rasa
from tests.staff_fixtures import staff_db  # noqa: F401

ID, PHONE = "150627-19850101-071X", "+86 139-4776-1208"
RAW = ("19850101", "13947761208", "4776", "乌力吉", "新华街", "071X")


def form_question(field: str, kind: str) -> dict:
    return {"event": "bot", "text": f"请提供{field}", "data": {"custom": {
        "kind": "form_question", "text": "", "data": {"field": field, "type": kind}}}}


def test_stored_text_is_masked_and_answers_to_personal_questions_whole():
    events = [
        {"event": "user", "text": f"我叫乌力吉，身份证{ID}", "parse_data": {
            "text": f"我叫乌力吉，身份证{ID}", "entities": [{"entity": "id_number", "value": ID.replace("-", "")}]}},
        form_question("applicant_name", "name"),
        {"event": "user", "text": "乌力吉", "parse_data": {"text": "乌力吉"}},
        form_question("child_gender", "choice"),
        {"event": "user", "text": "男", "parse_data": {"text": "男"}},
        {"event": "bot", "text": "可打印的申请表：/api/applications/NM20250301ABCD2345/form?token=abcdef123456", "data": {}},
        {"event": "slot", "name": "app_data", "value": {"applicant_name": "乌力吉", "applicant_id_number": ID}},
    ]
    stored = tracker_privacy.stored_events(events)
    text = json.dumps(stored[:-1], ensure_ascii=False)
    assert not any(raw in text for raw in RAW[:4]), text
    assert stored[2]["text"] == "***" and stored[4]["text"] == "男"          # the name answer whole; a choice kept
    assert "token=***" in stored[5]["text"] and "NM20250301ABCD2345" in stored[5]["text"]
    assert stored[-1] == events[-1]  # the current slot value: still needed by the form


def test_replaced_and_retired_slot_values_are_masked():
    event = {"event": "slot", "name": "app_data",
             "value": {"applicant_name": "乌力吉", "applicant_id_number": ID, "home_address": "新华街1号",
                       "contact_phone": PHONE, "child_gender": "男"}}
    masked = tracker_privacy.mask_slot_event(event)["value"]
    assert masked["applicant_name"] == "乌**" and masked["home_address"] == "*****"
    assert masked["applicant_id_number"] == "1506**********071X" and masked["contact_phone"] == "139****1208"
    assert masked["child_gender"] == "男"
    answer = tracker_privacy.mask_slot_event({"event": "slot", "name": "status_verify", "value": "071X"})
    assert answer["value"] == "****"
    within = tracker_privacy.mask_superseded([dict(event), {"event": "slot", "name": "app_data", "value": None}])
    assert within[0]["value"]["applicant_name"] == "乌**" and within[1]["value"] is None


STORE_SCRIPT = r"""
import asyncio, json, sys
sys.path.insert(0, ".")
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, AllSlotsReset, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from scripts.rasa_tracker_store import PrivacySQLTrackerStore

ID, PHONE = "150627-19850101-071X", "+86 139-4776-1208"
domain = Domain.from_yaml('''
version: "3.1"
slots:
  app_data: {type: any, influence_conversation: false, mappings: [{type: custom}]}
  app_answer: {type: text, influence_conversation: false, mappings: [{type: custom}]}
''')
store = PrivacySQLTrackerStore(domain=domain, dialect="sqlite", db=sys.argv[1])

def question(field, kind):
    return BotUttered("请提供", data={"custom": {"kind": "form_question", "data": {"field": field, "type": kind}}})

async def main():
    tracker = DialogueStateTracker("caller-1", domain.slots)
    for event in [UserUttered(f"我要申请，身份证{ID}"), question("applicant_name", "name"), ActionExecuted("action_listen")]:
        tracker.update(event)
    await store.save(tracker)
    tracker.update(UserUttered("乌力吉"))
    tracker.update(SlotSet("app_answer", "乌力吉"))
    tracker.update(SlotSet("app_data", {"applicant_name": "乌力吉"}))
    tracker.update(question("contact_phone", "phone"))
    await store.save(tracker)
    tracker.update(UserUttered(PHONE))
    tracker.update(SlotSet("app_answer", PHONE))
    tracker.update(SlotSet("app_data", {"applicant_name": "乌力吉", "contact_phone": PHONE}))
    await store.save(tracker)
    again = await store.retrieve("caller-1")
    print(json.dumps({"filling": again.get_slot("app_data")}, ensure_ascii=False))
    if sys.argv[2] == "cancel":
        tracker.update(UserUttered("取消申请"))
        tracker.update(BotUttered("好的，已取消，您填写的信息不会保存。"))
        tracker.update(SlotSet("app_data", None))
        tracker.update(SlotSet("app_answer", None))
        await store.save(tracker)
    elif sys.argv[2] == "reset":
        tracker.update(AllSlotsReset())
        await store.save(tracker)

asyncio.run(main())
"""


def run_store(tmp_path: Path, ending: str) -> tuple[dict, list[dict]]:
    db = tmp_path / f"tracker-{ending}.db"
    seen = run_in_rasa(STORE_SCRIPT, db, ending)
    with sqlite3.connect(db) as con:
        rows = [json.loads(d) for (d,) in con.execute("SELECT data FROM events ORDER BY id")]
    return seen, rows




@needs_rasa
def test_a_form_in_progress_keeps_its_values_but_nothing_else_is_raw(tmp_path):
    seen, rows = run_store(tmp_path, "filling")
    assert seen["filling"] == {"applicant_name": "乌力吉", "contact_phone": PHONE}  # the form still works
    current = [r for r in rows if r["event"] == "slot"]
    history = json.dumps([r for r in rows if r not in current[-2:]], ensure_ascii=False)
    assert "19850101" not in re.sub(r"\D", "", history) and "4776" not in history and "乌力吉" not in history, history


@needs_rasa
@pytest.mark.parametrize("ending", ["cancel", "reset"])
def test_after_cancelling_nothing_the_caller_typed_is_kept(tmp_path, ending):
    _, rows = run_store(tmp_path, ending)
    stored = json.dumps(rows, ensure_ascii=False)
    flat = re.sub(r"\D", "", stored)
    assert "19850101" not in flat and "13947761208" not in flat and "乌力吉" not in stored, stored


TWO_PROCESSES_SCRIPT = r"""
import asyncio, json, sqlite3, sys
sys.path.insert(0, ".")
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from scripts.rasa_tracker_store import PrivacySQLTrackerStore

domain = Domain.from_yaml('version: "3.1"')
first, second = (PrivacySQLTrackerStore(domain=domain, dialect="sqlite", db=sys.argv[1]) for _ in range(2))

def said(tracker, *texts):
    for text in texts:
        tracker.update(UserUttered(text))
        tracker.update(ActionExecuted("action_listen"))

async def main():
    new = DialogueStateTracker("caller-2", domain.slots)
    said(new, "一", "二")
    await first.save(new)
    turn = await second.retrieve("caller-2")  # the next turn on another process
    said(turn, "三")
    await second.save(turn)
    await second.save(turn)                   # saved again with nothing new: nothing written
    said(turn, "四")
    await second.save(turn)
    turn = await first.retrieve("caller-2")   # back on the first process
    said(turn, "五")
    await first.save(turn)
    with sqlite3.connect(sys.argv[1]) as con:
        texts = [json.loads(d).get("text") for (d,) in con.execute("SELECT data FROM events ORDER BY id")]
    print(json.dumps([t for t in texts if t], ensure_ascii=False))

asyncio.run(main())
"""


@needs_rasa
def test_turns_on_two_processes_store_every_event_once_in_order(tmp_path):
    seen = run_in_rasa(TWO_PROCESSES_SCRIPT, tmp_path / "tracker.db")
    assert seen == ["一", "二", "三", "四", "五"]


def make_tracker_db(path: Path, events: list[tuple[str, float, dict]]) -> None:
    with sqlite3.connect(path) as con:  # Rasa's SQLTrackerStore schema
        con.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255) NOT NULL, "
                    "type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name VARCHAR(255), "
                    "action_name VARCHAR(255), data TEXT)")
        for sender, ts, data in events:
            con.execute("INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (?, ?, ?, ?)",
                        (sender, data["event"], ts, json.dumps(data, ensure_ascii=False)))


def test_the_retention_job_masks_idle_conversations_and_deletes_old_ones(staff_db, tmp_path):  # noqa: F811
    now = time.time()
    paused = {"event": "slot", "name": "app_data", "value": {"applicant_name": "乌力吉", "contact_phone": PHONE}}
    make_tracker_db(tmp_path / "tracker.db", [
        ("active", now - 600, paused),
        ("idle", now - 30 * 3600, paused),
        ("old", now - 40 * 86400, {"event": "user", "text": "你好"}),
    ])
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    counts = tracker_privacy.retain(url, now=now, mask_after_hours=24, retention_days=30)
    assert counts == {"masked_conversations": 1, "masked_events": 1, "deleted_conversations": 1}
    with sqlite3.connect(tmp_path / "tracker.db") as con:
        rows = dict(con.execute("SELECT sender_id, data FROM events").fetchall())
    assert set(rows) == {"active", "idle"}
    assert "乌力吉" in rows["active"]                      # still being filled in: kept
    assert "乌力吉" not in rows["idle"] and "4776" not in rows["idle"]
    # the next run reads only what changed since: nothing
    assert tracker_privacy.retain(url, now=now + 60, mask_after_hours=24, retention_days=30)["masked_conversations"] == 0


def test_the_retention_job_runs_from_the_command_line(staff_db, tmp_path, capsys):  # noqa: F811
    make_tracker_db(tmp_path / "tracker.db", [("idle", time.time() - 48 * 3600,
                                               {"event": "user", "text": "我叫乌力吉"})])
    assert tracker_privacy.main(["retain", "--url", f"sqlite:///{tmp_path / 'tracker.db'}"]) == 0
    assert "masked_conversations=1" in capsys.readouterr().out
