"""One phone call (or microphone session), whatever carries it: the channel-neutral voice session.

A transport (the SIP endpoint, `WS /ws/voice`) feeds it 20 ms frames of 16-bit mono PCM at 8 or 16 kHz
plus DTMF digits and hang-up, and gives it a `VoiceSink` to send audio frames, JSON events, a transfer
and a hang-up back. The session

- detects speech with Silero VAD and ends the caller's turn after a pause tuned to what was asked
  (short after a yes/no or menu question, long while the caller reads out a number);
- recognises the utterance (speech/), normalises it (Traditional -> Simplified, spoken digits -> 138...)
  and drives the SAME TurnService as the web chat, channel "voice";
- speaks every bot message in its spoken form (connectors/voice/spoken.py), clause by clause so the first
  clause plays while the rest is synthesised, fixed prompts cached;
- stops its own playback when the caller starts speaking or presses a key (barge-in: `clear`);
- reprompts after silence (twice), then says goodbye and hangs up (or transfers, VOICE_NO_INPUT_FINAL);
- takes DTMF: 0 = a person, 1-4 = the choices just offered, digits ending with # = a number, * = repeat;
- confirms a low-confidence recognition ("您是想问……吗？") before acting on it;
- transfers to a person (SIP REFER / a `transfer` event) when the caller asks for one.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from connectors.gateway.errors import ApiError
from connectors.voice.spoken import is_number_entry, rating_payload, wants_short_pause, with_speech
from core.privacy import mask_text
from speech.audio import float_to_pcm, frames, pcm_to_float, resample, upsample_frame
from speech.base import ASR_RATE
from speech.textnorm import dtmf_text, for_speech, normalize_transcript

log = logging.getLogger("hotline.voice")

GREETING = ("您好，这里是12345政务服务便民热线智能助手。如遇火灾、治安或急救等紧急情况，请挂机直接拨打119、110或120。"
            "请问有什么可以帮您？转人工请按0。")
REPROMPTS = ("您好，您还在吗？请直接说出您要办理的事情，转人工请按0。",
             "抱歉，我没有听到您的声音。您可以说，比如，新生儿出生要办什么，或者按0转人工。")
NO_INPUT_GOODBYE = "很抱歉，一直没有听到您的声音，我先挂断了。如需帮助，请再次拨打12345。再见。"
TRANSFER = "好的，正在为您转接人工坐席，请稍候。"
NOT_HEARD = "抱歉，我没有听清，请您再说一遍。"
SAY_AGAIN = "好的，请您再说一遍。"
BUSY = "您说得有点快，请稍等几秒再说。"
UNAVAILABLE = "系统暂时繁忙，正在为您转接人工坐席。"
FIXED_PROMPTS = (GREETING, *REPROMPTS, NO_INPUT_GOODBYE, TRANSFER, NOT_HEARD, SAY_AGAIN, BUSY, UNAVAILABLE)
_YES = re.compile(r"^(是|对|嗯|没错|是的|对的|对啊|是啊|好|好的|可以|确认)")
_NO = re.compile(r"^(不|不是|没有|错|错了|不对)")
# Whisper's hallucinations on noise or silence (subtitle credits from its training data)
_HALLUCINATION = re.compile(r"字幕|订阅|点赞|谢谢观看|明镜|Amara|请不吝")
# Synthesised clauses as the engine made them, keyed (engine, clause), whatever the rate of the call that asked:
# the fixed prompts for the life of the process, and the recent clauses of dialogue answers (templated, so they
# repeat across calls; memory only). Each call resamples to its own rate.
_PROMPT_CACHE: dict[tuple, bytes] = {}
_CLAUSE_CACHE: "OrderedDict[tuple, bytes]" = OrderedDict()
CLAUSE_CACHE_SIZE = 256


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, "") or default)
    except ValueError as exc:
        raise ValueError(f"environment variable {name} must be a number") from exc


@dataclass
class VoiceConfig:
    agent_uri: str = field(default_factory=lambda: os.environ.get("VOICE_AGENT_URI", "") or "sip:agents@127.0.0.1")
    no_input_seconds: float = field(default_factory=lambda: _env_float("VOICE_NO_INPUT_SECONDS", 8.0))
    no_input_retries: int = 2
    no_input_final: str = field(default_factory=lambda: os.environ.get("VOICE_NO_INPUT_FINAL", "hangup"))
    end_silence_ms: int = field(default_factory=lambda: int(_env_float("VOICE_END_SILENCE_MS", 700)))
    short_silence_ms: int = 450     # after a yes/no or menu question
    long_silence_ms: int = 1200     # while the caller reads a number or describes a problem
    speech_threshold: float = 0.5
    silence_threshold: float = 0.35
    start_ms: int = 96              # voiced time before a turn starts (and barge-in fires)
    start_ms_during_prompt: int = 160
    min_speech_ms: int = 200
    max_utterance_seconds: float = 20.0
    preroll_ms: int = 300
    early_asr_ms: int = 300         # start recognising after this much silence (used if the turn then ends)
    low_confidence: float = field(default_factory=lambda: _env_float("VOICE_LOW_CONFIDENCE", 0.35))
    agent_key_wait_seconds: float = 1.5
    barge_in: bool = True


class VoiceSink(Protocol):
    async def audio(self, pcm: bytes) -> None: ...        # one frame at the session's rate
    async def event(self, event: dict) -> None: ...       # transcript / bot / clear (JSON-able)
    async def transfer(self, target: str) -> None: ...
    async def hangup(self) -> None: ...


def clauses(text: str) -> list[str]:
    """Split for synthesis: sentences, long ones at commas; the first clause kept short to start early."""
    out: list[str] = []
    for sentence in re.findall(r"[^。！？；]+[。！？；]?", text):
        sentence = sentence.strip()
        if not sentence:
            continue
        # The first clause is as short as the text allows ("好的，"): it is synthesised (or found in the clause
        # cache) in a fraction of a second, and the pause after it while the next clause is made sounds natural.
        first = not out
        limit = 10 if first else 40
        while len(sentence) > limit and "，" in sentence[2 if first else 4:]:
            cut = sentence.find("，", 2 if first else 4) + 1
            out.append(sentence[:cut])
            sentence = sentence[cut:]
            first, limit = False, 40
        out.append(sentence)
    return [c for c in out if re.search(r"[\u4e00-\u9fffA-Za-z0-9]", c)]


class VoiceSession:
    def __init__(self, turns: Any, engines: Any, sink: VoiceSink, *, sender: str, sample_rate: int,
                 config: VoiceConfig | None = None, channel: str = "voice") -> None:
        if sample_rate not in (8000, 16000):
            raise ValueError("sample_rate must be 8000 or 16000")
        self.turns, self.engines, self.sink = turns, engines, sink
        self.sender, self.rate, self.channel = sender, sample_rate, channel
        self.config = config or VoiceConfig()
        self.frame_bytes = sample_rate // 50 * 2
        self.vad = engines.vad()
        self._vad_buf = np.zeros(0, dtype=np.float32)
        self._vad_last = 0.0
        self._recent: deque[bytes] = deque(maxlen=max(1, self.config.preroll_ms // 20))
        self._utt = bytearray()
        self._early: tuple[int, asyncio.Task] | None = None   # (utterance length, recognition) started early
        self.in_speech = False
        self._voiced_ms = self._silence_ms = self._speech_ms = 0
        self._inbox: asyncio.Queue = asyncio.Queue()
        self._work: asyncio.Queue = asyncio.Queue()
        self._play: deque[bytes] = deque()
        self.playing = False
        self.generation = 0          # bumped by barge-in: synthesis of older replies is dropped
        self.busy = False
        self.ended = False
        self.last_message: dict | None = None
        self.last_speech = ""
        self.pending_confirm: str | None = None
        self.said_goodbye = False
        self.no_input_count = 0
        self._idle_since: float | None = None
        self.dtmf_buffer = ""
        self._agent_timer: asyncio.Task | None = None
        self._last_audio = time.monotonic()
        self._drained = asyncio.Event()
        self._drained.set()
        self._tasks: list[asyncio.Task] = []

    # ---- transport side -------------------------------------------------------------------------
    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._input_loop()), asyncio.create_task(self._work_loop()),
                       asyncio.create_task(self._pacer())]
        greeting = {"text": GREETING, "kind": "greeting", "data": {"speech": GREETING}, "buttons": []}
        self.last_message = greeting
        await self.sink.event({"type": "bot", "message": greeting})
        self._work.put_nowait(("say", GREETING))  # spoken by the worker: input flows meanwhile

    def feed(self, pcm: bytes) -> None:
        if not self.ended and pcm:
            self._last_audio = time.monotonic()
            self._inbox.put_nowait(("audio", pcm))

    def dtmf(self, digit: str) -> None:
        if not self.ended and digit in "0123456789*#ABCD":
            self._inbox.put_nowait(("dtmf", digit))

    async def hangup(self) -> None:
        """The caller hung up (BYE, socket closed): stop everything, say nothing."""
        await self.close()

    async def close(self) -> None:
        self.ended = True
        self._play.clear()
        current = asyncio.current_task()
        for task in [*self._tasks, self._agent_timer]:
            if task is not None and task is not current and not task.done():
                task.cancel()
        for task in self._tasks:
            if task is not current:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    # ---- input: VAD, end of turn, barge-in, DTMF ------------------------------------------------
    async def _input_loop(self) -> None:
        while not self.ended:
            kind, value = await self._inbox.get()
            try:
                if kind == "audio":
                    await self._on_audio(value)
                else:
                    await self._on_dtmf(value)
            except Exception:  # noqa: BLE001 - one bad frame must not end the call
                log.exception("voice input failed sender=%s", self.sender[:16])

    async def _on_audio(self, pcm: bytes) -> None:
        if len(pcm) % 2:
            pcm = pcm[:-1]
        x = pcm_to_float(pcm)
        if self.rate == 8000:
            x, self._vad_last = upsample_frame(x, 2, self._vad_last)
        self._vad_buf = np.concatenate([self._vad_buf, x])
        if self.in_speech:
            self._utt.extend(pcm)
        else:
            self._recent.append(pcm)
        n = self.vad.frame_samples
        while self._vad_buf.shape[0] >= n:
            chunk, self._vad_buf = self._vad_buf[:n], self._vad_buf[n:]
            await self._on_vad(self.vad.probability(chunk), n * 1000 // ASR_RATE)

    def _end_silence_ms(self) -> int:
        message = self.last_message
        if is_number_entry(message) or (message or {}).get("kind") in ("appeal",) or \
                ((message or {}).get("data") or {}).get("type") in ("text", "address"):
            return self.config.long_silence_ms
        if self.pending_confirm is not None or wants_short_pause(message):
            return self.config.short_silence_ms
        return self.config.end_silence_ms

    async def _on_vad(self, p: float, ms: int) -> None:
        cfg = self.config
        if not self.in_speech:
            self._voiced_ms = self._voiced_ms + ms if p >= cfg.speech_threshold else 0
            needed = cfg.start_ms_during_prompt if self.playing else cfg.start_ms
            if self._voiced_ms >= needed:
                log.debug("speech start sender=%s playing=%s", self.sender[:16], self.playing)
                self.in_speech = True
                self._utt = bytearray(b"".join(self._recent))
                self._recent.clear()
                self._speech_ms, self._silence_ms = self._voiced_ms, 0
                self._idle_since = None
                if cfg.barge_in:
                    await self._barge_in()
            return
        if p < cfg.silence_threshold:
            self._silence_ms += ms
            if (self._early is None and self._silence_ms >= cfg.early_asr_ms and self._speech_ms >= cfg.min_speech_ms
                    and self._silence_ms < self._end_silence_ms()):
                # Recognise while waiting to be sure the caller has finished: if the pause turns out to be the end
                # of the turn, the transcript is (nearly) ready; if the caller goes on, the result is dropped.
                snapshot = bytes(self._utt)
                self._early = (len(snapshot), asyncio.create_task(self._recognise(snapshot)))
        else:
            self._silence_ms = 0
            if p >= cfg.speech_threshold:
                self._speech_ms += ms
                self._early = None
        too_long = len(self._utt) / 2 / self.rate >= cfg.max_utterance_seconds
        if self._silence_ms >= self._end_silence_ms() or too_long:
            self.in_speech = False
            self._voiced_ms = 0
            keep = max(0, self._silence_ms - 200) * self.rate // 1000 * 2  # leave 200 ms of the pause
            audio = bytes(self._utt[: len(self._utt) - keep] if keep else self._utt)
            self._utt = bytearray()
            log.debug("speech end sender=%s speech_ms=%s bytes=%s", self.sender[:16], self._speech_ms, len(audio))
            early, self._early = self._early, None
            if self._speech_ms >= cfg.min_speech_ms:
                self._work.put_nowait(("speech", (audio, early[1] if early else None)))

    async def _barge_in(self) -> None:
        """Stop talking: the caller speaks or pressed a key while a prompt plays (or was being made)."""
        self.generation += 1
        was_playing = self.playing or bool(self._play)
        self._play.clear()
        if was_playing:
            self.playing = False
            self._drained.set()
            await self.sink.event({"type": "clear"})

    async def _on_dtmf(self, digit: str) -> None:
        await self._barge_in()
        self.no_input_count = 0
        self._idle_since = None
        if self._agent_timer is not None and not self._agent_timer.done():
            self._agent_timer.cancel()
        entry = is_number_entry(self.last_message)
        if digit == "#":
            if self.dtmf_buffer == "0" and not entry:
                self.dtmf_buffer = ""
                self._work.put_nowait(("agent", None))
            elif self.dtmf_buffer:
                text, self.dtmf_buffer = dtmf_text(self.dtmf_buffer), ""
                self._work.put_nowait(("text", text))
            return
        if digit == "*":
            if self.dtmf_buffer:
                self.dtmf_buffer = ""
            else:
                self._work.put_nowait(("repeat", None))
            return
        rate = rating_payload(self.last_message, digit) if not self.dtmf_buffer else None
        if rate is not None:
            self._work.put_nowait(("text", rate))
            return
        if not self.dtmf_buffer and not entry:
            if digit == "0":
                self.dtmf_buffer = "0"
                self._agent_timer = asyncio.create_task(self._agent_key())
                return
            buttons = (self.last_message or {}).get("buttons") or []
            if digit.isdigit() and 1 <= int(digit) <= min(len(buttons), 4):
                self._work.put_nowait(("text", buttons[int(digit) - 1]["payload"]))
                return
        self.dtmf_buffer += digit

    async def _agent_key(self) -> None:
        await asyncio.sleep(self.config.agent_key_wait_seconds)
        if self.dtmf_buffer == "0":
            self.dtmf_buffer = ""
            self._work.put_nowait(("agent", None))

    # ---- turns ------------------------------------------------------------------------------------
    async def _work_loop(self) -> None:
        while not self.ended:
            kind, value = await self._work.get()
            self.busy = True
            try:
                if kind == "speech":
                    await self._speech_turn(value)
                elif kind == "text":
                    self.no_input_count = 0
                    await self.sink.event({"type": "transcript", "text": value, "final": True, "source": "dtmf"})
                    await self._dialogue(value)
                elif kind == "agent":
                    await self._transfer()
                elif kind == "say":
                    await self.say(value)
                elif kind == "repeat":
                    await self.say(self.last_speech or GREETING)
                elif kind == "no_input":
                    await self._no_input()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the call goes on; the caller is asked again
                log.exception("voice turn failed sender=%s", self.sender[:16])
                with contextlib.suppress(Exception):
                    await self.announce(NOT_HEARD, "not_heard")
            finally:
                self.busy = False

    async def _recognise(self, pcm: bytes):
        audio = resample(pcm_to_float(pcm), self.rate, ASR_RATE)
        return await asyncio.to_thread(self.engines.recognizer.transcribe, audio)

    async def _speech_turn(self, item: tuple) -> None:
        pcm, early = item
        transcript = await early if early is not None else await self._recognise(pcm)
        text = normalize_transcript(transcript.text)
        if not text or _HALLUCINATION.search(text):
            await self.announce(NOT_HEARD, "not_heard")
            return
        self.no_input_count = 0
        await self.sink.event({"type": "transcript", "text": text, "final": True,
                               "confidence": round(transcript.confidence, 2)})
        log.info("voice heard sender=%s conf=%.2f asr=%.2fs text=%s", self.sender[:16], transcript.confidence,
                 transcript.seconds, mask_text(text)[:120])
        if self.pending_confirm is not None:
            pending, self.pending_confirm = self.pending_confirm, None
            if _YES.match(text):
                await self._dialogue(pending)
                return
            if _NO.match(text):
                await self.announce(SAY_AGAIN, "say_again")
                return
        elif transcript.confidence < self.config.low_confidence and len(text) >= 4 and not text.isdigit():
            self.pending_confirm = text
            question = f"您是想问：{text}，吗？请说是或者不是。"
            self.last_message = {"kind": "voice_prompt", "text": question, "data": {"reason": "confirm"},
                                 "buttons": []}
            await self.announce(question, "confirm", heard=text)
            return
        await self._dialogue(text)

    async def _dialogue(self, text: str) -> None:
        try:
            replies = await self.turns.handle(self.sender, text, channel=self.channel)
        except ApiError as exc:
            if exc.code == "dialogue_unavailable":
                await self.announce(UNAVAILABLE, "unavailable")
                await self._transfer(announce=False)
            elif exc.code == "rate_limited":
                await self.announce(BUSY, "busy")
            else:
                await self.announce(NOT_HEARD, "not_heard")
            return
        messages = [with_speech(m.model_dump() if hasattr(m, "model_dump") else dict(m)) for m in replies]
        for message in messages:
            await self.sink.event({"type": "bot", "message": message})
        if messages:
            self.last_message = messages[-1]
        speech = "".join(m["data"]["speech"] for m in messages)
        await self.say(speech)
        kinds = {m["kind"]: m for m in messages}
        handoff = kinds.get("handoff")
        if handoff is not None and (handoff.get("data") or {}).get("state") in ("queued", "connected", "unavailable"):
            await self._transfer(announce=False)
        elif "goodbye" in kinds and "rating_request" not in kinds:
            await self._finish()
        elif "goodbye" in kinds:
            self.said_goodbye = True  # the caller may rate with a key first; silence then ends the call
        elif "rating_thanks" in kinds and self.said_goodbye:
            await self._finish()

    async def _no_input(self) -> None:
        if self.said_goodbye:  # silence after the goodbye (no rating key pressed): the call is over
            await self._finish()
            return
        self.no_input_count += 1
        if self.no_input_count <= self.config.no_input_retries:
            await self.announce(REPROMPTS[min(self.no_input_count, len(REPROMPTS)) - 1], "no_input",
                                attempt=self.no_input_count)
            return
        if self.config.no_input_final == "transfer":
            await self._transfer()
        else:
            await self.announce(NO_INPUT_GOODBYE, "no_input_goodbye", attempt=self.no_input_count)
            await self._finish()

    async def _transfer(self, announce: bool = True) -> None:
        if announce:
            await self.announce(TRANSFER, "transfer", target=self.config.agent_uri)
        await self._wait_drained()
        if not self.ended:
            log.info("voice transfer sender=%s target=%s", self.sender[:16], self.config.agent_uri)
            self.ended = True
            await self.sink.transfer(self.config.agent_uri)

    async def _finish(self) -> None:
        await self._wait_drained()
        if not self.ended:
            self.ended = True
            await self.sink.hangup()

    async def _wait_drained(self, timeout: float = 60) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._drained.wait(), timeout)

    async def announce(self, text: str, reason: str, **data: Any) -> None:
        """A prompt of the voice line itself (not of the dialogue): shown as a bot message, then spoken."""
        message = {"text": text, "kind": "voice_prompt", "data": {"reason": reason, "speech": text, **data},
                   "buttons": []}
        await self.sink.event({"type": "bot", "message": message})
        await self.say(text)

    # ---- output: synthesis and paced playback -----------------------------------------------------
    async def say(self, text: str) -> None:
        """Synthesise and queue `text`, clause by clause; stops if the caller barges in meanwhile."""
        text = for_speech(text)
        if not text:
            return
        self.last_speech = text
        fixed = text in _FIXED_SPOKEN
        generation = self.generation
        synth = self.engines.synthesizer
        for clause in clauses(text):
            if generation != self.generation or self.ended:
                return
            raw = await _synthesized(synth, clause, fixed)
            if generation != self.generation or self.ended or not raw:
                continue
            pcm = float_to_pcm(resample(pcm_to_float(raw), synth.sample_rate, self.rate))
            self._drained.clear()
            self._play.extend(frames(pcm + b"\x00" * (self.frame_bytes * 5), self.rate))

    async def _pacer(self) -> None:
        loop = asyncio.get_running_loop()
        tick = 0.02
        next_at = loop.time()
        while not self.ended:
            if self._play:
                frame = self._play.popleft()
                self.playing = True
                await self.sink.audio(frame)
            elif self.playing or not self._drained.is_set():
                self.playing = False
                self._drained.set()
            self._check_idle(loop.time())
            self._fill_gap()
            next_at += tick
            delay = next_at - loop.time()
            if delay < -0.2:  # fell far behind (a stalled loop): do not burst, restart the clock
                next_at = loop.time()
                delay = 0
            await asyncio.sleep(max(0.0, delay))

    def _fill_gap(self) -> None:
        """No media while the caller was talking (silence suppression on the phone, a stalled socket):
        count the gap as silence, so the turn still ends."""
        if self.in_speech and time.monotonic() - self._last_audio > 0.1:
            self._last_audio = time.monotonic()
            self._inbox.put_nowait(("audio", b"\x00" * self.frame_bytes * 5))

    def _check_idle(self, now: float) -> None:
        idle = (not self.in_speech and not self.busy and self._work.empty() and not self._play
                and not self.dtmf_buffer and not self.ended)
        if not idle:
            self._idle_since = None
            return
        if self._idle_since is None:
            self._idle_since = now
        elif now - self._idle_since >= self.config.no_input_seconds:
            self._idle_since = None
            self._work.put_nowait(("no_input", None))


_FIXED_SPOKEN = frozenset(for_speech(t) for t in FIXED_PROMPTS)


async def _synthesized(synth: Any, clause: str, fixed: bool) -> bytes:
    """The engine's audio for one clause (at its own rate), synthesised once while it stays cached."""
    key = (getattr(synth, "name", ""), clause)
    raw = _PROMPT_CACHE.get(key)
    if raw is None:
        raw = _CLAUSE_CACHE.get(key)
        if raw is not None:
            _CLAUSE_CACHE.move_to_end(key)
    if raw is not None:
        return raw
    raw = await asyncio.to_thread(synth.synthesize, clause)
    if raw and fixed:
        _PROMPT_CACHE[key] = raw
    elif raw and not re.search(r"[0-9零幺二三四五六七八九]{4}", clause):  # a clause reading out a number is not kept
        _CLAUSE_CACHE[key] = raw
        while len(_CLAUSE_CACHE) > CLAUSE_CACHE_SIZE:
            _CLAUSE_CACHE.popitem(last=False)
    return raw


async def warm_prompts(engines: Any) -> None:
    """Synthesise the fixed prompts once (VOICE_PRELOAD), so the first caller does not wait for them."""
    for text in _FIXED_SPOKEN:
        for clause in clauses(text):
            await _synthesized(engines.synthesizer, clause, fixed=True)
