"""A Python client of `WS /ws/voice` for tests and bench/voice.py: streams a clip in 20 ms frames at
real-time pace (as a PBX media fork or the widget does) and records every event and audio frame with
the time it arrived."""
from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field

import numpy as np

from speech.audio import pcm_to_float, read_wav, resample
from speech.textnorm import normalize_transcript
from tests.shared_data import ASR_CLIPS

CLIPS = ASR_CLIPS


def references() -> dict[str, str]:
    rows = (CLIPS / "transcripts.tsv").read_text(encoding="utf-8").splitlines()
    return dict(r.split("\t", 1) for r in rows if "\t" in r)


def cer_counts(ref: str, hyp: str) -> tuple[int, int]:
    """(character edits, reference length) between two transcripts, both normalised as the voice line does."""
    ref = re.sub(r"\W", "", normalize_transcript(ref))
    hyp = re.sub(r"\W", "", normalize_transcript(hyp))
    row = list(range(len(hyp) + 1))
    for i, a in enumerate(ref, 1):
        prev, row[0] = row[:], i
        for j, b in enumerate(hyp, 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a != b))
    return row[len(hyp)], len(ref)


def cer(ref: str, hyp: str) -> float:
    """Character error rate of `hyp` against `ref`."""
    errors, chars = cer_counts(ref, hyp)
    return errors / max(1, chars)


def transcribe_together(recognizer, audio: dict[str, np.ndarray], timeout: float = 120) -> dict[str, str]:
    """What `recognizer` hears when every caller in `audio` finishes speaking at the same instant (one thread
    per caller, released together)."""
    import threading

    heard: dict[str, str] = {}
    barrier = threading.Barrier(len(audio))

    def caller(name: str) -> None:
        barrier.wait()
        heard[name] = recognizer.transcribe(audio[name]).text

    threads = [threading.Thread(target=caller, args=(name,)) for name in audio]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return heard


def clip_pcm(name: str, rate: int) -> bytes:
    pcm, src = read_wav(CLIPS / name)
    audio = resample(pcm_to_float(pcm), src, rate)
    return (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()


def speech_onset(pcm: bytes, rate: int) -> float:
    """Seconds into the clip where speech starts (first 20 ms frame well above the noise floor)."""
    x = pcm_to_float(pcm)
    n = rate // 50
    energy = np.array([np.sqrt(np.mean(x[i:i + n] ** 2)) for i in range(0, len(x) - n, n)])
    floor = np.percentile(energy, 10)
    loud = np.nonzero(energy > max(floor * 6, 0.01))[0]
    return float(loud[0]) * 0.02 if loud.size else 0.0


@dataclass
class VoiceCall:
    """Like a phone or a browser microphone, the client streams audio all the time: silence unless it is
    playing a clip, one 20 ms frame every 20 ms."""

    url: str
    rate: int = 16000
    setup: dict = field(default_factory=dict)
    events: list[tuple[float, dict]] = field(default_factory=list)
    audio: list[tuple[float, int]] = field(default_factory=list)   # (arrival time, bytes)
    closed: bool = False

    async def __aenter__(self) -> "VoiceCall":
        import websockets

        self.ws = await websockets.connect(self.url, max_size=None, open_timeout=120)
        await self.ws.send(json.dumps({"sample_rate": self.rate, **self.setup}))
        self.frame_bytes = self.rate // 50 * 2
        self._queue: list[tuple[bytes, object]] = []
        self._reader = asyncio.create_task(self._read())
        self._writer = asyncio.create_task(self._write())
        return self

    async def __aexit__(self, *exc) -> None:
        self._writer.cancel()
        self._reader.cancel()
        await self.ws.close()

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                now = time.monotonic()
                if isinstance(message, bytes):
                    self.audio.append((now, len(message)))
                else:
                    self.events.append((now, json.loads(message)))
        except Exception:  # noqa: BLE001 - the server closed the socket
            pass
        self.closed = True

    async def _write(self) -> None:
        silence = b"\x00" * self.frame_bytes
        start, i = time.monotonic(), 0
        try:
            while True:
                frame, callback = self._queue.pop(0) if self._queue else (silence, None)
                await self.ws.send(frame)
                if callback is not None:
                    callback(time.monotonic())
                i += 1
                delay = start + i * 0.02 - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
        except Exception:  # noqa: BLE001 - socket closed
            self.closed = True

    def of_type(self, kind: str, since: float = 0.0) -> list[tuple[float, dict]]:
        return [(t, e) for t, e in self.events if e.get("type") == kind and t >= since]

    def bots(self, since: float = 0.0) -> list[dict]:
        return [e["message"] for _, e in self.of_type("bot", since)]

    async def wait_event(self, event_type: str, since: float = 0.0, timeout: float = 60.0,
                         **match) -> tuple[float, dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for t, e in self.of_type(event_type, since):
                if all(e.get(k) == v or (e.get("message") or {}).get(k) == v for k, v in match.items()):
                    return t, e
            if self.closed:
                break
            await asyncio.sleep(0.02)
        raise AssertionError(f"no {event_type} {match} within {timeout}s; events: {[e for _, e in self.events]}")

    async def wait_quiet(self, quiet: float = 1.2, timeout: float = 90.0, since: float = 0.0) -> float:
        """Wait until the bot has sent audio (after `since`) and then none for `quiet` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            if self.audio and self.audio[-1][0] > since and time.monotonic() - self.audio[-1][0] >= quiet:
                return self.audio[-1][0]
        raise AssertionError("the bot never went quiet")

    async def send_pcm(self, pcm: bytes, on_frame=None) -> float:
        """Queue a clip (real-time pace); returns when its last frame has been sent, with that time."""
        done = asyncio.get_running_loop().create_future()
        frames_ = [pcm[o:o + self.frame_bytes].ljust(self.frame_bytes, b"\x00")
                   for o in range(0, len(pcm), self.frame_bytes)]
        for i, frame in enumerate(frames_):
            def callback(t, i=i):
                if on_frame is not None:
                    on_frame(i, t)
                if i == len(frames_) - 1 and not done.done():
                    done.set_result(t)
            self._queue.append((frame, callback))
        return await done

    async def send_silence(self, seconds: float) -> float:
        return await self.send_pcm(b"\x00" * (int(self.rate * seconds) * 2))

    async def dtmf(self, digit: str) -> None:
        await self.ws.send(json.dumps({"type": "dtmf", "digit": digit}))

    def audio_between(self, start: float, end: float) -> int:
        return sum(n for t, n in self.audio if start <= t < end)
