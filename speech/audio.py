"""PCM helpers for the voice line: G.711 A-law / mu-law, resampling, 16-bit <-> float.

Pure numpy (+ scipy's polyphase filter), so the chat path and the SIP endpoint need no audio library.
A-law is what China's PSTN carries; mu-law is accepted because some PBXs offer it first.
"""
from __future__ import annotations

from functools import lru_cache
from math import gcd

import numpy as np

_BIAS = 0x84


@lru_cache(maxsize=1)
def _ulaw_encode_table() -> np.ndarray:
    x = np.arange(-32768, 32768, dtype=np.int32) >> 2          # G.711 works on 14-bit samples
    mask = np.where(x < 0, 0x7F, 0xFF)
    mag = np.minimum(np.where(x < 0, -x, x), 8159) + 0x21
    seg = np.zeros_like(mag)
    for s, end in enumerate((0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)):
        seg = np.where(mag > end, s + 1, seg)
    code = np.where(seg >= 8, 0x7F, (np.minimum(seg, 7) << 4) | ((mag >> (seg + 1)) & 0x0F))
    return (code ^ mask).astype(np.uint8)


@lru_cache(maxsize=1)
def _ulaw_decode_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    exp = (u >> 4) & 0x07
    mantissa = u & 0x0F
    mag = (((mantissa << 3) + _BIAS) << exp) - _BIAS
    return np.where(u & 0x80, -mag, mag).astype(np.int16)


@lru_cache(maxsize=1)
def _alaw_encode_table() -> np.ndarray:
    x = np.arange(-32768, 32768, dtype=np.int32)
    positive = x >= 0
    mag = np.where(positive, x, -x - 1)           # one's complement for negatives, as G.711 does
    mag = np.minimum(mag, 0x7FFF)
    exp = np.zeros_like(mag)
    for e in range(7, 0, -1):
        exp = np.where((exp == 0) & (mag >= (1 << (e + 7))), e, exp)
    mantissa = np.where(exp == 0, (mag >> 4) & 0x0F, (mag >> (exp + 3)) & 0x0F)
    code = (exp << 4) | mantissa
    code = np.where(positive, code | 0x80, code)
    return (code ^ 0x55).astype(np.uint8)


@lru_cache(maxsize=1)
def _alaw_decode_table() -> np.ndarray:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    mantissa = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    mag = np.where(seg == 0, mantissa + 8, (mantissa + 0x108) << np.maximum(seg - 1, 0))
    return np.where(a & 0x80, mag, -mag).astype(np.int16)


def lin2alaw(pcm: bytes) -> bytes:
    x = np.frombuffer(pcm, dtype="<i2").astype(np.int32) + 32768
    return _alaw_encode_table()[x].tobytes()


def alaw2lin(data: bytes) -> bytes:
    return _alaw_decode_table()[np.frombuffer(data, dtype=np.uint8)].astype("<i2").tobytes()


def lin2ulaw(pcm: bytes) -> bytes:
    x = np.frombuffer(pcm, dtype="<i2").astype(np.int32) + 32768
    return _ulaw_encode_table()[x].tobytes()


def ulaw2lin(data: bytes) -> bytes:
    return _ulaw_decode_table()[np.frombuffer(data, dtype=np.uint8)].astype("<i2").tobytes()


def pcm_to_float(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


def float_to_pcm(audio: np.ndarray) -> bytes:
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def resample(audio: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Whole-buffer polyphase resampling of float audio (exact for a complete utterance)."""
    if src_rate == dst_rate or audio.size == 0:
        return audio.astype(np.float32, copy=False)
    from scipy.signal import resample_poly

    g = gcd(src_rate, dst_rate)
    return resample_poly(audio, dst_rate // g, src_rate // g).astype(np.float32)


def upsample_frame(audio: np.ndarray, factor: int, last: float) -> tuple[np.ndarray, float]:
    """Cheap streaming upsampling by linear interpolation (VAD only; ASR gets `resample`)."""
    if factor == 1 or audio.size == 0:
        return audio, (float(audio[-1]) if audio.size else last)
    prev = np.concatenate([[last], audio[:-1]]).astype(np.float32)
    steps = np.arange(1, factor + 1, dtype=np.float32) / factor
    out = prev[:, None] + (audio - prev)[:, None] * steps[None, :]
    return out.reshape(-1).astype(np.float32), float(audio[-1])


def frames(pcm: bytes, sample_rate: int, ms: int = 20) -> list[bytes]:
    """Split 16-bit PCM into frames of `ms` milliseconds (the last one padded with silence)."""
    size = sample_rate * ms // 1000 * 2
    if len(pcm) % size:
        pcm += b"\x00" * (size - len(pcm) % size)
    return [pcm[i:i + size] for i in range(0, len(pcm), size)]


def read_wav(path) -> tuple[bytes, int]:
    """16-bit mono PCM and its rate from a WAV file (the formats the test clips and TTS caches use)."""
    import wave

    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit WAV is supported")
        pcm = wav.readframes(wav.getnframes())
        if wav.getnchannels() == 2:
            pcm = np.frombuffer(pcm, dtype="<i2").reshape(-1, 2).mean(axis=1).astype("<i2").tobytes()
        return pcm, wav.getframerate()


def write_wav(path, pcm: bytes, sample_rate: int) -> None:
    import wave

    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm)
