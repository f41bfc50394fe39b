"""Capacity at a human pace (issue 14, part 1): N callers, each sending its next turn after a jittered think time
(default 3 s ±50%), N rising until p95 passes 300 ms (or a turn fails); CPU ms per answered turn and the memory
of the whole stack at each level.

    nice -n 10 .venv/app/bin/python bench/capacity.py --target single    # `make run`'s embedded stack
    nice -n 10 .venv/app/bin/python bench/capacity.py --target rasa      # reference: Rasa's own REST channel
    nice -n 10 .venv/app/bin/python bench/capacity.py --target plain     # the same, `rasa run` as shipped
    nice -n 10 .venv/app/bin/python bench/capacity.py --target cluster   # scripts/cluster.py, private PG + Redis
    options: --levels 10,20,40,60,80,100,150 --level-seconds 60 --think 3

Targets: `single` and `rasa` start scripts/stack.py's stack (SQLite, one process of each); `rasa` sends the same
turns straight to Rasa's REST webhook (`rasa run` of the same model with its action server, no gateway): the
reference for what the gateway adds. `plain` does the same with Rasa started as `rasa run` is shipped, without
scripts/rasa_server.py's fixes (same model, endpoints and action server): the reference for what they changed.
CPU is read from /proc for every process of the stack (the supervisor's process tree, plus the private
PostgreSQL and Redis in the cluster); memory as RSS and PSS (PSS shares shared pages fairly, so it does not
double-count libraries).
Callers mix one-table forms with guide questions (bench/cluster_load.py).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

from turns import percentile
from cluster_load import Caller, Stats, running_cluster

TICKS = os.sysconf("SC_CLK_TCK")
# every simulated caller comes from 127.0.0.1: lift the per-address flood limit (300/min) for the bench only
BENCH_ENV = {"RATE_LIMIT_PER_CLIENT_PER_MINUTE": "1000000"}


def tree(root: int | list[int]) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], list(root) if isinstance(root, list) else [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total / TICKS


def calibration_ms(repeats: int = 5) -> float:
    """Milliseconds one core takes for a fixed piece of the work a turn does (JSON-encoding and decoding a
    40-event conversation 200 times), the best of `repeats`, before the stack starts: machines of the same kind
    differ up to 2.5 times in speed per turn, and this figure tells runs on different machines apart."""
    events = [{"event": "user" if i % 2 else "bot", "timestamp": 1.7e9 + i, "text": "请问社保卡丢了怎么补办" * 3,
               "metadata": {"turn_id": f"{i:032x}"}, "parse_data": {"intent": {"name": "ask_guide", "confidence": 0.9},
                                                                   "entities": [], "text": "社保卡"}} for i in range(40)]
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(200):
            json.loads(json.dumps({"sender_id": "x", "events": events}))
        best = min(best, time.perf_counter() - start)
    return best * 1000


PROCESS_KINDS = (("rasa", "rasa_server.py"), ("rasa", "-mrasarun"), ("actions", "action_server.py"),
                 ("gateway", "connectors.gateway.app"), ("postgres", "postgres"), ("redis", "redis-server"),
                 ("haproxy", "haproxy"))


def by_kind(pids: list[int], measure) -> dict[str, float]:
    """`measure([pid])` summed over each kind of process of the stack (Rasa, action server, gateway, ...), to see
    where a turn's CPU or the stack's memory goes."""
    found: dict[str, float] = {}
    for pid in pids:
        line = _cmdline(pid)
        kind = next((name for name, mark in PROCESS_KINDS if mark in line), "other")
        found[kind] = found.get(kind, 0.0) + measure([pid])
    return found


def cpu_by_kind(pids: list[int]) -> dict[str, float]:
    return by_kind(pids, cpu_seconds)


def memory_mb(pids: list[int]) -> tuple[float, float]:
    """(RSS, PSS) in MB."""
    rss = pss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except (OSError, ValueError):
            pass
    return rss / 1024, pss / 1024


class RasaCaller(Caller):
    """The same caller talking to Rasa's REST channel directly (no gateway, no token, no safety rule)."""

    async def turn(self, text: str, retries: int = 3, label: str = "") -> list[dict]:
        sender = self.session.setdefault("sender", f"bench-{id(self)}-{random.random():.9f}")
        for _ in range(retries):
            await asyncio.sleep(self.think * self.rng.uniform(0.5, 1.5))
            start = time.perf_counter()
            self.stats.turns += 1
            try:
                response = await self.client.post("/webhooks/rest/webhook", json={"sender": sender, "message": text})
                if response.status_code == 200:
                    self.stats.latencies.append(time.perf_counter() - start)
                    return [m.get("custom") or {"kind": "text", "data": {}} for m in response.json()]
                self.stats.errors.append((time.time(), str(response.status_code)))
            except httpx.HTTPError as exc:
                self.stats.errors.append((time.time(), type(exc).__name__))
        raise RuntimeError("no answer")

    async def application(self) -> None:
        self.session = {}
        await super().application()


