"""Fault injection in the scale-out mode under a light load of simulated callers (issue 14, part 3).

    nice -n 10 .venv/app/bin/python bench/faults.py              # ~4 minutes: 12 callers, 6 faults
    nice -n 10 .venv/app/bin/python bench/faults.py --callers 20 --think 3

Starts scripts/cluster.py (2 Rasa, 2 action servers, 2 gateways, HAProxy) on a private PostgreSQL and a private
Redis (bench/cluster_load.py: this machine's shared servers are used by other jobs, so they are never
restarted), lets callers fill in one-table forms (and ask questions) at a human pace, and meanwhile:
kill -9 of one Rasa, one action server and one gateway process, a restart of PostgreSQL and one of Redis.
A third of the callers file appeals (工单) instead: a complaint, a request for help or a suggestion about their
own address, with their own name and phone; now and then one of them asks for a person instead, twice. Then it
checks every conversation and submission: each application stored exactly once with the caller's answers, a
repeated confirmation returning the same receipt, no form answer lost; each ticket stored exactly once under its conversation with the caller's phone, and no ticket
stored that no caller was given a number for; one place in the queue for each caller who asked for a person. It
prints what it found.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import signal
import time
from dataclasses import dataclass, field

import httpx

from turns import percentile
from cluster_load import Caller, Stats, check_submissions, running_cluster

@dataclass
class FaultStats(Stats):
    tickets: list[dict] = field(default_factory=list)        # {"sender", "number", "phone"}
    ticket_conversations: int = 0
    unfinished_tickets: list[str] = field(default_factory=list)  # what the bot said when an intake went astray
    handoffs: list[dict] = field(default_factory=list)       # {"sender", "states": handoff states the caller saw}


TICKET_OPENINGS = ("我要投诉，{place}门口的垃圾站好几天没人清运了", "求助，{place}楼上漏水好几天了找不到人",
                   "建议在{place}旁边的路口加一个红绿灯")


class TicketCaller(Caller):
    """A citizen filing an appeal about their own address, answering whatever the bot asks; a turn whose reply
    is not the intake's (the polite "please say it again" during a fault) is said again, as in a form."""

    async def ticket_turn(self, text: str) -> list[dict]:
        return await self.said_until(text, {"ticket_question", "ticket_summary", "ticket_ack", "ticket_started"})

    async def ticket(self) -> None:
        place = f"锦绣华城{self.rng.randint(1, 60)}号楼{self.rng.randint(1, 30)}单元{self.rng.randint(101, 2999)}"
        answers = {"description": "好几天了，一直没人管", "address": place, "occurred": "上周开始",
                   "caller_name": self.rng.choice("王李张刘陈杨赵黄") + self.rng.choice(("女士", "先生")),
                   "phone": f"139{self.rng.randint(0, 99999999):08d}", "appeal_type": "投诉"}
        self.session = {}
        messages = await self.ticket_turn(self.rng.choice(TICKET_OPENINGS).format(place=place))
        self.stats.ticket_conversations += 1
        for _ in range(12):
            kinds = [m["kind"] for m in messages]
            if "ticket_summary" in kinds:
                break
            questions = [m for m in messages if m["kind"] == "ticket_question"]
            if not questions:
                self.stats.unfinished_tickets.append(",".join(kinds))
                return
            messages = await self.ticket_turn(answers.get(questions[-1]["data"].get("field"), "没有"))
        else:
            self.stats.unfinished_tickets.append("no summary")
            return
        created = [m for m in await self.turn("确认提交") if m["kind"] == "ticket_created"]
        if not created:
            self.stats.unfinished_tickets.append("no ticket_created")
            return
        self.stats.tickets.append({"sender": self.session["sender"], "number": created[0]["data"]["number"],
                                   "phone": answers["phone"]})

    async def handoff(self) -> None:
        """Ask for a person, and ask again (a caller who did not see the first answer): one place in the queue."""
        self.session = {}
        await self.turn("你好")
        states = []
        for text in ("转人工", "我要找人工客服"):
            states += [m["data"].get("state") for m in await self.turn(text) if m["kind"] == "handoff"]
        self.stats.handoffs.append({"sender": self.session["sender"], "states": states})

    async def run(self, mix: str) -> None:
        while time.monotonic() < self.stop_at:
            await (self.handoff() if self.rng.random() < 0.25 else self.ticket())


