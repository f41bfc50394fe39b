"""Does the chat answer what search answers? The knowledge evaluation questions, both ways.

For every in-scope question of knowledge/eval/questions_*.yaml, asks GET /api/knowledge/search and, in a
fresh conversation, POST /api/chat, and counts the question right when the top answerable guide (search)
or the guide of the chat's first guide_answer / situation question / candidate list (chat) is the
expected one. A chat that asks "which of these" with the right guide among the candidates counts as
right for the chat (that is what the caller sees); the figure for strict answers is printed too.

Usage: .venv/app/bin/python bench/chat_vs_search.py [--url http://127.0.0.1:8000] [--limit N] [--failures]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent


def load_questions() -> list[dict]:
    rows = []
    for path in sorted((ROOT / "knowledge" / "eval").glob("questions_*.yaml")):
        rows.extend(r for r in yaml.safe_load(path.read_text(encoding="utf-8")) or [] if r.get("guide"))
    return rows


def chat_guide(messages: list[dict]) -> tuple[str | None, list[str]]:
    """(the guide the chat answered or asked about, candidate guides offered)."""
    for m in messages:
        data = m.get("data") or {}
        if m["kind"] in ("guide_answer", "guide_detail") or (m["kind"] == "clarify" and data.get("guide")):
            return data.get("guide"), []
        if m["kind"] == "clarify" and data.get("candidates"):
            return None, list(data["candidates"])
    return None, []


def post(client: httpx.Client, path: str, **kwargs) -> httpx.Response:
    while True:
        response = client.request("POST" if "json" in kwargs else "GET", path, **kwargs)
        if response.status_code != 429:
            return response
        time.sleep(float(response.headers.get("Retry-After", "1")))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--failures", action="store_true")
    args = parser.parse_args()
    questions = load_questions()[: args.limit or None]
    client = httpx.Client(base_url=args.url, timeout=60)
    search_right = chat_strict = chat_right = 0
    failures = []
    for row in questions:
        found = post(client, "/api/knowledge/search", params={"q": row["q"], "k": 3}).json()
        top = found["results"][0]["name"] if found.get("answerable") and found.get("results") else None
        search_ok = top == row["guide"] or (not found.get("clear") and row["guide"] in found.get("candidates", []))
        messages = post(client, "/api/chat", json={"message": row["q"]}).json().get("messages", [])  # new conversation
        guide, candidates = chat_guide(messages)
        strict = guide == row["guide"]
        ok = strict or row["guide"] in candidates
        search_right += search_ok
        chat_strict += strict
        chat_right += ok
        if search_ok and not ok:
            failures.append((row["q"], row["guide"], [m["kind"] for m in messages], guide or candidates))
    n = len(questions)
    print(f"in-scope knowledge evaluation questions: {n}")
    print("| path | right | share |\n|---|---|---|")
    print(f"| search (/api/knowledge/search, top or candidates) | {search_right} | {search_right / n:.1%} |")
    print(f"| chat (/api/chat, answer, situation question or candidates) | {chat_right} | {chat_right / n:.1%} |")
    print(f"| chat, guide answered or its situation asked | {chat_strict} | {chat_strict / n:.1%} |")
    print(f"search right but chat not: {len(failures)}")
    if args.failures:
        for q, gold, kinds, got in failures:
            print(f"- {q} (expected {gold}) -> {kinds} {got}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
