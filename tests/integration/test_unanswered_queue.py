"""Questions the live assistant could not answer reach the guide editor's queue, masked, grouped and counted."""
from __future__ import annotations

import subprocess
import sys
import time

import httpx

from tests.conftest import ROOT, Conversation

PASSWORD = "queue-test-password"


def test_refused_questions_reach_the_editors_queue(live_stack):
    url, env = live_stack["url"], live_stack["env"]
    subprocess.run([sys.executable, "-m", "core.staff", "add", "queue-editor", "--role", "editor", "--password-stdin"],
                   input=PASSWORD + "\n", text=True, cwd=ROOT, env=env, capture_output=True)
    kinds = []
    for text in ["护照怎么办理，要多长时间能拿到？", "护照怎么办理要多久", "护照怎么办理？我手机13912345678"]:
        caller = Conversation(url)
        kinds.append(caller.say(text)[-1]["kind"])
        caller.client.close()
    assert set(kinds) <= {"guide_not_found", "fallback", "clarify"}, kinds
    token = httpx.post(url + "/api/staff/login", json={"username": "queue-editor", "password": PASSWORD}).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + 10
    while True:
        queue = httpx.get(url + "/api/unanswered", headers=headers).json()
        passport = [g for g in queue["groups"] if "护照" in g["text"]]
        if passport and passport[0]["count"] >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert passport and passport[0]["count"] >= 3, queue
    assert "13912345678" not in str(queue) and any("139****5678" in t for t in passport[0]["texts"])
    assert httpx.get(url + "/api/unanswered").status_code == 401