def check_tickets(database_url: str, stats: FaultStats) -> dict:
    """Every ticket a caller was given a number for stored exactly once, under its conversation, with the
    caller's phone; no other ticket stored."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT number, sender, phone FROM tickets")).all()
        handoffs = conn.execute(text("SELECT sender, state FROM handoff_conversations")).all()
    engine.dispose()
    problems: list[str] = []
    for filed in stats.tickets:
        stored = [r for r in rows if r.number == filed["number"]]
        if len(stored) != 1 or stored[0].sender != filed["sender"]:
            problems.append(f"{filed['number']}: stored {len(stored)} times under its conversation")
        elif "".join(ch for ch in (stored[0].phone or "") if ch.isdigit())[-11:] != filed["phone"]:
            problems.append(f"{filed['number']}: phone differs")
    numbers = {f["number"] for f in stats.tickets}
    problems += [f"{r.number}: stored, but no caller was given this number" for r in rows if r.number not in numbers]
    for asked in stats.handoffs:
        stored = [h for h in handoffs if h.sender == asked["sender"]]
        if len(stored) != 1 or stored[0].state != "queued" or asked["states"][:1] != ["queued"]:
            problems.append(f"handoff: {len(stored)} rows {[h.state for h in stored]}, caller saw {asked['states']}")
    askers = {a["sender"] for a in stats.handoffs}
    problems += [f"handoff stored for a conversation that did not ask: {h.state}" for h in handoffs
                 if h.sender not in askers]
    return {"filed": len(stats.tickets), "rows": len(rows), "problems": problems, "handoffs": len(stats.handoffs),
            "handoff_rows": len(handoffs)}


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
        print(f"  t={at:>5.0f}s  {time.strftime('%H:%M:%S')}  {fault:<20} {detail}", flush=True)


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
    stats = FaultStats()
    log: list[dict] = []
    rng = random.Random(14)
    t0 = time.monotonic()
    limits = httpx.Limits(max_connections=callers + 5)
    async with httpx.AsyncClient(base_url=cluster["url"], timeout=60, limits=limits) as client:
        kinds = [TicketCaller if i % 3 == 1 else Caller for i in range(callers)]
        people = [kind(client, stats, think, t0 + seconds, random.Random(rng.random())) for kind in kinds]
        tasks = [asyncio.create_task(p.run("mixed" if i % 3 == 2 else "forms")) for i, p in enumerate(people)]
        await inject(cluster, schedule, t0, log)
        await asyncio.gather(*tasks, return_exceptions=False)
    health_after = await recovered(cluster["url"])
    return {"stats": stats, "faults": log, "elapsed": time.monotonic() - t0, "health_after": health_after}


def report(result: dict, checks: dict, tickets: dict, restarts: dict, args) -> None:
    stats: FaultStats = result["stats"]
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
    print(f"ticket conversations: {stats.ticket_conversations} started, {tickets['filed']} given a number, "
          f"{len(stats.unfinished_tickets)} not finished {stats.unfinished_tickets[:5] or ''}")
    print(f"tickets: {tickets['filed']} numbers, {tickets['rows']} rows in the database; handoff requests (each "
          f"asked twice): {tickets['handoffs']} callers, {tickets['handoff_rows']} queue entries; "
          f"problems: {len(tickets['problems'])}")
    for line in (stats.lost_answers + checks["problems"] + tickets["problems"])[:20]:
        print(f"  ! {line}")
    lost = len(stats.lost_answers) + len(checks["problems"]) + len(tickets["problems"])
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
        tickets = check_tickets(cluster["database_url"], result["stats"])
        restarts = {p["name"]: p["restarts"] for p in cluster["state"]()["processes"] if p["restarts"]}
    report(result, checks, tickets, restarts, args)


if __name__ == "__main__":
    main()
