"""Log lines of every process are safe (issue 10): personal data masked however typed, and a caller's text
can never forge a log line (newline, CR, NUL and other control characters are written as escapes).

Each process is checked the way it really logs: the gateway's stdlib logging in this process, Rasa's
stdlib and structlog logging in Rasa's own Python 3.10, the action server with rasa-sdk's logging set up
by scripts/action_server.py, and the supervisor that copies their output into one log.
"""
from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core import logs

ROOT = Path(__file__).resolve().parents[2]
RASA_PY = ROOT / ".venv" / "rasa" / "bin" / "python"

# (as typed, digits that must not appear in any log) - the forms of issue 10
TYPED = [
    ("1506 0219 9208 1545 27", "150602199208154527"),
    ("１５０６２７１９８５０１０１０７１Ｘ", "19850101"),
    ("150627-19850101-071X", "19850101"),
    ("139 4776 1207", "13947761207"),
    ("+86 139-4776-1208", "13947761208"),
    ("8613947761206", "13947761206"),
]
NAME = "我叫乌力吉"
FORGED = "正常\n2026-01-01 00:00:00,000 INFO hotline.turns turn sender=admin text=forged\r\x00\x1b[2J\u2028end"
SAMPLE = "；".join(t for t, _ in TYPED) + "；" + NAME + "；" + FORGED


def digits(text: str) -> str:
    return re.sub(r"[^0-9]", "", text.translate(str.maketrans("０１２３４５６７８９", "0123456789")))


def assert_safe(output: str, lines_expected: int | None = None, escaped: bool = True) -> None:
    flat = digits(output)
    for typed, secret in TYPED:
        assert secret not in flat and typed not in output, f"{typed!r} leaked: {output}"
    assert "乌力吉" not in output
    assert not any(line.startswith("2026-01-01") for line in output.splitlines()), output
    assert "\x00" not in output and "\x1b" not in output and "\u2028" not in output and "\r" not in output
    assert "\\x00" in output  # shown, as an escape
    if escaped:
        assert "\\n2026-01-01" in output
    if lines_expected is not None:
        assert len(output.strip("\n").split("\n")) == lines_expected, output


@pytest.fixture
def safe_logging():
    old = logging.getLogRecordFactory()
    logs.install()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(logs.FORMAT))
    logger = logging.getLogger("test.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)
    logging.setLogRecordFactory(old)


def test_gateway_log_lines_mask_every_form_and_cannot_be_forged(safe_logging):
    logger, stream = safe_logging
    logger.info("turn sender=%s text=%s", "web-1", SAMPLE)
    logger.info(SAMPLE)  # no arguments: the message itself
    logger.info("data %s", {"text": SAMPLE})  # objects formatted into the message
    assert_safe(stream.getvalue(), lines_expected=3)


def test_tracebacks_keep_their_lines_but_none_can_pass_for_a_log_line(safe_logging):
    logger, stream = safe_logging
    try:
        raise ValueError(SAMPLE)
    except ValueError:
        logger.exception("turn failed for %s", "1506 0219 9208 1545 27")
    output = stream.getvalue()
    assert_safe(output, escaped=False)
    lines = output.rstrip("\n").split("\n")
    assert lines[1].startswith("| Traceback") and all(line.startswith("| ") for line in lines[1:])


def test_uvicorn_handlers_set_up_before_install_are_covered_too():
    old = logging.getLogRecordFactory()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("uvicorn.error.test")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logs.install()
        logger.error("%s", SAMPLE)
    finally:
        logging.setLogRecordFactory(old)
        logger.removeHandler(handler)
    assert_safe(stream.getvalue(), lines_expected=1)


RASA_SCRIPT = r"""
import io, logging, sys, json
sys.argv = ["rasa"]
sys.path.insert(0, ".")
import scripts.rasa_server as server
server._install_safe_logging()
from rasa.utils.log_utils import configure_structlog
configure_structlog(logging.INFO)
import structlog
text = json.loads(sys.stdin.read())
structlog.get_logger().error("rest.message.received.timeout", text=text)
structlog.get_logger().info("processor.actions.log", rasa_events=[{"event": "user", "text": text}])
logging.getLogger("rasa.core.processor").warning("Received user message %s", text)
"""


@pytest.mark.skipif(not RASA_PY.exists(), reason="Rasa's venv is built by make setup")
def test_rasa_log_lines_including_structlog_events_are_safe():
    result = subprocess.run([str(RASA_PY), "-c", RASA_SCRIPT], cwd=ROOT, input=json.dumps(SAMPLE),
                            capture_output=True, text=True, timeout=300,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "FORCE_JSON_LOGGING": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "rest.message.received.timeout" in output and "Received user message" in output
    for typed, secret in TYPED:
        assert secret not in digits(output), output
    assert "乌力吉" not in output and "\x00" not in output
    assert not any(line.startswith("2026-01-01") for line in output.splitlines()), output


ACTIONS_SCRIPT = r"""
import json, logging, sys
sys.path.insert(0, ".")
import scripts.action_server as server
server.prepare()
from rasa_sdk import utils
utils.configure_colored_logging("INFO")
text = json.loads(sys.stdin.read())
logging.getLogger("rasa_sdk.executor").info("Received request to run %s", text)
logging.getLogger("actions.applications").warning(text)
"""


def test_action_server_log_lines_are_safe():
    result = subprocess.run([sys.executable, "-c", ACTIONS_SCRIPT], cwd=ROOT, input=json.dumps(SAMPLE),
                            capture_output=True, text=True, timeout=120, env={"PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "Received request to run" in output
    assert_safe(output, lines_expected=2)


def test_the_supervisor_masks_whatever_a_child_prints_outside_logging(monkeypatch):
    from scripts import supervise

    said = []
    monkeypatch.setattr(supervise, "say", lambda text, err=False: said.append(text))
    supervise._pump("rasa", io.BytesIO("print: 1506 0219 9208 1545 27 / +86 139-4776-1208\n".encode()))
    assert said == ["[rasa] print: 1506**********4527 / 139****1208"]
