"""The action-response check of scripts/rasa_server.py gives Rasa's schema verdict on every response (valid
ones of each event type our actions send, and broken ones of every kind), in Rasa's own environment."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RASA_PY = ROOT / ".venv" / "rasa" / "bin" / "python"

BOT = {"event": "bot", "text": "请问您的姓名？", "data": {"custom": {"kind": "form_question", "data": {"field": "x"}}},
       "metadata": {}, "timestamp": 1.5}
CASES = [
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "app_guide", "value": "退休一件事", "timestamp": None}]},
    {"events": [{"event": "slot", "name": "x", "value": None}, BOT, {"event": "followup", "name": "action_listen"},
                {"event": "active_loop", "name": None}, {"event": "reset_slots"}, {"event": "action", "name": "a",
                 "policy": None, "confidence": 1.0}, {"event": "session_started"}, {"event": "restart"}]},
    {"events": [{"event": "user", "text": "你好", "parse_data": {"intent": {"name": "greet", "confidence": 0.9},
                 "entities": [], "text": "你好"}, "input_channel": "rest"}]},
    {"responses": [{"text": "好的", "custom": {"kind": "text"}}]},
    {},
    # broken
    {"events": [{"event": "slot", "name": "x"}]},                  # a slot without its value
    {"events": [{"event": "no_such_event"}]},
    {"events": [{"name": "x"}]},                                   # no event type
    {"events": [{"event": 3}]},
    {"events": [{"event": ["slot"]}]},
    {"events": [{"event": "bot", "timestamp": "yesterday"}]},
    {"events": [{"event": "bot", "metadata": []}]},
    {"events": [{"event": "action", "confidence": "high"}]},
    {"events": [{"event": "user", "parse_data": {"intent": {"name": 5}}}]},
    {"events": [{"event": "entities", "entities": "none"}]},
    {"events": None},
    {"events": {"event": "bot"}},
    {"events": ["bot"]},
    {"responses": ["好的"]},
    {"responses": None},
    [],
    "ok",
]

SCRIPT = r"""
import json, sys
sys.path.insert(0, ".")
import scripts.rasa_server as server
from jsonschema import ValidationError, validate
from rasa.core.actions.action import RemoteAction

valid = server.response_checker()
schema = RemoteAction.action_response_format_spec()
verdicts = []
for case in json.loads(sys.stdin.read()):
    try:
        validate(case, schema)
        expected = True
    except ValidationError:
        expected = False
    verdicts.append([expected, valid(case)])
server._install_cached_response_validator()
try:
    RemoteAction._validate_action_result(RemoteAction.__new__(RemoteAction), {"events": [{"event": "slot", "name": "x"}]})
    raised = ""
except ValidationError as exc:
    raised = exc.message
print(json.dumps({"verdicts": verdicts, "raised": raised}, ensure_ascii=False))
"""


@pytest.mark.skipif(not RASA_PY.exists(), reason="Rasa's venv is built by make setup")
def test_the_fast_check_agrees_with_rasas_schema_and_rasa_still_explains_a_bad_response():
    result = subprocess.run([str(RASA_PY), "-c", SCRIPT], cwd=ROOT, input=json.dumps(CASES, ensure_ascii=False),
                            capture_output=True, text=True, timeout=300,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads(result.stdout.strip().splitlines()[-1])
    verdicts = data["verdicts"]
    assert [expected for expected, _ in verdicts] == [True] * 6 + [False] * (len(CASES) - 6)
    assert [got for _, got in verdicts] == [expected for expected, _ in verdicts]
    assert "Failed to validate Action server response" in data["raised"]
