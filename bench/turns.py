"""Per-turn latency and throughput of /api/chat with 1, 10 and 50 concurrent simulated callers.

    python bench/turns.py                 # starts its own stack on free ports, then measures
    python bench/turns.py --url http://127.0.0.1:8000   # measure a running gateway

Each simulated caller holds a realistic conversation (greeting, guidance question, situation
answer, follow-ups, thanks). Target for later work: p95 under 250 ms at 50 concurrent callers.
"""
from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SCRIPT = ["你好", "孩子刚出生要办什么手续", "/choose_option{\"option\": \"marriage=married\"}", "要多长时间",
          "在哪里办", "能网上办吗", "社保卡丢了怎么补办", "收费吗", "谢谢", "再见"]


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (0-100, nearest rank) of `values`; NaN when there are none. Shared by the benches."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else float("nan")


async def caller(client: httpx.AsyncClient, rounds: int, latencies: list[float], errors: list[str]) -> None:
    for _ in range(rounds):
        session: dict[str, str] = {}  # issued by the gateway with the first answer (sender id and its token)
        for text in SCRIPT:
            start = time.perf_counter()
            try:
                response = await client.post("/api/chat", json={**session, "message": text})
                if response.status_code != 200:
                    errors.append(str(response.status_code))
                    continue
                body = response.json()
                session = {"sender": body["sender"], "token": body["token"]}
            except httpx.HTTPError as exc:
                errors.append(type(exc).__name__)
                continue
            latencies.append(time.perf_counter() - start)


async def measure(url: str, users: int, rounds: int) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=users + 5)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        await client.post("/api/chat", json={"message": "你好"})
        start = time.perf_counter()
        await asyncio.gather(*(caller(client, rounds, latencies, errors) for _ in range(users)))
        elapsed = time.perf_counter() - start
    ms = [x * 1000 for x in latencies]
    return {"users": users, "turns": len(latencies), "errors": len(errors), "seconds": elapsed,
            "throughput": len(latencies) / elapsed, "p50": percentile(ms, 50), "p95": percentile(ms, 95),
            "p99": percentile(ms, 99), "mean": statistics.fmean(ms)}


def report(results: list[dict]) -> None:
    print(f"machine: {platform.node()} {platform.machine()}, cores={__import__('os').cpu_count()}")
    print(f"script: {len(SCRIPT)} turns per conversation")
    print("| concurrent callers | turns | errors | turns/s | p50 ms | p95 ms | p99 ms |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['users']} | {r['turns']} | {r['errors']} | {r['throughput']:.1f} | {r['p50']:.0f} | "
              f"{r['p95']:.0f} | {r['p99']:.0f} |")


def run(url: str, levels: list[int], rounds: int) -> None:
    results = [asyncio.run(measure(url, users, rounds)) for users in levels]
    report(results)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="gateway to measure; default: start a stack on free ports")
    parser.add_argument("--users", default="1,10,50")
    parser.add_argument("--rounds", type=int, default=2, help="conversations per simulated caller")
    args = parser.parse_args()
    levels = [int(x) for x in args.users.split(",")]
    if args.url:
        run(args.url, levels, args.rounds)
        return 0
    from scripts.stack import running_stack

    with tempfile.TemporaryDirectory() as tmp, running_stack(Path(tmp), {"RATE_LIMIT_PER_MINUTE": "100000",
                                                                                 "RATE_LIMIT_PER_CLIENT_PER_MINUTE": "100000"}) as stack:
        run(stack["url"], levels, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
