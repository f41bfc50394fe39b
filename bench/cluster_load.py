"""What bench/faults.py and bench/capacity.py share: private PostgreSQL and Redis servers, the scale-out stack
(scripts/cluster.py) on free ports, and simulated callers at a human pace.

Private servers: the fault bench restarts PostgreSQL and Redis, and this machine's shared servers are used by
other jobs, so each run starts its own throw-away instances (Debian's PostgreSQL 15 binaries as the `postgres`
user, redis-server) on free ports under a temporary folder, and removes them afterwards.
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from scripts.stack import free_port  # noqa: E402
from scripts.stack import running_cluster as cluster_process  # noqa: E402
from core.validators import id_check_char  # noqa: E402
from tests.form_answers import BUNDLE_ANSWERS  # noqa: E402

PG_BIN = Path("/usr/lib/postgresql/15/bin")

# two one-table forms, answered as in the conversation tests
FORMS = {guide: BUNDLE_ANSWERS[guide] for guide in ("社会保障卡居民服务一件事", "个体工商户开办一件事")}
SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何林高罗"
GIVEN = ["建国", "秀英", "敏", "志强", "丽娜", "海燕", "晓东", "桂兰", "俊杰", "慧", "宝音", "乌兰", "明", "红梅", "磊"]


def personal_answers(answers: dict[str, str], rng: random.Random) -> dict[str, str]:
    """The form's answers with this caller's own name, ID number (valid check digit), phone and house number:
    real callers share choices ("遗失补领", "邮寄") but not their personal data, and Rasa's NLU cache must not
    look better here than it would on a hotline."""
    name = rng.choice(SURNAMES) + rng.choice(GIVEN)
    old_id = answers["applicant_id_number"]
    first17 = old_id[:12] + f"{rng.randint(1, 28):02d}" + f"{rng.randint(0, 99):02d}" + old_id[16]
    mine = {}
    for key, value in answers.items():
        if value == answers["applicant_name"]:
            mine[key] = name                               # the applicant's name wherever it is asked again
        elif key == "applicant_id_number":
            mine[key] = first17 + id_check_char(first17)
        elif key == "applicant_phone":
            mine[key] = rng.choice(["13", "15", "18"]) + f"{rng.randint(0, 999999999):09d}"
        elif "address" in key:
            mine[key] = _renumber(value, rng)
        else:
            mine[key] = value
    return mine


def _renumber(address: str, rng: random.Random) -> str:
    """The same street, another house number."""
    return re.sub(r"\d+号", f"{rng.randint(1, 300)}号", address, count=1)


QUESTIONS = ["你好", "孩子刚出生要办什么手续", "要多长时间", "在哪里办", "社保卡丢了怎么补办", "收费吗", "谢谢"]


# -- private servers ------------------------------------------------------------------------------------------
class PrivatePostgres:
    """A throw-away PostgreSQL 15 (trust auth, loopback) that may be restarted at will."""

    def __init__(self, base: Path) -> None:
        self.dir = base / "pg"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/hotline_cluster"

    def _as_postgres(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["runuser", "-u", "postgres", "--", *cmd], capture_output=True, text=True, check=check)

    def start(self) -> None:
        self.dir.mkdir(parents=True)
        shutil.chown(self.dir, "postgres", "postgres")
        self._as_postgres(str(PG_BIN / "initdb"), "-D", str(self.dir / "data"), "-U", "postgres", "-A", "trust",
                          "-E", "UTF8", "--no-sync")
        self._ctl("start")

    def _ctl(self, action: str) -> None:
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300"
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-o", opts, "-l",
                          str(self.dir / "log"), "-w", "-m", "fast", action)

    def restart(self) -> None:
        self._ctl("restart")

    def postmaster_pid(self) -> int:
        return int((self.dir / "data" / "postmaster.pid").read_text().split()[0])

    def stop(self) -> None:
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop",
                          check=False)


class PrivateRedis:
    def __init__(self, base: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dir = base / "redis"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.dir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True).stdout.strip() == b"PONG":
                return
            time.sleep(0.1)
        raise RuntimeError("private redis did not start")

    def restart(self) -> None:
        self.stop()
        self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# -- the stack ----------------------------------------------------------------------------------------------------
@contextmanager
def running_cluster(rasa: int = 2, actions: int = 2, gateways: int = 2):
    """Yield {"url", "dir", "state"(), "pg", "redis"} of a ready cluster on private servers; stop it all after."""
    base = Path(tempfile.mkdtemp(prefix="hotline-cluster-"))
    os.chmod(base, 0o755)
    pg = redis = None
    try:
        pg, redis = PrivatePostgres(base), PrivateRedis(base)
        pg.start()
        redis.start()
        database_url, redis_url = pg.url, redis.url
        with cluster_process(base / "data", database_url, redis_url, base / "cluster.log", rasa=rasa,
                             actions=actions, gateways=gateways, startup_seconds=900) as running:
            yield {**running, "pg": pg, "redis": redis, "database_url": database_url}
    finally:
        if (base / "cluster.log").exists():  # kept for reading after the run (personal data is masked in it)
            keep = ROOT / "var" / "bench" / f"{Path(sys.argv[0]).stem}-cluster.log"
            keep.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(base / "cluster.log", keep)
        if redis is not None:
            redis.stop()
        if pg is not None:
            pg.stop()
        shutil.rmtree(base, ignore_errors=True)


# -- callers ------------------------------------------------------------------------------------------------------
@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)     # seconds, successful turns
    errors: list[tuple[float, str]] = field(default_factory=list)  # (time, what)
    turns: int = 0
    submissions: list[dict] = field(default_factory=list)    # {"sender", "guide", "number", "again", "answers"}
    lost_answers: list[str] = field(default_factory=list)    # a field asked again after it was answered
    conversations: int = 0
    unfinished: int = 0
    unfinished_replies: list[str] = field(default_factory=list)  # what the bot said when a form went astray
    repeated: int = 0   # answers said again because the reply was not the form's (e.g. "please say it again")


class Caller:
    """One simulated citizen: waits a jittered think time before each turn; repeats a turn that failed (as a
    person would after "系统繁忙") until it gets an answer."""

    def __init__(self, client: httpx.AsyncClient, stats: Stats, think: float, stop_at: float, rng: random.Random):
        self.client, self.stats, self.think, self.stop_at, self.rng = client, stats, think, stop_at, rng
        self.session: dict[str, str] = {}
        # this conversation's turns as "time label -> outcome", printed when a form went astray; the label names
        # the field answered, never the (made-up) personal value
        self.trace: list[str] = []

    def _note(self, label: str, outcome: str) -> None:
        now = time.time()
        self.trace.append(f"{time.strftime('%H:%M:%S', time.localtime(now))}.{int(now % 1 * 1000):03d} "
                          f"{label} -> {outcome}")

    async def turn(self, text: str, retries: int = 60, label: str = "") -> list[dict]:
        """One message, sent again after an error with the same message id, as the widget does."""
        message_id = f"{self.rng.getrandbits(64):016x}"
        for _ in range(retries):
            await asyncio.sleep(self.think * self.rng.uniform(0.5, 1.5))
            start = time.perf_counter()
            self.stats.turns += 1
            try:
                response = await self.client.post("/api/chat", json={**self.session, "message": text,
                                                                       "message_id": message_id})
                if response.status_code == 200:
                    self.stats.latencies.append(time.perf_counter() - start)
                    body = response.json()
                    self.session = {"sender": body["sender"], "token": body["token"]}
                    self._note(label or text, " ".join(
                        m["kind"] + (f"({m['data'].get('field')})" if m["kind"] == "form_question" else "")
                        for m in body["messages"]))
                    return body["messages"]
                self.stats.errors.append((time.time(), str(response.status_code)))
                self._note(label or text, f"HTTP {response.status_code}")
            except httpx.HTTPError as exc:
                self.stats.errors.append((time.time(), type(exc).__name__))
                self._note(label or text, type(exc).__name__)
        raise RuntimeError("no answer after many tries")

    async def said_until(self, text: str, kinds: set[str], label: str = "") -> list[dict]:
        """A turn inside a form or an intake: when the reply has none of `kinds` (e.g. the gateway's polite "please
        say it again" while the tracker database was away), the caller says it again, up to 3 times."""
        messages = await self.turn(text, label=label)
        for _ in range(3):
            if kinds & {m["kind"] for m in messages}:
                break
            self.stats.repeated += 1
            messages = await self.turn(text, label=label)
        return messages

    async def form_turn(self, text: str, label: str = "") -> list[dict]:
        return await self.said_until(text, {"form_question", "form_summary"}, label)

    async def questions(self) -> None:
        self.session = {}
        for text in self.rng.sample(QUESTIONS, 4):
            await self.turn(text)

    async def application(self) -> None:
        guide = self.rng.choice(list(FORMS))
        answers = personal_answers(FORMS[guide], self.rng)
        self.session, self.trace = {}, []
        await self.turn("你好")
        messages = await self.form_turn(f"我要申请{guide}")
        self.stats.conversations += 1
        answered: set[str] = set()
        for _ in range(40):
            kinds = [m["kind"] for m in messages]
            if "form_summary" in kinds:
                break
            questions = [m for m in messages if m["kind"] == "form_question"]
            if not questions:
                self.stats.unfinished += 1
                self.stats.unfinished_replies.append(",".join(kinds))
                return
            name = questions[-1]["data"]["field"]
            if name in answered and "form_invalid" not in kinds:
                self.stats.lost_answers.append(f"{self.session.get('sender')}: {name} asked again "
                                               f"at {time.strftime('%H:%M:%S')}; the conversation so far:\n    "
                                               + "\n    ".join(self.trace))
            answered.add(name)
            messages = await self.form_turn(answers[name], label=f"answer {name}")
        else:
            self.stats.unfinished += 1
            return
        first = [m for m in await self.turn("确认提交") if m["kind"] == "application_submitted"]
        again = [m for m in await self.turn("/confirm_application") if m["kind"] == "application_submitted"]
        if not first:
            self.stats.unfinished += 1
            return
        self.stats.submissions.append({"sender": self.session["sender"], "guide": guide, "answers": answers,
                                       "number": first[0]["data"]["number"],
                                       "again": again[0]["data"]["number"] if again else None})

    async def run(self, mix: str) -> None:
        while time.monotonic() < self.stop_at:
            if mix == "forms" or self.rng.random() < 0.5:
                await self.application()
            else:
                await self.questions()


PERSONAL = ("applicant_name", "applicant_id_number", "applicant_phone")  # stored on every application


def check_submissions(database_url: str, stats: Stats) -> dict:
    """Every submission stored exactly once, under the caller's conversation, with the caller's answers."""
    from sqlalchemy import create_engine, text

    from core.application_forms import form_for
    from core.applications import get_guide

    engine = create_engine(database_url)
    problems: list[str] = []
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT number, sender, data FROM applications")).all()
    engine.dispose()
    by_sender: dict[str, list] = {}
    for row in rows:
        by_sender.setdefault(row.sender, []).append(row)
    for sub in stats.submissions:
        stored = by_sender.get(sub["sender"], [])
        if len(stored) != 1:
            problems.append(f"{sub['number']}: stored {len(stored)} times")
            continue
        if stored[0].number != sub["number"] or sub["again"] != sub["number"]:
            problems.append(f"{sub['number']}: receipt numbers differ ({stored[0].number}, again {sub['again']})")
        data = stored[0].data if isinstance(stored[0].data, dict) else json.loads(stored[0].data)
        # every answer the form stored is the one the caller gave for that field (an answer applied to the wrong
        # question, e.g. a turn processed twice, shows here)
        form = form_for(get_guide(sub["guide"]))  # the form stores each answer as its validator normalised it
        for key, value in sub["answers"].items():
            spec = form.get(key)
            check = spec.validate(value) if spec is not None else None
            if check is None or not check.ok:  # not this form's, or a skip ("跳过"), which the dialogue handles
                continue
            if (key in data or key in PERSONAL) and str(data.get(key)) != check.value:
                problems.append(f"{sub['number']}: {key} differs from the caller's answer")
    extra = len(rows) - len(stats.submissions)
    return {"submitted": len(stats.submissions), "rows": len(rows), "problems": problems,
            "rows_without_a_receipt": max(0, extra)}
