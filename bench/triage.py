"""Triage of first messages: emergency, police matter, appeal (工单), service question or status check.

    .venv/app/bin/python bench/triage.py              # starts a throw-away stack (make setup first)
    .venv/app/bin/python bench/triage.py --url http://127.0.0.1:8000 --errors

Each message of bench/data/triage_eval.yaml opens a new conversation; the kinds of the reply say where it
went. Prints recall per category, the confusion table and, with --errors, every miss. The set was written for
this benchmark and is not used to train or tune anything (see the file's header).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter, defaultdict
from contextlib import nullcontext
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT / "bench" / "data" / "triage_eval.yaml"
CATEGORIES = ("emergency", "police", "appeal", "service", "status")


def route_of(kinds: list[str]) -> str:
    """Where a reply sent the caller, from its message kinds."""
    if "emergency" in kinds:
        return "emergency"
    if "police_referral" in kinds:
        return "police"
    if any(k.startswith("ticket_") for k in kinds):
        return "appeal"
    if any(k.startswith("status_") for k in kinds):
        return "status"
    if {"guide_answer", "clarify", "guide_detail", "application_choose", "application_started"} & set(kinds):
        return "service"
    return "other:" + (kinds[0] if kinds else "none")


def run(url: str, cases: dict[str, list[str]]) -> list[dict]:
    results = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for expected, texts in cases.items():
            for text in texts:
                session = client.post("/api/chat/session")
                body = session.json() if session.status_code == 201 else {"sender": None, "token": None}
                reply = client.post("/api/chat", json={"sender": body.get("sender"), "token": body.get("token"),
                                                       "message": text})
                kinds = [m["kind"] for m in reply.json().get("messages", [])] if reply.status_code == 200 else \
                    [f"http_{reply.status_code}"]
                results.append({"expected": expected, "got": route_of(kinds), "text": text, "kinds": kinds})
    return results


def report(results: list[dict], errors: bool) -> dict:
    by_cat: dict[str, Counter] = defaultdict(Counter)
    for r in results:
        by_cat[r["expected"]][r["got"]] += 1
    summary = {}
    print(f"{'category':<10} {'n':>4} {'recall':>7}   routed to")
    for cat in CATEGORIES:
        row = by_cat.get(cat, Counter())
        n = sum(row.values())
        if not n:
            continue
        recall = row[cat] / n
        # precision: of everything routed to cat, how much belonged there
        routed = sum(by_cat[c][cat] for c in by_cat)
        precision = (row[cat] / routed) if routed else 0.0
        summary[cat] = {"n": n, "recall": round(recall, 3), "precision": round(precision, 3)}
        others = ", ".join(f"{k} {v}" for k, v in row.most_common() if k != cat)
        print(f"{cat:<10} {n:>4} {recall:>7.3f}   precision {precision:.3f}   {others}")
    right = sum(1 for r in results if r["expected"] == r["got"])
    summary["overall"] = {"n": len(results), "accuracy": round(right / max(1, len(results)), 3)}
    print(f"overall accuracy {summary['overall']['accuracy']:.3f} on {len(results)} first messages")
    if errors:
        for r in results:
            if r["expected"] != r["got"]:
                print(f"  [{r['expected']} -> {r['got']}] {r['text']}  {r['kinds']}")
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running gateway; default: start a throw-away stack")
    parser.add_argument("--errors", action="store_true", help="print every misrouted message")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON too")
    args = parser.parse_args()
    cases = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    if args.url:
        stack = nullcontext({"url": args.url})
    else:
        from scripts.stack import running_stack

        stack = running_stack(Path(tempfile.mkdtemp(prefix="triage-")), {"RATE_LIMIT_PER_MINUTE": "1000"})
    with stack as s:
        summary = report(run(s["url"], cases), args.errors)
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