@contextmanager
def target_stack(target: str):
    if target == "cluster":
        os.environ.update(BENCH_ENV)
        with running_cluster() as cluster:
            roots = [cluster["state"]()["supervisor_pid"], cluster["redis"].proc.pid, cluster["pg"].postmaster_pid()]
            yield {"url": cluster["url"], "root": roots}
        return
    from scripts.stack import running_stack

    extra = {**BENCH_ENV, "RASA_AS_SHIPPED": "1"} if target == "plain" else dict(BENCH_ENV)
    with tempfile.TemporaryDirectory() as tmp, running_stack(Path(tmp), extra) as stack:
        port = stack["env"]["PORT"]
        supervisor = next(pid for pid in tree(1) if "supervise.py" in _cmdline(pid) and _has_env(pid, f"PORT={port}"))
        url = stack["url"] if target == "single" else f"http://127.0.0.1:{stack['env']['RASA_PORT']}"
        yield {"url": url, "root": [supervisor]}


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", "").replace(" ", "")
    except OSError:
        return ""


def _has_env(pid: int, pair: str) -> bool:
    try:
        return pair in Path(f"/proc/{pid}/environ").read_text(errors="replace").split("\0")
    except OSError:
        return False


async def level(url: str, root: int, callers: int, seconds: float, think: float, rasa: bool) -> dict:
    stats = Stats()
    pids = tree(root)
    kinds0, cpu0, t0 = cpu_by_kind(pids), cpu_seconds(pids), time.monotonic()
    limits = httpx.Limits(max_connections=callers + 5)
    cls = RasaCaller if rasa else Caller
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        people = [cls(client, stats, think, t0 + seconds, random.Random(i)) for i in range(callers)]
        results = await asyncio.gather(*(p.run("mixed") for p in people), return_exceptions=True)
    elapsed = time.monotonic() - t0
    pids = tree(root)
    cpu = cpu_seconds(pids) - cpu0
    cpu_kinds = {kind: (seconds - kinds0.get(kind, 0.0)) * 1000 / max(1, len(stats.latencies))
               for kind, seconds in cpu_by_kind(pids).items()}
    rss, pss = memory_mb(pids)
    rss_by_kind = by_kind(pids, lambda one: memory_mb(one)[0])
    ms = [x * 1000 for x in stats.latencies]
    failed = len(stats.errors) + sum(1 for r in results if isinstance(r, Exception))
    kinds = sorted({what for _, what in stats.errors})
    return {"callers": callers, "turns": len(ms), "errors": failed, "error_kinds": kinds, "seconds": elapsed,
            "turns_per_s": len(ms) / elapsed, "p50": percentile(ms, 50), "p95": percentile(ms, 95),
            "cpu_ms_per_turn": cpu * 1000 / max(1, len(ms)),
            "cpu_ms_per_turn_by_process": {k: round(v, 1) for k, v in sorted(cpu_kinds.items()) if v >= 0.05},
            "cpu_cores": cpu / elapsed, "rss_mb": rss, "pss_mb": pss,
            "rss_mb_by_process": {k: round(v) for k, v in sorted(rss_by_kind.items()) if v >= 1}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", choices=["single", "rasa", "plain", "cluster"], default="single")
    parser.add_argument("--levels", default="10,20,40,60,80,100,150,200")
    parser.add_argument("--level-seconds", type=float, default=60)
    parser.add_argument("--think", type=float, default=3.0)
    parser.add_argument("--p95-limit", type=float, default=300)
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    calibration = calibration_ms()
    rows = []
    with target_stack(args.target) as stack:
        for n in levels:
            row = asyncio.run(level(stack["url"], stack["root"], n, args.level_seconds, args.think,
                                    args.target in ("rasa", "plain")))
            rows.append(row)
            print(f"  {n} callers: p95 {row['p95']:.0f} ms, {row['errors']} errors {row['error_kinds']}", flush=True)
            if row["p95"] > args.p95_limit or row["errors"]:
                break
    print(f"\nmachine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores (shared with other jobs); "
          f"target {args.target}; think {args.think:.0f} s ±50%; {args.level_seconds:.0f} s per level; "
          f"calibration {calibration:.0f} ms (bench/capacity.py calibration_ms: lower is faster)")
    print("| callers | turns | errors | turns/s | p50 ms | p95 ms | CPU ms/turn | CPU cores | RSS MB | PSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['callers']} | {r['turns']} | {r['errors']} | {r['turns_per_s']:.1f} | {r['p50']:.0f} | "
              f"{r['p95']:.0f} | {r['cpu_ms_per_turn']:.0f} | {r['cpu_cores']:.2f} | {r['rss_mb']:.0f} | "
              f"{r['pss_mb']:.0f} |")
    print("\nCPU ms per turn by process: " + "; ".join(
        f"{r['callers']} callers: " + ", ".join(f"{k} {v}" for k, v in r["cpu_ms_per_turn_by_process"].items())
        for r in rows))
    print("RSS MB by process: " + "; ".join(
        f"{r['callers']} callers: " + ", ".join(f"{k} {v}" for k, v in r["rss_mb_by_process"].items())
        for r in rows))


if __name__ == "__main__":
    main()
