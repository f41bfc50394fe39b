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
        self._lock = threading.Lock()  # one CTranslate2 call at a time per model
        self._pending_lock = threading.Lock()
        self._pending: list[_Request] = []
        self.max_batch = max(1, int(os.environ.get("WHISPER_MAX_BATCH", "4") or 4))

    def _generate(self, feats: list[np.ndarray], frames: int, max_length: int) -> list[tuple]:
        """One CTranslate2 call for several utterances: each gets a window of `frames` (its features then
        silence). On two cores a batch of four costs 15-20 % less than four calls in a row (bench/voice.py)."""
        import ctranslate2

        window = np.zeros((len(feats), feats[0].shape[0], frames), dtype=np.float32)
        for row, item in enumerate(feats):
            n = min(frames, item.shape[1])
            window[row, :, :n] = item[:, :n]
        results = self.model.model.generate(
            ctranslate2.StorageView.from_array(window), [self.prompt_ids] * len(feats), beam_size=self.beam_size,
            max_length=min(448, len(self.prompt_ids) + max_length),  # the prompt counts toward the limit
            return_scores=True, return_no_speech_prob=True, suppress_blank=True, suppress_tokens=self.suppress)
        decoded = []
        for result in results:
            ids = [t for t in result.sequences_ids[0] if t < self.tokenizer.eot]
            decoded.append((self.tokenizer.decode(ids).strip(), len(ids), result.scores[0], result.no_speech_prob))
        return decoded

    def _recognise(self, batch: list["_Request"]) -> None:
        """Recognise every waiting utterance in one call; an output that runs past its budget or repeats
        itself is decoded again alone on a longer window."""
        if not self.trim:
            for request in batch:
                request.result = self._generate([request.feats], 3000, 448 - len(self.prompt_ids))[0]
            return
        frames = min(3000, max(r.feats.shape[1] for r in batch) + self.pad_frames)
        outputs = self._generate([r.feats for r in batch], frames, max(r.budget for r in batch))
        for request, (text, count, score, no_speech) in zip(batch, outputs):
            if count >= request.budget or _repetitive(text):
                longer = min(3000, request.feats.shape[1] + 4 * self.pad_frames)
                text, count, score, no_speech = self._generate([request.feats], longer, request.budget)[0]
            request.result = (text, count, score, no_speech)

    def transcribe(self, audio: np.ndarray) -> Transcript:
        """Blocking; safe from many threads. Utterances that arrive while the model is busy wait and are
        then recognised together in one batch (at most `max_batch`), instead of one after another."""
        start = time.perf_counter()
        audio = np.asarray(audio, dtype=np.float32)[: 30 * ASR_RATE]
        seconds = audio.shape[0] / ASR_RATE
        budget = int(8 * seconds) + 16  # Mandarin: about 4 characters a second, rarely more than 2 tokens each
        request = _Request(self.features(audio, padding=160), budget)
        with self._pending_lock:
            self._pending.append(request)
        while request.result is None:
            with self._lock:  # whoever holds the model recognises everything waiting, its own request included
                if request.result is not None:
                    break  # recognised by the caller that held the model: leave the next batch to the others
                with self._pending_lock:
                    batch = self._pending[:self.max_batch]
                    del self._pending[:len(batch)]
                if batch:
                    try:
                        self._recognise(batch)
                    except BaseException as exc:  # each caller of the batch gets the error, none waits for ever
                        for item in batch:
                            if item.result is None:
                                item.error = exc
                                item.result = ("", 0, 0.0, 1.0)
                        if not isinstance(exc, Exception):
                            raise
        if request.error is not None:
            raise request.error
        text, _count, score, no_speech = request.result
        # scores are length-normalised log probabilities; exp() is the mean token probability
        confidence = float(math.exp(score)) * (1.0 - 0.5 * no_speech) if text else 0.0
        return Transcript(text=text, confidence=confidence, seconds=time.perf_counter() - start)


class _Request:
    __slots__ = ("feats", "budget", "result", "error")

    def __init__(self, feats: np.ndarray, budget: int) -> None:
        self.feats, self.budget = feats, budget
        self.result: tuple | None = None
        self.error: BaseException | None = None


def _repetitive(text: str) -> bool:
    """Whisper's failure mode on short windows: the same phrase over and over."""
    if len(text) < 12:
        return False
    import zlib

    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) > 2.4
