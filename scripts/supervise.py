"""Start Rasa, the action server and the gateway as one unit; Ctrl-C (or SIGTERM) stops them all.

If any process exits, the others are stopped too, so a half-running assistant never serves callers.
Usage: python scripts/supervise.py --model models/nlu-core-<hash>.tar.gz
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from core.privacy import mask_text  # noqa: E402 - pure Python; masks what the children print

VENV_RASA = ROOT / ".venv" / "rasa" / "bin"
VENV_APP = ROOT / ".venv" / "app" / "bin"


def service_env() -> dict[str, str]:
    env = dict(os.environ)
    data_dir = Path(env.setdefault("HOTLINE_DATA_DIR", str(ROOT / "var")))
    data_dir.mkdir(parents=True, exist_ok=True)
    rasa_port = env.setdefault("RASA_PORT", "5005")
    actions_port = env.setdefault("ACTIONS_PORT", "5055")
    env.setdefault("ACTIONS_HOST", "127.0.0.1")  # internal services listen on loopback only (scripts/action_server.py)
    env.setdefault("RASA_URL", f"http://127.0.0.1:{rasa_port}")
    env.setdefault("ACTIONS_URL", f"http://127.0.0.1:{actions_port}")
    env.setdefault("ACTIONS_WEBHOOK_URL", f"{env['ACTIONS_URL']}/webhook")
    env.setdefault("TRACKER_DB_DIALECT", "sqlite")
    env.setdefault("TRACKER_DB", str(data_dir / "tracker.db"))
    env.setdefault("PORT", "8000")
    env["PYTHONPATH"] = str(ROOT)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")  # no phoning home from a government system
    return env


def commands(model: str, env: dict[str, str]) -> dict[str, list[str]]:
    # RASA_AS_SHIPPED=1: Rasa's own `rasa run` without scripts/rasa_server.py's fixes, only as the capacity
    # benchmark's reference (bench/capacity.py --target plain); never for callers
    rasa = ["-m", "rasa"] if env.get("RASA_AS_SHIPPED") == "1" else ["scripts/rasa_server.py"]
    return {
        "rasa": [str(VENV_RASA / "python"), *rasa, "run", "--model", model, "--enable-api", "--interface", "127.0.0.1",
                 "--port", env["RASA_PORT"], "--endpoints", "endpoints.yml", "--credentials", "credentials.yml"],
        # scripts/action_server.py: rasa-sdk on 127.0.0.1 (ACTIONS_HOST) with safe log lines
        "actions": [str(VENV_APP / "python"), "scripts/action_server.py", "--actions", "actions",
                    "--port", env["ACTIONS_PORT"]],
        "gateway": [str(VENV_APP / "uvicorn"), "connectors.gateway.app:app", "--host", env.get("HOST", "127.0.0.1"),
                    "--port", env["PORT"], "--no-access-log"],
    }


def say(text: str, err: bool = False) -> None:
    """Print, but never let a closed terminal or pipe (e.g. `| tee` killed by Ctrl-C) stop the shutdown."""
    try:
        print(text, file=sys.stderr if err else sys.stdout, flush=True)
    except (OSError, ValueError):
        pass


def _pump(name: str, stream) -> None:
    """Each child's output, line by line; masked once more here, for anything a library printed around logging."""
    for line in iter(stream.readline, b""):
        say(f"[{name}] {mask_text(line.decode('utf-8', 'replace').rstrip())}")


def wait_healthy(url: str, procs: dict[str, subprocess.Popen], timeout: float, stopping: threading.Event) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stopping.is_set():
        if any(p.poll() is not None for p in procs.values()):
            return False
        try:
            with urllib.request.urlopen(url, timeout=3) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        stopping.wait(1)
    return False


def stop_all(procs: dict[str, subprocess.Popen]) -> None:
    for proc in procs.values():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for proc in procs.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def retention_loop(env: dict[str, str], stopping: threading.Event) -> None:
    """The tracker store retention job (core/tracker_privacy.py) once at start, then every interval."""
    try:
        minutes = int(env.get("TRACKER_RETENTION_INTERVAL_MINUTES", "").strip() or 60)
    except ValueError:
        minutes = 60
    if minutes <= 0:
        return
    delay = 30.0  # first run soon after start-up, then every interval
    while not stopping.wait(delay):
        delay = minutes * 60.0
        result = subprocess.run([str(VENV_APP / "python"), "-m", "core.tracker_privacy", "retain"], cwd=ROOT, env=env,
                                capture_output=True, text=True)
        for line in (result.stdout + result.stderr).splitlines()[-5:]:
            say(f"[retention] {mask_text(line)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--startup-timeout", type=float, default=300)
    args = parser.parse_args()
    env = service_env()
    if env.get("RASA_AS_SHIPPED") == "1":
        say("RASA_AS_SHIPPED=1: Rasa runs without scripts/rasa_server.py's fixes (failed turns answered as if they "
            "had worked, slower). For the capacity benchmark's reference only: do not serve callers with it.", err=True)
    procs: dict[str, subprocess.Popen] = {}
    stopping = threading.Event()

    def _stop(signum, _frame):
        stopping.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        for name, cmd in commands(args.model, env).items():
            procs[name] = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                           start_new_session=True)
            threading.Thread(target=_pump, args=(name, procs[name].stdout), daemon=True).start()
        threading.Thread(target=retention_loop, args=(env, stopping), daemon=True).start()
        return supervise(procs, env, args.startup_timeout, stopping)
    finally:  # whatever happened above, no child outlives the supervisor
        stop_all(procs)


def supervise(procs: dict[str, subprocess.Popen], env: dict[str, str], startup_timeout: float,
              stopping: threading.Event) -> int:
    url = f"http://{env.get('HOST', '127.0.0.1')}:{env['PORT']}"
    if wait_healthy(f"{url}/health", procs, startup_timeout, stopping):
        say(f"\n  12345 热线智能助手已启动 / assistant ready: {url}\n  (Ctrl-C to stop)\n")
    elif not stopping.is_set():
        say("start-up failed: see the log above (GET /health names what is not ready)", err=True)
    while not stopping.is_set():
        dead = [n for n, p in procs.items() if p.poll() is not None]
        if dead:
            say(f"process exited: {', '.join(dead)}; stopping the others", err=True)
            return 1
        stopping.wait(1)
    say("stopping...")
    return 0


if __name__ == "__main__":
    sys.exit(main())
