"""Scale-out mode on one machine: several Rasa, action-server and gateway processes behind HAProxy, with
PostgreSQL for Rasa's tracker store and the application database, and Redis for Rasa's lock store, the
shared rate limits and the event bus (docs/ARCHITECTURE.md "Scale-out mode").

    make run-cluster                      # = python scripts/cluster.py --model <trained model>
    python scripts/cluster.py --model models/nlu-core-<hash>.tar.gz --rasa 2 --actions 2 --gateways 2

What it does, in order:
1. creates the two databases if missing (`<db>` for the application, `<db>_tracker` for Rasa's events) and
   migrates the application database; checks Redis;
2. writes Rasa's endpoints (PostgreSQL tracker store with the privacy rules of scripts/rasa_tracker_store.py,
   Redis lock store) and the HAProxy configuration into the data folder (default var/cluster/);
3. starts every process on a free loopback port and HAProxy in front of them:
   public  HOST:PORT (8000)          -> the gateways (HTTP and the WebSockets /ws/chat, /ws/agent, /ws/voice)
   127.0.0.1:RASA_PORT (5005)        -> the Rasa servers (the gateways' RASA_URL)
   127.0.0.1:ACTIONS_PORT (5055)     -> the action servers (Rasa's action endpoint, the gateways' ACTIONS_URL)
4. restarts any process that exits (as systemd or Kubernetes would), while HAProxy sends its traffic to the
   others; writes what runs where to <data>/cluster.json (bench/faults.py reads it). Ctrl-C stops everything.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from scripts.stack import free_port, health  # noqa: E402
from scripts.supervise import VENV_APP, VENV_RASA, retention_loop, say  # noqa: E402
from core.privacy import mask_text  # noqa: E402

HAPROXY = os.environ.get("HAPROXY", "/usr/sbin/haproxy")
DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/hotline_cluster"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
RESTART_DELAY_SECONDS = 1.0


class ClusterError(RuntimeError):
    pass


@dataclass
class Child:
    name: str      # rasa-1, actions-2, gateway-1, haproxy
    role: str
    port: int
    cmd: list[str]
    proc: subprocess.Popen | None = None
    restarts: int = 0
    exited_at: float | None = None
    started_at: float = 0.0
    backoff: float = RESTART_DELAY_SECONDS  # doubles while a process keeps dying right after its start


def tracker_url_of(database_url: str) -> str:
    """The tracker database's URL: the application database's name + `_tracker` on the same server."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    return url.set(database=f"{url.database}_tracker").render_as_string(hide_password=False)


def prepare_databases(database_url: str, env: dict[str, str]) -> None:
    """Create both databases if missing, then bring the application schema to the newest revision."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if not url.drivername.startswith("postgresql"):
        raise ClusterError(f"the cluster needs PostgreSQL (DATABASE_URL), not {url.drivername}")
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            have = set(conn.execute(text("SELECT datname FROM pg_database")).scalars())
            for name in (url.database, f"{url.database}_tracker"):
                if name not in have:
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
                    say(f"[cluster] created database {name}")
    except Exception as exc:  # noqa: BLE001 - explain, do not dump a driver traceback
        raise ClusterError(f"PostgreSQL not usable at {url.render_as_string(hide_password=True)}: {exc}") from exc
    finally:
        admin.dispose()
    result = subprocess.run([str(VENV_APP / "python"), "-m", "core.db"], cwd=ROOT, env=env, capture_output=True,
                            text=True)
    if result.returncode != 0:
        raise ClusterError(f"migrating the application database failed:\n{result.stderr[-2000:]}")


def check_redis(redis_url: str) -> None:
    import redis

    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
    except Exception as exc:  # noqa: BLE001
        raise ClusterError(f"Redis not reachable at {redis_url}: {exc}") from exc


def endpoints_yaml(tracker_url: str, redis_url: str, actions_port: int, lock_prefix: str) -> str:
    """Rasa's endpoints for the cluster (JSON is YAML): PostgreSQL tracker store, Redis lock store."""
    from urllib.parse import urlsplit

    from sqlalchemy.engine import make_url

    pg, rd = make_url(tracker_url), urlsplit(redis_url)
    tracker = {"type": "scripts.rasa_tracker_store.PrivacySQLTrackerStore", "dialect": "postgresql",
               "url": pg.host or "127.0.0.1", "port": pg.port or 5432, "db": pg.database,
               "username": pg.username or "postgres"}
    if pg.password:
        tracker["password"] = pg.password
    lock = {"type": "redis", "url": rd.hostname or "127.0.0.1", "port": rd.port or 6379,
            "db": int(rd.path.strip("/") or 0), "key_prefix": lock_prefix}
    if rd.password:
        lock["password"] = rd.password
    config = {"action_endpoint": {"url": f"http://127.0.0.1:{actions_port}/webhook"},
              "tracker_store": tracker, "lock_store": lock}
    return json.dumps(config, indent=1) + "\n"


