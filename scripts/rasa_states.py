"""The dialogue states Rasa's policies predict from, worked out once per event instead of once per question.

During one turn Rasa 3.6 asks a conversation for its dialogue states several times (RulePolicy and
MemoizationPolicy, at each prediction of the turn). Each time, `DialogueStateTracker.applied_events` walks every
event again (and, for each step of a form, walks back through the events before it: quadratic in the length of a
form), and `Domain.states_for_tracker_history` replays every event on a fresh tracker to take the state before
each action. Profiled under load (bench/capacity.py with py-spy): about a sixth of Rasa's CPU per turn.

Both are a left fold over the events, and a conversation only grows during a turn, so each tracker keeps where
its fold got to and the next question continues from there:

- applied events: the events folded so far and the result; continued when the tracker's events still start with
  them (the same event objects) and no new form name appeared (a form's name changes how its earlier steps are
  folded), otherwise worked out from the start as Rasa does;
- states: for each action so far, what `states_for_tracker_history` reads from the replayed tracker before it
  (its state, previous action, follow-up action, active loop), and the replayed tracker itself; continued when
  the applied events still start with the ones replayed.

The states handed out are fresh copies each time (policies edit them). Anything else (a state with unset slots
left out, as only training asks) goes to Rasa's own code. tests/unit/test_rasa_states.py checks, after every
event of every story and rule this assistant is trained on, that the answers equal Rasa's own.
"""
from __future__ import annotations

import copy
import itertools
from typing import Any, Dict, List, Optional

APPLIED = "_hotline_applied"
STATES = "_hotline_states"


_FLAT = (str, int, float, bool, tuple, type(None))


def _copy_sub_state(sub: Any) -> Any:
    if isinstance(sub, dict) and all(isinstance(value, _FLAT) for value in sub.values()):
        return dict(sub)  # sub-states hold names, texts and tuples of numbers: one level to copy
    return copy.deepcopy(sub)


def _copy_step(state: Dict[str, Any], prev_action: Any) -> Any:
    """A fresh copy of a state and of the previous action's sub-state, sharing one object where Rasa's do (the
    state's previous action is the replayed tracker's latest action itself)."""
    prev = _copy_sub_state(prev_action)
    return {key: prev if sub is prev_action else _copy_sub_state(sub) for key, sub in state.items()}, prev


