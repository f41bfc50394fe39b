"""The SIP endpoint end to end, called by real SIP user agents on 127.0.0.1: sipp (Debian sip-tester)
with a G.711 A-law RTP stream made from a real Mandarin clip and RFC 4733 DTMF from sipp's own pcaps,
and baresip dialling in with a recorded question as its microphone. The gateway of the live stack runs
the endpoint (SIP_PORT); what the endpoint says comes back as RTP to a listener of the test.

About two minutes: each call waits for the real greeting, recognition, dialogue and synthesis."""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from speech.audio import alaw2lin, pcm_to_float, read_wav, write_wav
from tests.sip_tools import RtpListener, sipp_scenario, write_rtp_pcap
from tests.voice_client import clip_pcm

pytestmark = pytest.mark.slow
CLIP = "fr_BAC009S0764W0121.wav"
DTMF = Path("/usr/share/sip-tester")


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} missing: run `make system-deps` (Debian sip-tester / baresip-core)")
    return path


def _sip_port(live_stack) -> int:
    return int(live_stack["env"]["SIP_PORT"])


def _voiced_seconds(pcm: bytes) -> float:
    """Seconds of 20 ms frames with speech-like energy (the bot talking, not silence)."""
    x = pcm_to_float(pcm)
    n = 160
    rms = np.array([np.sqrt(np.mean(x[i:i + n] ** 2)) for i in range(0, len(x) - n, n)])
    return float((rms > 0.02).sum()) * 0.02


def _sipp(tmp_path: Path, port: int, scenario: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([_tool("sipp"), "-sf", str(scenario), "-m", "1", "-i", "127.0.0.1", "-p", "0",
                           "-mi", "127.0.0.1", "-timeout", f"{timeout}s", "-timeout_error", "-nostdin",
                           "-trace_err", f"127.0.0.1:{port}"], capture_output=True, text=True, cwd=tmp_path,
                          timeout=timeout + 30)


def test_sipp_call_with_a_recorded_question_gets_a_spoken_answer_and_hangs_up(live_stack, tmp_path):
    clip = write_rtp_pcap(tmp_path / "question.pcap", clip_pcm(CLIP, 8000))
    listener = RtpListener()
    try:
        # greeting (barged into 6 s after the ACK), the question, then time for the answer; the caller hangs up
        scenario = sipp_scenario(tmp_path / "call.xml", listener.port,
                                 [("pause", 6000), ("pcap", clip), ("pause", 20000)])
        result = _sipp(tmp_path, _sip_port(live_stack), scenario)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        # The greeting starts just after the ACK (the first call of the gateway is answered only once the speech
        # engines have loaded), so its first packet marks when the call began for the caller.
        assert listener.packets, "the caller heard nothing"
        answered = listener.packets[0][0]
        clip_end = answered + 6.0 + len(clip_pcm(CLIP, 8000)) / 16000
        greeting = b"".join(alaw2lin(p) for t, pt, p in listener.packets if pt == 8 and t < answered + 5.5)
        answer = b"".join(alaw2lin(p) for t, pt, p in listener.packets if pt == 8 and t > clip_end)
        assert _voiced_seconds(greeting) > 1.0       # the greeting was playing before the caller spoke
        assert _voiced_seconds(answer) > 1.0         # and the question got a spoken answer
        write_wav(tmp_path / "heard.wav", listener.pcm(), 8000)
    finally:
        listener.close()


def test_sipp_dtmf_zero_is_transferred_with_refer_then_bye(live_stack, tmp_path):
    listener = RtpListener()
    try:
        scenario = sipp_scenario(tmp_path / "dtmf.xml", listener.port,
                                 [("pause", 3000), ("pcap", DTMF / "dtmf_2833_0.pcap"), ("pause", 500)], "transfer")
        result = _sipp(tmp_path, _sip_port(live_stack), scenario)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    finally:
        listener.close()


def test_baresip_dials_in_speaks_a_recorded_question_and_hears_an_answer(live_stack, tmp_path):
    baresip = _tool("baresip")
    question = tmp_path / "question.wav"
    silence = b"\x00" * (8000 * 2 * 6)                # the greeting plays for six seconds first
    write_wav(question, silence + clip_pcm(CLIP, 8000) + b"\x00" * (8000 * 2 * 30), 8000)
    conf = tmp_path / "baresip"
    conf.mkdir()
    (conf / "accounts").write_text("<sip:tester@127.0.0.1>;regint=0;audio_codecs=PCMA\n")
    (conf / "config").write_text("\n".join([
        "sip_listen 127.0.0.1:0", "module_path /usr/lib/baresip/modules", "module stdio.so", "module g711.so",
        "module aufile.so", "module sndfile.so", "module account.so", "module menu.so",
        f"audio_source aufile,{question}", "audio_player aufile,/dev/null", "audio_alert aufile,/dev/null",
        f"snd_path {tmp_path}", "rtp_ports 20000-20100", "audio_buffer 20-160", ""]))
    proc = subprocess.run([baresip, "-f", str(conf), "-e", f"/dial sip:ai@127.0.0.1:{_sip_port(live_stack)}",
                           "-t", "35"], capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL)
    log = proc.stdout + proc.stderr
    assert "Call established" in log or "call established" in log.lower(), log[-3000:]
    received = sorted(tmp_path.glob("dump-*-dec.wav"))     # what baresip's loudspeaker got
    assert received, log[-3000:]
    pcm, rate = read_wav(received[0])
    assert rate == 8000
    question_end = int((6 + len(clip_pcm(CLIP, 8000)) / 16000 + 0.5) * 8000) * 2
    assert _voiced_seconds(pcm[:6 * 8000 * 2]) > 1.0, log[-2000:]       # the greeting
    assert _voiced_seconds(pcm[question_end:]) > 1.0, log[-2000:]       # the spoken answer


def _bursts(listener: RtpListener, started: float) -> list[tuple[float, float]]:
    """(start, end) seconds of the endpoint's speech, merged across pauses shorter than 2 s."""
    voiced = sorted(t - started for t, pt, p in listener.packets
                    if pt == 8 and np.sqrt(np.mean(pcm_to_float(alaw2lin(p)) ** 2)) > 0.02)
    bursts: list[list[float]] = []
    for t in voiced:
        if bursts and t - bursts[-1][1] < 2.0:
            bursts[-1][1] = t
        else:
            bursts.append([t, t])
    return [(a, b) for a, b in bursts]


def test_sipp_caller_who_says_nothing_is_reprompted(live_stack, tmp_path):
    """No word from the caller: after the greeting and VOICE_NO_INPUT_SECONDS (8 s) of silence, a reprompt."""
    listener = RtpListener()
    try:
        scenario = sipp_scenario(tmp_path / "silent.xml", listener.port, [("pause", 40000)])
        started = time.monotonic()
        result = _sipp(tmp_path, _sip_port(live_stack), scenario)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        bursts = _bursts(listener, started)
        assert len(bursts) >= 2, bursts                       # the greeting, then the reprompt
        assert bursts[1][0] - bursts[0][1] >= 7.0, bursts     # only after the silence
    finally:
        listener.close()