def haproxy_cfg(host: str, port: int, rasa_port: int, actions_port: int, children: list[Child]) -> str:
    """One frontend per tier. A killed process is taken out after its connection is refused once: requests
    are re-dispatched to another server (`retry-on conn-failure`); for Rasa and the action servers also when
    a process died mid-request (`empty-response`), which re-runs the turn elsewhere (the tracker is only
    saved at the end of a turn, and submissions are idempotent). Rasa and the action servers get a new
    connection for every request (`http-server-close`), never one kept alive to a process killed since.
    HAProxy keeps a copy of a request to re-send only when it fits one buffer (tune.bufsize, 16 kB): Rasa's
    calls to the action servers carry the whole conversation and do not, so Rasa re-sends those itself
    (scripts/rasa_server.py) and the balancer answers the first try with a 502."""
    def servers(role: str) -> str:
        return "\n".join(f"    server {c.name} 127.0.0.1:{c.port} check" for c in children if c.role == role)

    import resource

    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    maxconn = 4000 if soft == resource.RLIM_INFINITY else max(100, min(4000, (soft - 200) // 2))
    return f"""# generated by scripts/cluster.py: do not edit
global
    maxconn {maxconn}

defaults
    mode http
    timeout connect 2s
    timeout client 75s
    timeout server 75s
    timeout tunnel 1h
    timeout http-keep-alive 30s
    option redispatch 1
    option http-buffer-request
    retries 3
    # a killed process refuses the connection (the connect limit stays min(timeout connect, inter) = 1 s) and is
    # out within about a second; one that is only busy (its event loop behind on turns at a peak) has 5 s to
    # answer each check, so it counts as down after two unanswered checks, about 11 s: with 1 s, busy processes
    # were taken out under load and their traffic piled onto the others, until a tier had none left (503). The
    # price, by HAProxy's rules (not measured): a process hung with its port open stays in for ~11 s, not ~2 s.
    timeout check 5s
    default-server inter 1s fastinter 500ms downinter 1s fall 2 rise 2

frontend public
    bind {host}:{port}
    option forwardfor
    default_backend gateways

backend gateways
    balance roundrobin
    # a gateway killed between two turns can leave an idle kept-alive connection that answers nothing
    retry-on conn-failure empty-response junk-response
    # alive = answers at all; a missing dependency (Rasa, the database) would be the same for every gateway, and
    # the full /health asks Rasa and the action servers, which are slow to answer at a peak
    option httpchk GET /health/live
{servers("gateway")}

frontend rasa
    bind 127.0.0.1:{rasa_port}
    default_backend rasa

backend rasa
    # a conversation's turns go to the same Rasa process (its tracker store keeps the conversation, so the turn
    # does not read it back); consistent hashing moves only a dead process's conversations to the others
    balance hdr(X-Conversation)
    hash-type consistent
    option http-server-close
    retry-on conn-failure empty-response junk-response
    option httpchk GET /
{servers("rasa")}

frontend actions
    bind 127.0.0.1:{actions_port}
    default_backend actions

backend actions
    balance leastconn
    option http-server-close
    retry-on conn-failure empty-response junk-response
    option httpchk GET /health
{servers("actions")}
"""


def cluster_env(args: argparse.Namespace, data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    for key in ("TRACKER_DB", "TRACKER_DB_DIALECT"):
        env.pop(key, None)
    env.update({
        "HOTLINE_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2",
        "RASA_TELEMETRY_ENABLED": "false", "ACTIONS_HOST": "127.0.0.1",
        "DATABASE_URL": args.database_url, "TRACKER_DB_URL": tracker_url_of(args.database_url),
        "EVENT_BUS_URL": args.redis_url, "RATE_LIMIT_REDIS_URL": args.redis_url,
        "RASA_URL": f"http://127.0.0.1:{args.rasa_port}", "ACTIONS_URL": f"http://127.0.0.1:{args.actions_port}",
        "ACTIONS_WEBHOOK_URL": f"http://127.0.0.1:{args.actions_port}/webhook",
        # a Rasa killed mid-turn leaves its conversation lock in Redis: the next turn may take it after this
        "TICKET_LOCK_LIFETIME": env.get("TICKET_LOCK_LIFETIME") or "10",
    })
    return env


def plan(args: argparse.Namespace, data_dir: Path) -> list[Child]:
    rasa_py, app_py = str(VENV_RASA / "python"), str(VENV_APP / "python")
    children: list[Child] = []
    for i in range(1, args.rasa + 1):
        port = free_port()
        children.append(Child(f"rasa-{i}", "rasa", port, [
            rasa_py, "scripts/rasa_server.py", "run", "--model", args.model, "--enable-api", "--interface",
            "127.0.0.1", "--port", str(port), "--endpoints", str(data_dir / "endpoints.yml"),
            "--credentials", "credentials.yml"]))
    for i in range(1, args.actions + 1):
        port = free_port()
        children.append(Child(f"actions-{i}", "actions", port, [
            app_py, "scripts/action_server.py", "--actions", "actions", "--port", str(port)]))
    for i in range(1, args.gateways + 1):
        port = free_port()
        children.append(Child(f"gateway-{i}", "gateway", port, [
            str(VENV_APP / "uvicorn"), "connectors.gateway.app:app", "--host", "127.0.0.1", "--port", str(port),
            "--no-access-log", "--forwarded-allow-ips", "127.0.0.1"]))
    children.append(Child("haproxy", "haproxy", args.port, [HAPROXY, "-db", "-f", str(data_dir / "haproxy.cfg")]))
    return children


def _pump(name: str, stream) -> None:
    for line in iter(stream.readline, b""):
        say(f"[{name}] {mask_text(line.decode('utf-8', 'replace').rstrip())}")


def start(child: Child, env: dict[str, str]) -> None:
    child.proc = subprocess.Popen(child.cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    child.exited_at = None
    child.started_at = time.monotonic()
    threading.Thread(target=_pump, args=(child.name, child.proc.stdout), daemon=True).start()


def write_state(path: Path, args: argparse.Namespace, children: list[Child], ready: bool) -> None:
    state = {"url": f"http://{args.host}:{args.port}", "ready": ready, "supervisor_pid": os.getpid(),
             "rasa_url": f"http://127.0.0.1:{args.rasa_port}", "actions_url": f"http://127.0.0.1:{args.actions_port}",
             "database_url": args.database_url, "redis_url": args.redis_url,
             "processes": [{"name": c.name, "role": c.role, "port": c.port, "restarts": c.restarts,
                            "pid": c.proc.pid if c.proc and c.proc.poll() is None else None} for c in children]}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    tmp.replace(path)


def stop_all(children: list[Child]) -> None:
    for child in children:
        if child.proc is not None and child.proc.poll() is None:
            try:
                os.killpg(child.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 15
    for child in children:
        if child.proc is None:
            continue
        try:
            child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(child.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--rasa", type=int, default=int(os.environ.get("CLUSTER_RASA", 2)))
    parser.add_argument("--actions", type=int, default=int(os.environ.get("CLUSTER_ACTIONS", 2)))
    parser.add_argument("--gateways", type=int, default=int(os.environ.get("CLUSTER_GATEWAYS", 2)))
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)), help="public port; 0 = free")
    parser.add_argument("--rasa-port", type=int, default=int(os.environ.get("RASA_PORT", 5005)))
    parser.add_argument("--actions-port", type=int, default=int(os.environ.get("ACTIONS_PORT", 5055)))
    parser.add_argument("--database-url", default=os.environ.get("CLUSTER_DATABASE_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--redis-url", default=os.environ.get("CLUSTER_REDIS_URL", DEFAULT_REDIS_URL))
    parser.add_argument("--data-dir", default=os.environ.get("CLUSTER_DATA_DIR", str(ROOT / "var" / "cluster")))
    parser.add_argument("--startup-timeout", type=float, default=600)
    args = parser.parse_args(argv)
    for name in ("port", "rasa_port", "actions_port"):
        if getattr(args, name) == 0:
            setattr(args, name, free_port())
    if min(args.rasa, args.actions, args.gateways) < 1:
        parser.error("at least one process of each kind")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not Path(HAPROXY).exists():
        say(f"{HAPROXY} is missing: `make cluster-deps` installs Debian's haproxy", err=True)
        return 2
    data_dir = Path(args.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = cluster_env(args, data_dir)
    try:
        check_redis(args.redis_url)
        prepare_databases(args.database_url, env)
    except ClusterError as exc:
        say(f"cluster: {exc}", err=True)
        return 2
    children = plan(args, data_dir)
    lock_prefix = "hotline" + secrets.token_hex(4)  # alphanumeric (Rasa's rule); per cluster run
    (data_dir / "endpoints.yml").write_text(endpoints_yaml(env["TRACKER_DB_URL"], args.redis_url,
                                                           args.actions_port, lock_prefix))
    (data_dir / "haproxy.cfg").write_text(haproxy_cfg(args.host, args.port, args.rasa_port, args.actions_port,
                                                      children))
    state_path = data_dir / "cluster.json"
    stopping = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        for child in children:
            start(child, env)
        threading.Thread(target=retention_loop, args=(env, stopping), daemon=True).start()
        return supervise(args, children, env, state_path, stopping)
    finally:
        stop_all(children)
        write_state(state_path, args, children, ready=False)


def child_ready(child: Child) -> bool:
    """The process is ready: Rasa answers `GET /`, the others `GET /health` with 200 (stricter than HAProxy's
    check of a gateway, `GET /health/live`, which only asks whether it answers)."""
    base = f"http://127.0.0.1:{child.port}"
    if child.role != "rasa":
        return health(base)[0] == 200
    try:
        with urllib.request.urlopen(base + "/", timeout=3) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def supervise(args: argparse.Namespace, children: list[Child], env: dict[str, str], state_path: Path,
              stopping: threading.Event) -> int:
    url = f"http://{args.host}:{args.port}"
    deadline = time.monotonic() + args.startup_timeout
    ready = False
    write_state(state_path, args, children, ready)
    while not stopping.is_set():
        changed = False
        for child in children:
            if child.proc is not None and child.proc.poll() is not None:
                now = time.monotonic()
                if child.exited_at is None:
                    child.exited_at = now
                    quick = now - child.started_at < 30
                    child.backoff = min(30.0, child.backoff * 2) if quick else RESTART_DELAY_SECONDS
                    say(f"[cluster] {child.name} (pid {child.proc.pid}) exited with {child.proc.returncode}; "
                        f"restarting it, the others carry its traffic", err=True)
                elif now - child.exited_at >= child.backoff:
                    child.restarts += 1
                    start(child, env)
                    changed = True
        if not ready:  # ready = every process answers, so a fault right after start-up has others to fall back on
            if health(url)[0] == 200 and all(child_ready(c) for c in children if c.role != "haproxy"):
                ready = changed = True
                say(f"\n  12345 热线智能助手 (cluster) 已启动 / cluster ready: {url}\n"
                    f"  {args.rasa} Rasa, {args.actions} action servers, {args.gateways} gateways behind HAProxy; "
                    f"state in {state_path}\n  (Ctrl-C to stop)\n")
            elif time.monotonic() > deadline:
                say("cluster start-up failed: see the log above (GET /health names what is not ready)", err=True)
                return 1
        if changed:
            write_state(state_path, args, children, ready)
        stopping.wait(0.5)
    say("stopping the cluster...")
    return 0


if __name__ == "__main__":
    sys.exit(main())
