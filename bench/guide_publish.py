"""Publish-to-answer time of the guide editor: a reviewer publishes a changed guide, how long until callers get it.

    python bench/guide_publish.py                 # starts its own stack on free ports, then measures
    python bench/guide_publish.py --rounds 5

Each round changes one material name of 居民身份证换领补领 (searchable text: the guide is re-embedded in every
process), saves it as a draft, submits it, publishes it with a second account, and then asks, every 0.25 s:
the chat (/api/chat: Rasa -> action server, which answers from its own in-memory catalog) until the answer lists
the new material, and the search API (/api/knowledge/search: the gateway's own derived index) until a question
naming only the new material ranks the guide first. A rollback is measured the same way. The processes poll the
store every GUIDE_POLL_MS (1000 ms), so about 0.5 s of each figure is the poll's phase.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GUIDE = "居民身份证换领补领"
PASSWORD = "bench-password-123"


def add_staff(env: dict, username: str, role: str) -> None:
    subprocess.run([sys.executable, "-m", "core.staff", "add", username, "--role", role, "--password-stdin"],
                   input=PASSWORD + "\n", text=True, cwd=ROOT, env=env, capture_output=True)


def login(url: str, username: str) -> dict:
    r = httpx.post(url + "/api/staff/login", json={"username": username, "password": PASSWORD}, timeout=30)
    r.raise_for_status()
    return {"Authorization": "Bearer " + r.json()["token"]}


def chat_materials(url: str) -> list[str]:
    with httpx.Client(base_url=url, timeout=60) as client:
        session = client.post("/api/chat/session")
        ids = session.json() if session.status_code == 201 else {"sender": f"bench-{time.monotonic_ns()}"}

        def say(text: str) -> list[dict]:
            r = client.post("/api/chat", json={**ids, "message": text})
            r.raise_for_status()
            return r.json()["messages"]

        messages = say('/choose_guide{"guide": "%s"}' % GUIDE)
        if messages[-1]["kind"] == "clarify":
            messages = say(messages[-1]["buttons"][0]["payload"])
        answer = [m for m in messages if m["kind"] == "guide_answer"][-1]
        return [m["name"] for m in answer["data"]["materials"]]


def search_top(url: str, question: str) -> str | None:
    r = httpx.get(url + "/api/knowledge/search", params={"q": question, "k": 1}, timeout=30)
    results = r.json().get("results") or []
    return results[0]["name"] if results else None


def until(check, limit: float = 60.0) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > limit:
            return float("inf")
        time.sleep(0.25)
    return time.monotonic() - started


def one_round(url: str, editor: dict, reviewer: dict, n: int) -> dict:
    guide_url = url + "/api/guides/" + quote(GUIDE)
    guide = httpx.get(guide_url, headers=editor, timeout=30).json()
    old_version = guide["version"]
    new_name = f"原居民身份证（第{n}次修订，含芯片核验说明{n}号）"
    guide["materials"][0]["name"] = new_name
    guide["aliases"] = guide["aliases"] + [f"身份证芯片核验{n}号单"]
    httpx.put(guide_url + "/draft", json=guide, headers=editor, timeout=30).raise_for_status()
    httpx.post(guide_url + "/submit", json={}, headers=editor, timeout=30).raise_for_status()
    published = time.monotonic()
    httpx.post(guide_url + "/publish", json={"note": "bench"}, headers=reviewer, timeout=30).raise_for_status()
    chat = until(lambda: new_name in chat_materials(url))
    chat_total = time.monotonic() - published
    search = until(lambda: search_top(url, f"身份证芯片核验{n}号单") == GUIDE)
    search_total = time.monotonic() - published
    rolled = time.monotonic()
    httpx.post(guide_url + "/rollback", json={"version": old_version}, headers=reviewer, timeout=30).raise_for_status()
    back = until(lambda: new_name not in chat_materials(url))
    return {"chat": chat_total, "search": search_total, "rollback": time.monotonic() - rolled,
            "chat_wait": chat, "search_wait": search, "back_wait": back}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from scripts.stack import running_stack

    with tempfile.TemporaryDirectory() as tmp, running_stack(Path(tmp), {
            "RATE_LIMIT_PER_MINUTE": "100000", "RATE_LIMIT_PER_CLIENT_PER_MINUTE": "100000"}) as stack:
        url, env = stack["url"], stack["env"]
        add_staff(env, "bench-editor", "editor")
        add_staff(env, "bench-reviewer", "supervisor")
        editor, reviewer = login(url, "bench-editor"), login(url, "bench-reviewer")
        rows = [one_round(url, editor, reviewer, n) for n in range(1, args.rounds + 1)]
    print(f"machine: {platform.node()} {platform.machine()}, cores={os.cpu_count()}, "
          f"date: {time.strftime('%Y-%m-%d')}, poll: {os.environ.get('GUIDE_POLL_MS', '1000')} ms")
    print("| round | publish -> chat answer (s) | publish -> search ranks it (s) | rollback -> chat (s) |")
    print("|---|---|---|---|")
    for n, r in enumerate(rows, 1):
        print(f"| {n} | {r['chat']:.1f} | {r['search']:.1f} | {r['rollback']:.1f} |")
    for key in ("chat", "search", "rollback"):
        values = [r[key] for r in rows]
        print(f"{key}: median {statistics.median(values):.1f} s, max {max(values):.1f} s")
    return 0 if all(max(r["chat"], r["search"], r["rollback"]) <= 10 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
