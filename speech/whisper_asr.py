"""Speech recognition with faster-whisper (CTranslate2, int8 on the CPU) and Whisper base.

The model is rebuilt offline from PyPI parts (speech/build_whisper.py -> build/models/whisper-base).
Whisper normally encodes a padded 30-second window whatever the utterance length; on a phone line an
utterance is 1-8 s, so the encoder gets only the utterance's features plus a second of silence (CTranslate2
accepts the shorter input), which shrinks its work roughly in proportion (bench/voice.py measures both;
faster-whisper's own `chunk_length` still pads to 30 s). Decoding is greedy at
temperature 0 with no fallback and no timestamps. A short Simplified-Chinese prompt with the hotline's
vocabulary steers the script (Simplified, not Traditional) and the spelling of service names.
"""
from __future__ import annotations

import math
import os
import threading
import time
from pathlib import Path

import numpy as np

from speech.base import ASR_RATE, SpeechUnavailable, Transcript

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_DIR = ROOT / "build" / "models" / "whisper-base"
HOTLINE_PROMPT = ("12345政务服务便民热线，蒙速办。办理营业执照、社保卡、医保、户口、身份证、公积金、"
                  "新生儿出生一件事、退休一件事。鄂尔多斯、呼和浩特、包头、东胜区。")


class WhisperRecognizer:
    """`trim=True` (default): encode only the utterance plus `pad_seconds` of silence instead of a
    30-second window. CTranslate2's Whisper encoder accepts the shorter input; without any silence after
    the speech the decoder tends to repeat itself, so a second of padding stays, and an output that
    still looks repetitive (or runs past the token budget) is decoded again on the full window."""

    name = "whisper"

    def __init__(self, model_dir: str | Path | None = None, *, threads: int | None = None, beam_size: int = 1,
                 trim: bool = True, pad_seconds: float = 1.0, prompt: str | None = HOTLINE_PROMPT) -> None:
        model_dir = Path(model_dir or os.environ.get("WHISPER_MODEL_DIR") or DEFAULT_MODEL_DIR)
        if not (model_dir / "model.bin").exists():
            raise SpeechUnavailable(f"Whisper model missing in {model_dir}: run `make voice-models`")
        from faster_whisper import WhisperModel  # heavy import: only when the voice line starts
        from faster_whisper.feature_extractor import FeatureExtractor
        from faster_whisper.tokenizer import Tokenizer

        threads = threads or int(os.environ.get("WHISPER_THREADS", "0") or 0) or min(2, os.cpu_count() or 1)
        self.model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=threads,
                                  num_workers=1)
        self.features = FeatureExtractor(feature_size=self.model.feature_extractor.mel_filters.shape[0])
        self.tokenizer = Tokenizer(self.model.hf_tokenizer, True, task="transcribe", language="zh")
        prefix = [self.tokenizer.sot_prev] + self.tokenizer.encode(" " + prompt)[:100] if prompt else []
        self.prompt_ids = prefix + list(self.tokenizer.sot_sequence) + [self.tokenizer.no_timestamps]
        suppress = set(self.tokenizer.non_speech_tokens) | {
            self.tokenizer.transcribe, self.tokenizer.translate, self.tokenizer.sot, self.tokenizer.sot_prev,
            self.tokenizer.sot_lm, self.tokenizer.no_speech}
        self.suppress = sorted(suppress)
        self.beam_size, self.trim, self.pad_frames = beam_size, trim, int(pad_seconds * 100)
        self._lock = threading.Lock()  # one CTranslate2 call at a time per model; calls queue up

    def _decode(self, feats: np.ndarray, frames: int, max_length: int):
        import ctranslate2

        window = np.zeros((1, feats.shape[0], frames), dtype=np.float32)
        n = min(frames, feats.shape[1])
        window[0, :, :n] = feats[:, :n]
        result = self.model.model.generate(
            ctranslate2.StorageView.from_array(window), [self.prompt_ids], beam_size=self.beam_size,
            max_length=min(448, len(self.prompt_ids) + max_length),  # the prompt counts toward the limit
            return_scores=True, return_no_speech_prob=True, suppress_blank=True, suppress_tokens=self.suppress)[0]
        ids = [t for t in result.sequences_ids[0] if t < self.tokenizer.eot]
        return self.tokenizer.decode(ids).strip(), len(ids), result.scores[0], result.no_speech_prob

    def transcribe(self, audio: np.ndarray) -> Transcript:
        start = time.perf_counter()
        audio = np.asarray(audio, dtype=np.float32)[: 30 * ASR_RATE]
        seconds = audio.shape[0] / ASR_RATE
        feats = self.features(audio, padding=160)
        budget = int(8 * seconds) + 16  # Mandarin: about 4 characters a second, rarely more than 2 tokens each
        with self._lock:
            if self.trim:
                text, count, score, no_speech = self._decode(feats, min(3000, feats.shape[1] + self.pad_frames),
                                                             budget)
                if count >= budget or _repetitive(text):
                    longer = min(3000, feats.shape[1] + 4 * self.pad_frames)
                    text, count, score, no_speech = self._decode(feats, longer, budget)
            else:
                text, count, score, no_speech = self._decode(feats, 3000, 448 - len(self.prompt_ids))
        # scores are length-normalised log probabilities; exp() is the mean token probability
        confidence = float(math.exp(score)) * (1.0 - 0.5 * no_speech) if text else 0.0
        return Transcript(text=text, confidence=confidence, seconds=time.perf_counter() - start)


def _repetitive(text: str) -> bool:
    """Whisper's failure mode on short windows: the same phrase over and over."""
    if len(text) < 12:
        return False
    import zlib

    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) > 2.4
