"""Run the rasa-sdk action server (Python 3.11 venv) the way every process of the assistant runs.

- It listens on 127.0.0.1 unless ACTIONS_HOST says otherwise: only Rasa calls it, from this machine.
  (rasa-sdk reads the address from SANIC_HOST and would otherwise listen on every interface.)
- Its log lines are safe (core/logs.py): personal data masked, control characters escaped.
- An idle connection is closed after KEEP_ALIVE_SECONDS, not rasa-sdk's 120 s: Sanic keeps each connection's
  last request (with the whole conversation Rasa sent) until then, even after the client has closed it.

Usage (as the supervisor does): .venv/app/bin/python scripts/action_server.py --actions actions --port 5055
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_HOST = "127.0.0.1"
KEEP_ALIVE_SECONDS = 10  # longer than Rasa's idle close (scripts/rasa_server.py ACTION_IDLE_CLOSE)


def listen_address(env: dict[str, str]) -> str:
    return (env.get("ACTIONS_HOST") or "").strip() or DEFAULT_HOST


def prepare() -> None:
    """Safe log lines and the listening address, before rasa-sdk configures anything."""
    sys.path.insert(0, str(ROOT))
    from core import logs

    logs.install()
    os.environ["SANIC_HOST"] = listen_address(dict(os.environ))


def main() -> None:
    prepare()
    import rasa_sdk.__main__ as rasa_sdk_cli

    from core import heap

    serve = rasa_sdk_cli.run  # rasa-sdk's command line calls the `run` it imported from rasa_sdk.endpoint

    def run(*args, **kwargs):  # the actions (with the search index and guides) are loaded by now
        heap.freeze()
        kwargs.setdefault("keep_alive_timeout", KEEP_ALIVE_SECONDS)
        serve(*args, **kwargs)

    rasa_sdk_cli.run = run
    rasa_sdk_cli.main()


if __name__ == "__main__":
    main()
