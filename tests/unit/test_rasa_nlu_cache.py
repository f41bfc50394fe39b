"""Rasa's NLU results are cached per text (scripts/rasa_server.py): with the trained model, a repeated text
gives exactly what the pipeline gives, without running the pipeline again, and no turn can change another's.
Personal data is never cached: texts with numbers or introduced names, and answers to personal questions."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RASA_PY = ROOT / ".venv" / "rasa" / "bin" / "python"
MODELS = sorted((ROOT / "models").glob("*.tar.gz"), key=lambda p: p.stat().st_mtime) if (ROOT / "models").is_dir() else []

SCRIPT = r"""
import asyncio, json, sys
sys.path.insert(0, ".")
import scripts.rasa_server as server
from rasa.core.agent import Agent
from rasa.core.channels.channel import UserMessage
from rasa.core.processor import MessageProcessor
from rasa.shared.core.events import BotUttered
from rasa.shared.core.trackers import DialogueStateTracker

uncached = MessageProcessor._parse_message_with_graph
server._install_nlu_cache()
agent = Agent.load(sys.argv[1])
processor = agent.processor
runs = []
run = processor.graph_runner.run
processor.graph_runner.run = lambda *a, **k: runs.append(1) or run(*a, **k)

async def main():
    texts = ["社保卡丢了怎么补办", "是的", "社保卡丢了怎么补办", "我的电话13812345678", "是的", "社保卡丢了怎么补办",
             "我的电话13812345678"]
    out = []
    for text in texts:
        parsed = await processor.parse_message(UserMessage(text, sender_id="t"))
        out.append(parsed)
    first = out[0]
    first["intent"]["name"] = "changed_by_a_turn"        # a turn altering its own copy
    again = await processor.parse_message(UserMessage("社保卡丢了怎么补办", sender_id="t"))
    reference = uncached(processor, UserMessage("社保卡丢了怎么补办", sender_id="t"), None)
    before = len(runs)
    asked = DialogueStateTracker.from_events("t", [BotUttered("请问申请人的姓名？", data={
        "custom": {"kind": "form_question", "data": {"field": "applicant_name", "type": "name"}}})])
    for _ in range(2):                                     # an answer to a question for a name
        await processor.parse_message(UserMessage("赵敏", sender_id="t"), asked)
    cached = list( processor.__dict__["_hotline_nlu_cache"])
    print(json.dumps({"runs": before, "name_runs": len(runs) - before, "parsed": out[1:6], "again": again,
                      "reference": reference, "cached": cached}, ensure_ascii=False, default=str))

asyncio.run(main())
"""


@pytest.mark.skipif(not RASA_PY.exists() or not MODELS, reason="Rasa's venv and a trained model come from make setup")
def test_a_repeated_text_is_understood_the_same_without_running_the_pipeline_again():
    result = subprocess.run([str(RASA_PY), "-c", SCRIPT, str(MODELS[-1])], cwd=ROOT, capture_output=True,
                            text=True, timeout=600, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["runs"] == 5, data["runs"]      # 2 distinct texts, the phone text twice, the reference call
    assert data["name_runs"] == 2                # an answer to a personal question: understood afresh each time
    assert sorted(data["cached"]) == sorted(["社保卡丢了怎么补办", "是的"])   # no number, no name kept
    texts = [p["text"] for p in data["parsed"]]
    assert texts == ["是的", "社保卡丢了怎么补办", "我的电话13812345678", "是的", "社保卡丢了怎么补办"]
    assert data["parsed"][0] == data["parsed"][3]
    again, reference = data["again"], data["reference"]
    assert again["intent"]["name"] != "changed_by_a_turn"
    assert again["intent"] == reference["intent"] and again["entities"] == reference["entities"]
    assert again["intent_ranking"] == reference["intent_ranking"]
