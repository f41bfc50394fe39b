"""Fault injection in the scale-out mode under a light load of simulated callers (issue 14, part 3).

    nice -n 10 .venv/app/bin/python bench/faults.py              # ~4 minutes: 12 callers, 6 faults
    nice -n 10 .venv/app/bin/python bench/faults.py --callers 20 --think 3

Starts scripts/cluster.py (2 Rasa, 2 action servers, 2 gateways, HAProxy) on a private PostgreSQL and a private
Redis (bench/cluster_load.py: this machine's shared servers are used by other jobs, so they are never
restarted), lets callers fill in one-table forms (and ask questions) at a human pace, and meanwhile:
kill -9 of one Rasa, one action server and one gateway process, a restart of PostgreSQL and one of Redis.
Then it checks every conversation and submission: each application stored exactly once with the caller's
answers, a repeated confirmation returning the same receipt, no form answer lost. It prints what it found.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import signal
import time

import httpx

from turns import percentile
from cluster_load import Caller, Stats, check_submissions, running_cluster


async def inject(cluster: dict, schedule: list[tuple[float, str]], t0: float, log: list[dict]) -> None:
    for at, fault in schedule:
        await asyncio.sleep(max(0.0, t0 + at - time.monotonic()))
        started = time.time()
        if fault.startswith("kill "):
            name = fault.split()[1]
            pid = next(p["pid"] for p in cluster["state"]()["processes"] if p["name"] == name)
            os.kill(pid, signal.SIGKILL)
            detail = f"SIGKILL pid {pid}"
        elif fault == "restart postgresql":
            await asyncio.to_thread(cluster["pg"].restart)
            detail = f"pg_ctl restart -m fast ({time.time() - started:.1f} s)"
        elif fault == "restart redis":
            await asyncio.to_thread(cluster["redis"].restart)
            detail = f"redis-server killed and started again ({time.time() - started:.1f} s)"
        else:
            raise ValueError(fault)
        log.append({"at": at, "fault": fault, "detail": detail, "time": started, "end": time.time()})
        print(f"  t={at:>5.0f}s  {fault:<20} {detail}", flush=True)


async def recovered(url: str, timeout: float = 180) -> float:
    """Seconds until /health through the balancer says 200 again."""
    start = time.monotonic()
    async with httpx.AsyncClient(timeout=5) as client:
        while time.monotonic() - start < timeout:
            try:
                if (await client.get(f"{url}/health")).status_code == 200:
                    return time.monotonic() - start
            except httpx.HTTPError:
                pass
            await asyncio.sleep(1)
    return float("inf")


async def run(cluster: dict, callers: int, think: float, seconds: float, schedule) -> dict:
    stats = Stats()
    log: list[dict] = []
    rng = random.Random(14)
    t0 = time.monotonic()
    limits = httpx.Limits(max_connections=callers + 5)
    async with httpx.AsyncClient(base_url=cluster["url"], timeout=60, limits=limits) as client:
        people = [Caller(client, stats, think, t0 + seconds, random.Random(rng.random())) for _ in range(callers)]
        tasks = [asyncio.create_task(p.run("mixed" if i % 3 == 2 else "forms")) for i, p in enumerate(people)]
        await inject(cluster, schedule, t0, log)
        await asyncio.gather(*tasks, return_exceptions=False)
    health_after = await recovered(cluster["url"])
    return {"stats": stats, "faults": log, "elapsed": time.monotonic() - t0, "health_after": health_after}


def report(result: dict, checks: dict, restarts: dict, args) -> None:
    stats: Stats = result["stats"]
    ms = [x * 1000 for x in stats.latencies]
    print(f"\nmachine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores (shared with other jobs)")
    print(f"load: {args.callers} callers, think time {args.think:.1f} s ±50%, {result['elapsed']:.0f} s")
    print(f"turns: {stats.turns} sent, {len(stats.latencies)} answered, {len(stats.errors)} failed and repeated by "
          f"the caller; p50 {percentile(ms, 50):.0f} ms, p95 {percentile(ms, 95):.0f} ms, max {max(ms):.0f} ms")
    print("| fault | failed turns until 30 s after it or the next fault (what callers saw) |")
    print("|---|---|")
    faults = result["faults"]
    for i, fault in enumerate(faults):
        until = min(fault["end"] + 30, faults[i + 1]["time"] - 1 if i + 1 < len(faults) else float("inf"))
        seen = [what for t, what in stats.errors if fault["time"] - 1 <= t <= until]
        kinds = {w: seen.count(w) for w in sorted(set(seen))}
        print(f"| {fault['fault']} ({fault['detail']}) | {len(seen)} {kinds if kinds else ''} |")
    print(f"processes restarted by the cluster supervisor: {restarts}")
    print(f"health through the balancer after the last fault: 200 after {result['health_after']:.0f} s")
    print(f"form conversations: {stats.conversations} started, {len(stats.submissions)} submitted, "
          f"{stats.unfinished} not finished, answers lost: {len(stats.lost_answers)}; answers said again after a "
          f"reply that was not the form's: {stats.repeated}")
    if stats.unfinished_replies:
        print(f"  not finished, last reply kinds: {stats.unfinished_replies}")
    print(f"submissions: {checks['submitted']} receipts, {checks['rows']} rows in the database, "
          f"problems: {len(checks['problems'])}")
    for line in (stats.lost_answers + checks["problems"])[:20]:
        print(f"  ! {line}")
    lost = len(stats.lost_answers) + len(checks["problems"])
    print(f"RESULT: {'nothing lost or duplicated' if not lost else f'{lost} problems'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--callers", type=int, default=12)
    parser.add_argument("--think", type=float, default=3.0)
    parser.add_argument("--seconds", type=float, default=150, help="callers start new conversations this long")
    args = parser.parse_args()
    schedule = [(20, "kill rasa-1"), (40, "kill actions-1"), (60, "kill gateway-1"), (85, "restart redis"),
                (110, "restart postgresql"), (130, "kill rasa-2")]
    os.environ["RATE_LIMIT_PER_CLIENT_PER_MINUTE"] = "1000000"  # every simulated caller comes from 127.0.0.1
    with running_cluster() as cluster:
        print(f"cluster ready at {cluster['url']}; faults:", flush=True)
        result = asyncio.run(run(cluster, args.callers, args.think, args.seconds, schedule))
        checks = check_submissions(cluster["database_url"], result["stats"])
        restarts = {p["name"]: p["restarts"] for p in cluster["state"]()["processes"] if p["restarts"]}
    report(result, checks, restarts, args)


if __name__ == "__main__":
    main()
