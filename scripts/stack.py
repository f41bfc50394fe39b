"""Start the whole assistant on free ports with a throw-away data folder (tests and benchmarks)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class StackError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def model_path() -> str:
    model = os.environ.get("RASA_MODEL") or subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "train.py"), "--print-path"], capture_output=True, text=True, check=True
    ).stdout.strip()
    if not Path(model).exists():
        raise StackError(f"Rasa model {model} is missing: run `make train`")
    return model


def health(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=3) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(exc)


@contextmanager
def running_stack(data_dir: Path, extra_env: dict[str, str] | None = None, startup_seconds: float = 300):
    """Yield {"url", "env", "data_dir", "log"} of a healthy stack; stop it afterwards."""
    env = dict(os.environ)
    for key in ("RASA_URL", "ACTIONS_URL", "ACTIONS_WEBHOOK_URL", "TRACKER_DB", "DATABASE_URL"):
        env.pop(key, None)
    env.update({"HOTLINE_DATA_DIR": str(data_dir), "RASA_PORT": str(free_port()),
                "ACTIONS_PORT": str(free_port()), "PORT": str(free_port())})
    env.update(extra_env or {})
    subprocess.run([sys.executable, "-m", "core.db"], cwd=ROOT, env=env, check=True, capture_output=True)
    log_path = data_dir / "stack.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "supervise.py"), "--model", model_path()],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{env['PORT']}"
        try:
            deadline = time.monotonic() + startup_seconds
            status, body = 0, ""
            while time.monotonic() < deadline and proc.poll() is None:
                status, body = health(url)
                if status == 200:
                    break
                time.sleep(1)
            if status != 200:
                tail = log_path.read_text(errors="replace")[-4000:]
                raise StackError(f"stack not healthy ({status} {body}); log tail:\n{tail}")
            yield {"url": url, "env": env, "data_dir": data_dir, "log": log_path}
        finally:
            stop_group(proc, 30)


def stop_group(proc: subprocess.Popen, timeout: float) -> None:
    """Stop a supervisor started with start_new_session=True and all it started: SIGINT, then SIGKILL."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@contextmanager
def running_cluster(data_dir: Path, database_url: str, redis_url: str, log_path: Path, *, rasa: int = 2,
                    actions: int = 2, gateways: int = 2, startup_seconds: float = 600):
    """Yield {"url", "dir", "state"(), "log"} of a ready scale-out cluster (scripts/cluster.py) on the given
    PostgreSQL and Redis, every port free; stop it afterwards."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "RASA_URL", "ACTIONS_URL", "PORT")}
    cmd = [sys.executable, str(ROOT / "scripts" / "cluster.py"), "--model", model_path(), "--rasa", str(rasa),
           "--actions", str(actions), "--gateways", str(gateways), "--port", "0", "--rasa-port", "0",
           "--actions-port", "0", "--data-dir", str(data_dir), "--database-url", database_url,
           "--redis-url", redis_url]

    def state() -> dict:
        return json.loads((data_dir / "cluster.json").read_text())

    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + startup_seconds
        while not ((data_dir / "cluster.json").exists() and state()["ready"]):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise StackError(f"cluster not ready; log tail:\n{log_path.read_text(errors='replace')[-4000:]}")
            time.sleep(1)
        yield {"url": state()["url"], "dir": data_dir, "state": state, "log": log_path}
    finally:
        stop_group(proc, 40)
