"""The dialogue states worked out incrementally (scripts/rasa_states.py) equal Rasa's own, after every event.

In Rasa's own environment: every story and rule this assistant is trained on (this repository's domain/), plus
conversations that revert, restart and start new sessions, are replayed one event at a time into one tracker
(as a live conversation grows), and after each event the applied events and the states for each kind of policy
are compared with what Rasa's unpatched code gives for a fresh tracker of the same events.
"""
from __future__ import annotations

import json

from tests.rasa_venv import needs_rasa, run_in_rasa

SCRIPT = r"""
import json, sys
sys.path.insert(0, ".")
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (ActionExecuted, ActionReverted, ActiveLoop, BotUttered, Restarted,
                                     SessionStarted, SlotSet, UserUttered, UserUtteranceReverted)
from rasa.shared.core.generator import TrainingDataGenerator
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.importers.importer import TrainingDataImporter

rasa_applied = DialogueStateTracker.applied_events
rasa_states = Domain.states_for_tracker_history
import scripts.rasa_states as rasa_states_memo
rasa_states_memo.install()

importer = TrainingDataImporter.load_from_config("config.yml", "domain", ["domain"])
domain = importer.get_domain()
trackers = TrainingDataGenerator(importer.get_stories(), domain, remove_duplicates=False, augmentation_factor=0,
                                 use_story_concatenation=False).generate()
form = domain.form_names[0]
slots = [s.name for s in domain.slots][:3]
extra = [ActionExecuted("action_listen"), UserUttered("你好", intent={"name": "greet", "confidence": 1.0}),
         ActionExecuted(form), ActiveLoop(form), SlotSet(slots[0], "x"), ActionExecuted("action_listen"),
         UserUttered("不对", intent={"name": "deny", "confidence": 1.0}), UserUtteranceReverted(),
         ActionExecuted("action_listen"), UserUttered("嗯", intent={"name": "affirm", "confidence": 1.0}),
         ActionExecuted(form), BotUttered("请问"), ActionReverted(), ActionExecuted(form), ActiveLoop(None),
         Restarted(), ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen"),
         UserUttered("我要申请", intent={"name": "greet", "confidence": 1.0}), ActionExecuted(form), ActiveLoop(form),
         ActionExecuted("action_listen")]
rule_only = [None, {"rule_only_slots": slots, "rule_only_loops": [form]}]
report = {"trackers": 0, "checks": 0, "rule_trackers": 0, "with_loops": 0, "mismatches": []}
for original in trackers + [DialogueStateTracker.from_events("extra", extra, domain.slots)]:
    report["trackers"] += 1
    report["rule_trackers"] += bool(original.is_rule_tracker)
    report["with_loops"] += any(isinstance(e, ActiveLoop) for e in original.events)
    growing = original.init_copy()
    for event in original.events:
        growing.update(event)
        fresh = growing.init_copy()  # the same events in a new tracker: Rasa works everything out from the start
        for e in growing.events:
            fresh.update(e)
        if growing.applied_events() != rasa_applied(fresh):
            report["mismatches"].append({"tracker": original.sender_id, "what": "applied events"})
        for ignore in (False, True):
            for data in rule_only:
                mine = domain.states_for_tracker_history(growing, False, ignore, data)
                theirs = rasa_states(domain, fresh, False, ignore, data)
                report["checks"] += 1
                if mine != theirs:
                    report["mismatches"].append({"tracker": original.sender_id, "ignore": ignore, "events":
                                                 len(growing.events), "mine": mine, "rasa": theirs})
print(json.dumps(report, ensure_ascii=False, default=str))
"""


@needs_rasa
def test_incremental_states_equal_rasas_after_every_event_of_every_story_and_rule():
    report = run_in_rasa(SCRIPT, timeout=600)
    assert report["mismatches"] == [], json.dumps(report["mismatches"][:2], ensure_ascii=False)[:3000]
    assert report["rule_trackers"] >= 20 and report["with_loops"] >= 10, report  # forms and rules were covered
    assert report["checks"] >= 1500, report
