"""Replay the caller turns of bench/data/chat_eval.yaml through POST /api/chat and score the answers.

    .venv/app/bin/python bench/chat_eval.py                       # running gateway on :8000
    .venv/app/bin/python bench/chat_eval.py --category emergency --failures
    .venv/app/bin/python bench/chat_eval.py --limit 20 --json

Each case gets a fresh sender id (one conversation per case, well under the per-sender rate limit).
Only the bot messages of the LAST turn are checked: a case passes if one of them has an expected kind
(and the expected guide / items when given) and none of them has a kind listed in `not_kind`.
Prints the share of cases right per category and overall.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data" / "chat_eval.yaml"
CATEGORIES = ("guide", "clarify", "context", "form", "status", "handoff", "emergency", "not_emergency",
              "smalltalk", "out_of_scope", "bundle_items")
MAX_RETRIES = 5


def load_cases(path: Path = DATA) -> list[dict[str, Any]]:
    cases = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    for case in cases:
        case["turns"] = [str(t) for t in case["turns"]]
        case.setdefault("expect", {})
    return cases


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple, set)) else [value]


def message_matches(expect: dict[str, Any], message: dict[str, Any]) -> bool:
    """One bot message satisfies the positive part of the expectation (kind, guide, items)."""
    kinds = _as_list(expect.get("kind"))
    if kinds and message.get("kind") not in kinds:
        return False
    data = message.get("data") or {}
    guides = _as_list(expect.get("guide"))
    if guides:
        named = {data.get("guide"), data.get("form")} | set(_as_list(data.get("candidates")))
        if not named & set(guides):
            return False
    if "items" in expect:
        if "items" not in data or set(_as_list(data["items"])) != set(expect["items"]):
            return False
    return True


def check(expect: dict[str, Any], messages: list[dict[str, Any]]) -> tuple[bool, str]:
    """(passed, reason) for the bot messages of the last turn."""
    forbidden = set(_as_list(expect.get("not_kind")))
    bad = [m.get("kind") for m in messages if m.get("kind") in forbidden]
    if bad:
        return False, f"forbidden kind {bad[0]}"
    positive = any(k in expect for k in ("kind", "guide", "items"))
    if not positive:
        return True, ""
    if not messages:
        return False, "no bot message"
    if any(message_matches(expect, m) for m in messages):
        return True, ""
    return False, "no message matches kind/guide/items"


def summarise(message: dict[str, Any]) -> dict[str, Any]:
    """What came back, short enough to read in a failure list."""
    data = message.get("data") or {}
    out: dict[str, Any] = {"kind": message.get("kind")}
    for key in ("guide", "form", "candidates", "items", "question", "aspect"):
        if data.get(key):
            out[key] = data[key]
    out["text"] = (message.get("text") or "").replace("\n", " ")[:80]
    return out


class Replayer:
    def __init__(self, url: str, timeout: float = 60.0) -> None:
        self.client = httpx.Client(base_url=url, timeout=timeout)

    def close(self) -> None:
        self.client.close()

    def send(self, session: dict[str, str], text: str) -> list[dict[str, Any]]:
        """One turn of the conversation `session` ({} = a new one; filled with the issued sender id and token)."""
        for _ in range(MAX_RETRIES):
            response = self.client.post("/api/chat", json={**session, "message": text})
            if response.status_code == 429:
                wait = float(response.headers.get("Retry-After") or 5)
                time.sleep(min(max(wait, 1.0), 120.0))
                continue
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
            body = response.json()
            session.update(sender=body["sender"], token=body["token"])
            return body.get("messages", [])
        raise RuntimeError("still rate limited after retries")

    def run_case(self, case: dict[str, Any]) -> dict[str, Any]:
        session: dict[str, str] = {}  # a fresh conversation per case
        start = time.perf_counter()
        messages: list[dict[str, Any]] = []
        try:
            for text in case["turns"]:
                messages = self.send(session, text)
        except (httpx.HTTPError, RuntimeError, ValueError) as exc:
            return {"id": case["id"], "category": case["category"], "passed": False,
                    "reason": f"error: {type(exc).__name__}: {exc}", "got": [],
                    "seconds": time.perf_counter() - start}
        passed, reason = check(case["expect"], messages)
        return {"id": case["id"], "category": case["category"], "passed": passed, "reason": reason,
                "got": [summarise(m) for m in messages], "seconds": time.perf_counter() - start}


def select(cases: list[dict[str, Any]], categories: list[str] | None, ids: list[str] | None,
           limit: int | None) -> list[dict[str, Any]]:
    if categories:
        cases = [c for c in cases if c["category"] in categories]
    if ids:
        cases = [c for c in cases if c["id"] in ids]
    return cases[:limit] if limit else cases


def report(results: list[dict[str, Any]]) -> dict[str, Any]:
    by_category: dict[str, list[bool]] = defaultdict(list)
    for r in results:
        by_category[r["category"]].append(r["passed"])
    categories = {cat: {"cases": len(v), "passed": sum(v), "share": sum(v) / len(v)}
                  for cat, v in sorted(by_category.items())}
    passed = sum(r["passed"] for r in results)
    return {"cases": len(results), "passed": passed, "overall": passed / len(results) if results else 0.0,
            "categories": categories}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="gateway base URL")
    parser.add_argument("--data", default=str(DATA), help="case file (default bench/data/chat_eval.yaml)")
    parser.add_argument("--category", action="append", choices=CATEGORIES,
                        help="only this category (repeatable)")
    parser.add_argument("--id", action="append", dest="ids", help="only this case id (repeatable)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N selected cases")
    parser.add_argument("--failures", action="store_true", help="list failed cases with what came back")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per HTTP request")
    args = parser.parse_args(argv)

    cases = select(load_cases(Path(args.data)), args.category, args.ids, args.limit)
    if not cases:
        print("no cases selected", file=sys.stderr)
        return 2
    replayer = Replayer(args.url, args.timeout)
    results = []
    start = time.perf_counter()
    try:
        for i, case in enumerate(cases, 1):
            results.append(replayer.run_case(case))
            if not args.json and sys.stderr.isatty():
                print(f"\r{i}/{len(cases)}", end="", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print("\ninterrupted; scoring the cases run so far", file=sys.stderr)
    finally:
        replayer.close()
    if not args.json and sys.stderr.isatty():
        print(file=sys.stderr)
    elapsed = time.perf_counter() - start
    summary = report(results)
    summary.update({"url": args.url, "seconds": round(elapsed, 1)})
    by_id = {c["id"]: c for c in cases}
    failed = [r for r in results if not r["passed"]]

    if args.json:
        summary["failures"] = [{"id": r["id"], "category": r["category"], "turns": by_id[r["id"]]["turns"],
                                "expect": by_id[r["id"]]["expect"], "reason": r["reason"], "got": r["got"]}
                               for r in failed]  # always listed in JSON: it is for machines
        print(json.dumps(summary, ensure_ascii=False, indent=2))
        return 0

    print(f"chat replay against {args.url}: {summary['cases']} cases in {elapsed:.0f} s")
    print("| category | cases | right | share |")
    print("|---|---|---|---|")
    for cat, row in summary["categories"].items():
        print(f"| {cat} | {row['cases']} | {row['passed']} | {row['share']:.1%} |")
    print(f"| **overall** | {summary['cases']} | {summary['passed']} | {summary['overall']:.1%} |")
    if args.failures and failed:
        print(f"\nfailures ({len(failed)}):")
        for r in failed:
            case = by_id[r["id"]]
            print(f"- {r['id']} [{r['category']}] {' → '.join(case['turns'])}")
            print(f"    expected {json.dumps(case['expect'], ensure_ascii=False)}; {r['reason']}")
            for got in r["got"] or [{"kind": "(nothing)"}]:
                print(f"    got {json.dumps(got, ensure_ascii=False)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
