"""The small interfaces every speech engine implements (one engine per file in speech/).

Audio inside the voice line is float32 mono at 16 kHz for recognition and voice activity; synthesisers
return 16-bit PCM at their own rate and the caller resamples to the channel's rate.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

ASR_RATE = 16000


@dataclass(frozen=True)
class Transcript:
    text: str                # raw recogniser output (normalise with speech.textnorm before the dialogue)
    confidence: float        # 0..1; low values are confirmed with the caller before acting on them
    seconds: float = 0.0     # processing time


class Recognizer(Protocol):
    name: str

    def transcribe(self, audio: np.ndarray) -> Transcript:
        """One complete utterance, float32 mono at 16 kHz."""


class VoiceActivity(Protocol):
    frame_samples: int  # samples per call at 16 kHz

    def reset(self) -> None: ...

    def probability(self, frame: np.ndarray) -> float:
        """Speech probability of the next `frame_samples` samples of a stream."""


class Synthesizer(Protocol):
    name: str
    sample_rate: int

    def synthesize(self, text: str) -> bytes:
        """16-bit little-endian mono PCM at `sample_rate` for one clause of Simplified Chinese text."""


class SpeechUnavailable(RuntimeError):
    """An engine's model or process is missing; the message says how to build it."""
