"""The tracker store's kept conversations (scripts/rasa_tracker_store.py TrackerCache) are exactly what reading the
conversation back from the database gives, turn after turn, and are never used once the database has moved on.

Driven in Rasa's Python 3.10 with real Rasa events and a real SQLite file, the way Rasa's processor uses a store:
read (or create) the conversation, add the turn's events, save. After every turn the kept conversation is compared
with a fresh read by a store that keeps nothing: the whole state Rasa sends to actions (every event, slots, the
active form, the latest message) and the states the policies predict from.
"""
from __future__ import annotations

import json

from tests.rasa_venv import needs_rasa, run_in_rasa

SCRIPT = r"""
import asyncio, json, sqlite3, sys
sys.path.insert(0, ".")
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (ActionExecuted, ActiveLoop, AllSlotsReset, BotUttered, SessionStarted, SlotSet,
                                     UserUttered)
from rasa.shared.core.trackers import EventVerbosity
from scripts.rasa_tracker_store import PrivacySQLTrackerStore, TrackerCache

ID, PHONE = "150627-19850101-071X", "+86 139-4776-1208"
domain = Domain.from_yaml('''
version: "3.1"
intents: [greet, apply, inform, cancel]
slots:
  app_data: {type: any, influence_conversation: false, mappings: [{type: custom}]}
  app_answer: {type: text, influence_conversation: false, mappings: [{type: custom}]}
  app_kind: {type: categorical, values: [a, b], mappings: [{type: custom}]}
forms:
  app_form: {required_slots: [app_answer]}
responses:
  utter_greet: [{text: 您好}]
''')
db = sys.argv[1]
kept = PrivacySQLTrackerStore(domain=domain, dialect="sqlite", db=db)
assert kept.cache.enabled
elsewhere = PrivacySQLTrackerStore(domain=domain, dialect="sqlite", db=db)   # another Rasa process
fresh = PrivacySQLTrackerStore(domain=domain, dialect="sqlite", db=db)
fresh.cache = TrackerCache(0, 0)                                             # reads the database every time

reads = {"n": 0}
original = SQLTrackerStore._retrieve
async def counting(self, *args, **kwargs):
    if self is kept:
        reads["n"] += 1
    return await original(self, *args, **kwargs)
SQLTrackerStore._retrieve = counting

def question(field, kind):
    return BotUttered("请提供", data={"custom": {"kind": "form_question", "data": {"field": field, "type": kind}}})

def user(text, intent="inform"):
    return UserUttered(text, intent={"name": intent, "confidence": 0.9}, parse_data={
        "intent": {"name": intent, "confidence": 0.9}, "entities": [], "text": text})

def listen():
    return ActionExecuted("action_listen")

# each turn's events are made when the turn happens, as Rasa makes them (their timestamps matter)
TURNS = [
    ("kept", lambda: [user("你好", "greet"), ActionExecuted("utter_greet"), BotUttered("您好"), listen()]),
    ("kept", lambda: [user(f"我要申请，身份证{ID}", "apply"), ActionExecuted("app_form"), ActiveLoop("app_form"),
                      SlotSet("requested_slot", "app_answer"), question("applicant_name", "name"), listen()]),
    ("kept", lambda: [user("乌力吉"), SlotSet("app_answer", "乌力吉"), SlotSet("app_data", {"applicant_name": "乌力吉"}),
                      SlotSet("app_kind", "a"), question("contact_phone", "phone"), listen()]),
    ("kept", lambda: [user(PHONE), SlotSet("app_answer", PHONE),
                      SlotSet("app_data", {"applicant_name": "乌力吉", "contact_phone": PHONE}), listen()]),
    ("crash", lambda: [user("新华街8号"), SlotSet("app_answer", "新华街8号")]),      # read, changed, never saved
    ("elsewhere", lambda: [user("新华街9号"), SlotSet("app_answer", "新华街9号"), SlotSet("app_data", {
        "applicant_name": "乌力吉", "contact_phone": PHONE, "address": "新华街9号"}), listen()]),
    ("kept", lambda: [user("对"), SlotSet("app_kind", "b"), BotUttered("已提交"), ActiveLoop(None), listen()]),
    ("kept", lambda: [user("取消", "cancel"), AllSlotsReset(), BotUttered("好的"), listen()]),
    ("kept", lambda: [ActionExecuted("action_session_start"), SessionStarted(), listen(), user("你好", "greet"),
                      ActionExecuted("utter_greet"), BotUttered("您好"), listen()]),
    ("kept", lambda: [user("我要申请", "apply"), ActionExecuted("app_form"), ActiveLoop("app_form"), listen()]),
    # an event stamped before the session started (another machine's clock): Rasa's read leaves it out
    ("kept", lambda: [UserUttered("补充", timestamp=1.0), listen()]),
    ("kept", lambda: [user("乌力吉"), SlotSet("app_answer", "乌力吉"), listen()]),
    ("deleted", None),
    ("kept", lambda: [user("你好", "greet"), ActionExecuted("utter_greet"), BotUttered("您好"), listen()]),
    ("kept", lambda: [user("我要申请", "apply"), ActionExecuted("app_form"), ActiveLoop("app_form"), listen()]),
]

def state(tracker):
    return {"state": tracker.current_state(EventVerbosity.ALL), "past": tracker.past_states(domain),
            "slots": {k: (s.value, s.has_been_set) for k, s in tracker.slots.items()},
            "attributes": sorted(tracker.__dict__)}

def stored_texts():
    with sqlite3.connect(db) as con:
        return [json.loads(d).get("text") for (d,) in con.execute("SELECT data FROM events ORDER BY id")
                if json.loads(d).get("event") == "user"]

async def main():
    report = {"turns": 0, "compared": 0, "mismatches": [], "database_reads": []}
    for where, make in TURNS:
        if where == "deleted":
            report["texts_before_deletion"] = stored_texts()
            with sqlite3.connect(db) as con:
                con.execute("DELETE FROM events WHERE sender_id = 'caller'")
            continue
        store = elsewhere if where == "elsewhere" else kept
        before = reads["n"]
        tracker = await store.get_or_create_tracker("caller")
        tracker.model_id = "model-1"   # as Rasa's processor does to the tracker it was handed
        for event in make():
            tracker.update(event)
        if where != "crash":
            await store.save(tracker)
        report["turns"] += 1
        report["database_reads"].append(reads["n"] - before)
        with kept.session_scope() as session:
            stamp = kept._stamp(session, "caller")
        mine = kept.cache.get("caller", stamp, kept.domain)   # what the next read would be handed, if anything
        if mine is not None:
            report["compared"] += 1
            truth = await fresh.retrieve("caller")
            if state(mine) != state(truth):
                report["mismatches"].append({"after": report["turns"], "kept": state(mine), "database": state(truth)})
    # a kept conversation leaves memory after its time even when no turn comes (another model's never matches)
    brief = TrackerCache(10, 0.3)
    brief.put("caller", (1, 1), domain, await fresh.retrieve("caller"))
    report["kept_for_another_model"] = brief.get("caller", (1, 1), Domain.empty()) is not None
    brief.put("caller", (1, 1), domain, await fresh.retrieve("caller"))
    report["kept_before_expiry"] = len(brief)
    await asyncio.sleep(0.5)
    report["kept_after_expiry"] = len(brief._kept)   # removed by the sweeper, not by a read
    with sqlite3.connect(db) as con:
        report["raw_in_store"] = any("4776" in d or "19850101" in d for (d,) in con.execute("SELECT data FROM events"))
    print(json.dumps(report, ensure_ascii=False, default=str))

asyncio.run(main())
"""


@needs_rasa
def test_kept_conversations_equal_reading_them_back_and_go_stale_with_the_database(tmp_path):
    report = run_in_rasa(SCRIPT, tmp_path / "tracker.db")
    assert report["turns"] == 14
    assert report["mismatches"] == [], json.dumps(report["mismatches"][0], ensure_ascii=False)[:3000]
    assert report["compared"] == 9
    reads = report["database_reads"]
    # read back from the database: the first turn (nothing stored yet) and the next one, the first turn after
    # another process took one, after a new session started, after an event Rasa's read leaves out, and after
    # the conversation was deleted; the crashed turn changed nothing kept
    assert reads == [1, 1, 0, 0, 0, 0, 1, 0, 0, 1, 0, 1, 1, 1], reads
    texts = report["texts_before_deletion"]
    assert len(texts) == 11, texts  # every saved turn once, in order
    assert "新华街8号" not in json.dumps(texts, ensure_ascii=False)  # the crashed turn was never stored
    assert not report["raw_in_store"]
    assert not report["kept_for_another_model"]
    assert (report["kept_before_expiry"], report["kept_after_expiry"]) == (1, 0)
