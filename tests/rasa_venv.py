"""Run a script in Rasa's own environment (.venv/rasa, Python 3.10) from a test, and read the JSON it printed last.

Rasa's side of the assistant (scripts/rasa_*.py, nlu/components) runs there, with Rasa's own libraries; the tests
drive it with real Rasa objects this way.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
RASA_PY = ROOT / ".venv" / "rasa" / "bin" / "python"
needs_rasa = pytest.mark.skipif(not RASA_PY.exists(), reason="Rasa's venv is built by make setup")


def run_in_rasa(script: str, *args: Any, stdin: str | None = None, timeout: float = 300) -> Any:
    result = subprocess.run([str(RASA_PY), "-c", script, *(str(a) for a in args)], cwd=ROOT, input=stdin,
                            capture_output=True, text=True, timeout=timeout,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


# The start of a script that calls a fake action server with Rasa's own RemoteAction: imports, a domain with
# one custom action `action_x` setting one slot `x`, and `serve(webhook, port)` starting a fake action server
# (an aiohttp handler on /webhook) that returns its runner and port.
ACTION_CALL_SETUP = r"""
import asyncio, json, sys
sys.path.insert(0, ".")
import scripts.rasa_server as server
from aiohttp import web
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.core.utils import AvailableEndpoints
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

domain = Domain.from_yaml('''
version: "3.1"
slots:
  x: {type: any, mappings: [{type: custom}]}
actions: [action_x]
''')

async def serve(webhook, port=0):
    app = web.Application()
    app.router.add_post("/webhook", webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]
"""
