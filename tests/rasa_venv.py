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
