"""The gateway's own CPU per turn, without Rasa or the action server (issue 14: the 20 ms budget).

The capacity bench (bench/capacity.py) measures the whole stack, where one run's noise (1-2 ms per turn) is as
large as the gateway changes being weighed. Here only the gateway runs for real (uvicorn, as `make run` starts
it, on a throw-away SQLite database); the dialogue engine is `FakeRasaReplies`, a tiny HTTP server in its own
process that answers every turn at once with one recorded guide answer. Callers send a turn after a jittered think
time, as in the capacity bench; the gateway process's CPU time is read from /proc over the measured seconds.

    .venv/app/bin/python bench/gateway_cpu.py [--callers 40] [--think 1] [--seconds 40] [--runs 3]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from capacity import cpu_seconds  # noqa: E402
from scripts.stack import free_port  # noqa: E402

TEXTS = ["孩子刚出生要办什么手续", "社保卡丢了怎么补办", "要多长时间", "在哪里办", "收费吗", "营业执照怎么办理",
         "我想办个体工商户", "需要带什么材料", "可以网上办吗", "谢谢"]
# one guide answer as Rasa's REST channel returns it (custom payload), the size of a real one
REPLY = json.dumps([{"recipient_id": "x", "custom": {
    "kind": "guide_answer", "text": "办理社会保障卡补办需要以下材料：" + "居民身份证原件；" * 12,
    "data": {"guide": "社会保障卡居民服务一件事", "materials": [{"name": f"材料{i}", "note": "原件"} for i in range(8)]},
    "buttons": [{"title": "在哪里办", "payload": "/ask_where"}, {"title": "转人工", "payload": "/handoff"}]}}],
    ensure_ascii=False).encode()


def fake_rasa_replies(port: int) -> None:
    """`FakeRasaReplies`: answers POST /webhooks/rest/webhook with REPLY, GET /status with a model name."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                body = REPLY if head.startswith(b"POST") else b'{"model_file": "fake"}'
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                             + str(len(body)).encode() + b"\r\n\r\n" + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


async def callers(url: str, n: int, think: float, seconds: float, pid: int) -> dict:
    limits = httpx.Limits(max_connections=n + 5, keepalive_expiry=30)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        people = []
        for _ in range(n):
            body = (await client.post("/api/chat", json={"message": "你好"})).json()
            if "sender" not in body:
                raise SystemExit(f"the gateway refused a first turn: {body}")
            people.append((body["sender"], body["token"]))
        turns, errors, statuses = 0, 0, {}
        stop = time.monotonic() + seconds

        async def one(sender: str, token: str, rng: random.Random) -> None:
            nonlocal turns, errors
            await asyncio.sleep(rng.uniform(0, think))
            while time.monotonic() < stop:
                response = await client.post("/api/chat", json={"sender": sender, "token": token,
                                                                "message": rng.choice(TEXTS)})
                if response.status_code == 200:
                    turns += 1
                else:
                    errors += 1
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                await asyncio.sleep(think * rng.uniform(0.5, 1.5))

        cpu0, t0 = cpu_seconds([pid]), time.monotonic()
        await asyncio.gather(*(one(s, t, random.Random(i)) for i, (s, t) in enumerate(people)))
        cpu, elapsed = cpu_seconds([pid]) - cpu0, time.monotonic() - t0
    return {"turns": turns, "errors": errors, "turns_per_s": turns / elapsed, "cpu_ms_per_turn": cpu * 1000 / max(1, turns),
            "statuses": statuses}


def _live(url: str) -> bool:
    try:
        return httpx.get(url + "/health/live", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--callers", type=int, default=120)
    parser.add_argument("--think", type=float, default=3.0)
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rasa_port, port = free_port(), free_port()
    fake = multiprocessing.Process(target=fake_rasa_replies, args=(rasa_port,), daemon=True)
    fake.start()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "HOTLINE_DATA_DIR": tmp, "RASA_URL": f"http://127.0.0.1:{rasa_port}",
               "PYTHONPATH": str(ROOT), "RATE_LIMIT_PER_CLIENT_PER_MINUTE": "1000000"}
        subprocess.run([str(ROOT / ".venv/app/bin/python"), "-m", "core.db"], cwd=ROOT, env=env, check=True,
                       capture_output=True)
        gateway = subprocess.Popen([str(ROOT / ".venv/app/bin/uvicorn"), "connectors.gateway.app:app", "--host",
                                    "127.0.0.1", "--port", str(port), "--no-access-log"], cwd=ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 180
            while not _live(url):   # /health would ask an action server too; there is none here
                if time.monotonic() > deadline:
                    raise SystemExit("the gateway did not start")
                time.sleep(0.5)
            rows = [asyncio.run(callers(url, args.callers, args.think, args.seconds, gateway.pid))
                    for _ in range(args.runs)]
        finally:
            gateway.terminate()
            gateway.wait(30)
            fake.terminate()
    print(f"{args.callers} callers, think {args.think} s ±50%, {args.seconds:.0f} s per run")
    print("| run | turns | errors | turns/s | gateway CPU ms/turn |")
    print("|---|---|---|---|---|")
    for i, r in enumerate(rows, 1):
        print(f"| {i} | {r['turns']} | {r['errors']} | {r['turns_per_s']:.1f} | {r['cpu_ms_per_turn']:.2f} | {r['statuses'] or ''}")


if __name__ == "__main__":
    main()