def install() -> None:
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActiveLoop
    from rasa.shared.core.trackers import DialogueStateTracker

    original_applied = DialogueStateTracker.applied_events
    original_states = Domain.states_for_tracker_history

    def applied_events(self: DialogueStateTracker) -> List[Any]:
        events = self.events
        memo: Optional[Dict[str, Any]] = self.__dict__.get(APPLIED)
        if memo is not None and memo["events"] is events and memo["count"] <= len(events) and (
                memo["count"] == 0 or events[memo["count"] - 1] is memo["last"]):
            new = list(itertools.islice(events, memo["count"], None))
            if not any(isinstance(e, ActiveLoop) and e.name and e.name not in memo["loops"] for e in new):
                _fold_applied(self, memo["applied"], new, memo["loops"])
                _remember_applied(self, memo, events, memo["applied"])
                return list(memo["applied"])
        applied = original_applied(self)
        memo = {"loops": {e.name for e in events if isinstance(e, ActiveLoop) and e.name}}
        _remember_applied(self, memo, events, applied)
        return list(applied)

    def _remember_applied(tracker: DialogueStateTracker, memo: Dict[str, Any], events: Any,
                          applied: List[Any]) -> None:
        memo.update(events=events, count=len(events), last=events[-1] if events else None, applied=applied)
        tracker.__dict__[APPLIED] = memo

    def _fold_applied(tracker: DialogueStateTracker, applied: List[Any], new: List[Any], loops: set) -> None:
        """Rasa's `applied_events` loop, over the new events only (the same steps, in the same order)."""
        from rasa.shared.core.events import (ActionExecuted, ActionReverted, Restarted, SessionStarted,
                                             UserUtteranceReverted, UserUttered)

        for event in new:
            if isinstance(event, (Restarted, SessionStarted)):
                applied.clear()
            elif isinstance(event, ActionReverted):
                tracker._undo_till_previous(ActionExecuted, applied)
            elif isinstance(event, UserUtteranceReverted):
                tracker._undo_till_previous(UserUttered, applied)
                tracker._undo_till_previous(ActionExecuted, applied)
            elif (isinstance(event, ActionExecuted) and event.action_name in loops
                  and not tracker._first_loop_execution_or_unhappy_path(event.action_name, applied)):
                tracker._undo_till_previous_loop_execution(event.action_name, applied)
            else:
                applied.append(event)

    def states_for_tracker_history(self: Domain, tracker: DialogueStateTracker, omit_unset_slots: bool = False,
                                   ignore_rule_only_turns: bool = False,
                                   rule_only_data: Optional[Dict[str, Any]] = None) -> List[Any]:
        if omit_unset_slots:
            return original_states(self, tracker, omit_unset_slots, ignore_rule_only_turns, rule_only_data)
        steps, replayed = _steps(self, tracker)
        final = _step(self, replayed, False)
        return _fold_states(self, steps + [final], ignore_rule_only_turns, rule_only_data)

    def _steps(domain: Domain, tracker: DialogueStateTracker) -> Any:
        """What the policies read before each action of the applied events, and the tracker replayed to the end."""
        from rasa.shared.core.events import ActionExecuted

        applied = tracker.applied_events()
        memo: Optional[Dict[str, Any]] = tracker.__dict__.get(STATES)
        done = memo["applied"] if memo is not None and memo["domain"] is domain else None
        if done is None or len(done) > len(applied) or any(a is not b for a, b in zip(done, applied)):
            memo = {"domain": domain, "applied": [], "steps": [], "replayed": tracker.init_copy()}
        replayed = memo["replayed"]
        for event in applied[len(memo["applied"]):]:
            if isinstance(event, ActionExecuted):
                memo["steps"].append(_step(domain, replayed, event.hide_rule_turn))
            replayed.update(event)
        memo["applied"] = applied
        tracker.__dict__[STATES] = memo
        return list(memo["steps"]), replayed

    def _step(domain: Domain, replayed: DialogueStateTracker, hide_rule_turn: bool) -> Any:
        state = domain.get_active_state(replayed)
        return (hide_rule_turn, replayed.followup_action, replayed.latest_action_name, replayed.active_loop_name,
                _copy_step(state, domain._get_prev_action_sub_state(replayed)))

    def _fold_states(domain: Domain, steps: List[Any], ignore_rule_only_turns: bool,
                     rule_only_data: Optional[Dict[str, Any]]) -> List[Any]:
        """Rasa's `states_for_tracker_history` loop, over the kept steps instead of a replay."""
        from rasa.shared.core.constants import PREVIOUS_ACTION

        states: List[Any] = []
        last_ml_action_sub_state = None
        turn_was_hidden = False
        for hide_rule_turn, followup, latest_action_name, active_loop_name, kept in steps:
            state, prev_action = _copy_step(*kept)
            if ignore_rule_only_turns:
                if not turn_was_hidden:
                    last_ml_action_sub_state = prev_action
                if not followup and not latest_action_name == active_loop_name:
                    turn_was_hidden = hide_rule_turn
                if turn_was_hidden:
                    continue
            if ignore_rule_only_turns:
                domain._remove_rule_only_features(state, rule_only_data)
                if states:
                    domain._substitute_rule_only_user_input(state, states[-1])
                if last_ml_action_sub_state:
                    state[PREVIOUS_ACTION] = last_ml_action_sub_state
            states.append(domain._clean_state(state))
        return states

    DialogueStateTracker.applied_events = applied_events
    Domain.states_for_tracker_history = states_for_tracker_history
