"""A small SIP user agent server (UAS) for the voice line: SIP over UDP, RTP with G.711, RFC 4733 DTMF.

Any PBX or session border controller routes calls to it (e.g. FreeSWITCH `bridge sofia/external/
ai@host:5070`, Asterisk `Dial(PJSIP/ai@hotline-ai)`). Supported: INVITE with an SDP offer of PCMA (A-law,
China's PSTN codec, preferred) or PCMU (mu-law) at 8 kHz in 20 ms packets; ACK; BYE both ways; CANCEL;
OPTIONS (keep-alive pings); re-INVITE (answered with the same media); DTMF as RFC 4733 telephone-events
(or SIP INFO application/dtmf-relay); blind transfer with REFER to the configured agent URI
(VOICE_AGENT_URI), then BYE once the transferee reports success (or after a timeout).

Not supported (a PBX in front handles them): registration, authentication, TLS/SRTP, TCP, other codecs.
Written for this project (no SIP library in the registries fits: the mature stacks are GPL or C), with
the standard library's asyncio only. Start it in the gateway with SIP_PORT (docs/VOICE.md).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import re
import secrets
import struct
import time
from dataclasses import dataclass, field
from typing import Callable

from speech.audio import alaw2lin, lin2alaw, lin2ulaw, ulaw2lin

log = logging.getLogger("hotline.voice.sip")
CODECS = {8: ("PCMA", alaw2lin, lin2alaw), 0: ("PCMU", ulaw2lin, lin2ulaw)}
DTMF_EVENTS = "0123456789*#ABCD"
ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, REFER, NOTIFY"
_COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact", "l": "content-length",
            "c": "content-type", "k": "supported", "r": "refer-to", "b": "referred-by"}


@dataclass
class SipMessage:
    start: str
    headers: list[tuple[str, str]]
    body: str = ""

    @property
    def is_request(self) -> bool:
        return not self.start.startswith("SIP/2.0")

    @property
    def method(self) -> str:
        return self.start.split(" ", 1)[0] if self.is_request else self.get("cseq").split()[-1]

    @property
    def status(self) -> int:
        return 0 if self.is_request else int(self.start.split()[1])

    def get(self, name: str, default: str = "") -> str:
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return default

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name.lower()]


def parse(data: bytes) -> SipMessage | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    if not lines or not lines[0] or ("SIP/2.0" not in lines[0]):
        return None
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # folded header line
            key, value = headers[-1]
            headers[-1] = (key, value + " " + line.strip())
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip().lower()
        headers.append((_COMPACT.get(key, key), value.strip()))
    return SipMessage(lines[0], headers, body)


def _tag(value: str) -> str:
    match = re.search(r";\s*tag=([^;>\s]+)", value)
    return match.group(1) if match else ""


def _uri(value: str) -> str:
    match = re.search(r"<([^>]+)>", value)
    return (match.group(1) if match else value.split(";")[0]).strip()


@dataclass
class MediaOffer:
    host: str
    port: int
    payloads: list[int]
    rtpmap: dict[int, str]


def parse_sdp(body: str) -> MediaOffer | None:
    host, port, payloads, rtpmap = "", 0, [], {}
    media_host = ""
    in_audio = False
    for line in body.replace("\r\n", "\n").split("\n"):
        if line.startswith("c=IN IP4 "):
            if in_audio:
                media_host = line.split()[-1]
            else:
                host = line.split()[-1]
        elif line.startswith("m="):
            parts = line[2:].split()
            in_audio = parts[0] == "audio"
            if in_audio and not port:
                port = int(parts[1])
                payloads = [int(p) for p in parts[3:] if p.isdigit()]
        elif line.startswith("a=rtpmap:") and in_audio:
            pt, _, name = line[9:].partition(" ")
            if pt.isdigit():
                rtpmap[int(pt)] = name.strip()
    if not port:
        return None
    return MediaOffer(media_host or host, port, payloads, rtpmap)


def choose_codecs(offer: MediaOffer) -> tuple[int | None, int | None]:
    """(audio payload type, telephone-event payload type): A-law first, then mu-law."""
    audio = None
    for pt, name in ((8, "PCMA/8000"), (0, "PCMU/8000")):
        if pt in offer.payloads and offer.rtpmap.get(pt, name).upper().startswith(name.split("/")[0]):
            audio = pt
            break
    event = next((pt for pt in offer.payloads if offer.rtpmap.get(pt, "").lower().startswith("telephone-event/8000")),
                 None)
    return audio, event


def parse_rtp(packet: bytes) -> tuple[int, int, int, bool, bytes] | None:
    """(payload type, sequence, timestamp, marker, payload) of an RTP packet, or None."""
    if len(packet) < 12 or packet[0] >> 6 != 2:
        return None
    cc = packet[0] & 0x0F
    offset = 12 + 4 * cc
    if packet[0] & 0x10 and len(packet) >= offset + 4:  # header extension
        offset += 4 + 4 * struct.unpack("!H", packet[offset + 2:offset + 4])[0]
    payload = packet[offset:]
    if packet[0] & 0x20 and payload:  # padding
        payload = payload[: -payload[-1]]
    marker, pt = bool(packet[1] & 0x80), packet[1] & 0x7F
    seq, ts = struct.unpack("!HI", packet[2:8])
    return pt, seq, ts, marker, payload


class RtpStream(asyncio.DatagramProtocol):
    def __init__(self, call: "Call") -> None:
        self.call = call
        self.transport: asyncio.DatagramTransport | None = None
        self.seq = random.randint(0, 0xFFFF)
        self.ts = random.randint(0, 0xFFFFFFFF)
        self.ssrc = random.randint(0, 0xFFFFFFFF)
        self.last_sent: float | None = None
        self.seen_events: set[int] = set()
        self.remote: tuple[str, int] | None = None
        self.latched = False

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:  # type: ignore[override]
        parsed = parse_rtp(data)
        if parsed is None:
            return
        if not self.latched:  # a caller behind NAT: answer where its media really comes from
            if self.remote is None or addr[0] != self.remote[0]:
                self.remote = addr
            self.latched = True
        pt, _seq, ts, _marker, payload = parsed
        call = self.call
        if pt == call.audio_pt:
            call.on_audio(CODECS[pt][1](payload))
        elif pt == call.event_pt and len(payload) >= 4:
            if ts not in self.seen_events and payload[0] < len(DTMF_EVENTS):
                self.seen_events.add(ts)  # one key press = one timestamp, however many packets carry it
                call.on_dtmf(DTMF_EVENTS[payload[0]])

    def send_pcm(self, pcm: bytes) -> None:
        if self.transport is None or self.remote is None:
            return
        payload = CODECS[self.call.audio_pt][2](pcm)
        now = time.monotonic()
        # Audio is sent only while the line speaks. The first packet of each talk spurt has the marker bit, and
        # the timestamp counts the pause before it (RFC 3550/3551), so the far end's jitter buffer does not take
        # the pause for network delay.
        spurt = self.last_sent is None or now - self.last_sent > 0.06
        if self.last_sent is not None and spurt:
            self.ts = (self.ts + (round((now - self.last_sent) / 0.02) - 1) * len(payload)) & 0xFFFFFFFF
        self.last_sent = now
        header = struct.pack("!BBHII", 0x80, (0x80 if spurt else 0) | self.call.audio_pt, self.seq, self.ts,
                             self.ssrc)
        self.seq = (self.seq + 1) & 0xFFFF
        self.ts = (self.ts + len(payload)) & 0xFFFFFFFF
        self.transport.sendto(header + payload, self.remote)


@dataclass
class Call:
    endpoint: "SipEndpoint"
    call_id: str
    invite: SipMessage
    addr: tuple[str, int]
    local_tag: str
    audio_pt: int
    event_pt: int | None
    rtp: RtpStream | None = None
    session: object | None = None
    cseq: int = field(default_factory=lambda: random.randint(1, 10000))
    answer: bytes = b""
    acked: bool = False
    ended: bool = False
    refer_done: asyncio.Event = field(default_factory=asyncio.Event)

    def on_audio(self, pcm: bytes) -> None:
        if self.session is not None and self.acked:
            self.session.feed(pcm)

    def on_dtmf(self, digit: str) -> None:
        if self.session is not None and self.acked:
            log.info("dtmf call=%s digit=%s", self.call_id[:12], "#" if digit == "#" else "*")
            self.session.dtmf(digit)

    # requests inside the dialog, from us (UAS) to the caller
    def request(self, method: str, extra: list[str] | None = None, body: str = "") -> None:
        invite = self.invite
        self.cseq += 1
        target = _uri(invite.get("contact")) or _uri(invite.get("from"))
        ep = self.endpoint
        lines = [f"{method} {target} SIP/2.0",
                 f"Via: SIP/2.0/UDP {ep.public_host}:{ep.port};branch=z9hG4bK{secrets.token_hex(8)};rport",
                 "Max-Forwards: 70",
                 f"From: {invite.get('to')}" + ("" if _tag(invite.get("to")) else f";tag={self.local_tag}"),
                 f"To: {invite.get('from')}",
                 f"Call-ID: {self.call_id}",
                 f"CSeq: {self.cseq} {method}",
                 f"Contact: <sip:ai@{ep.public_host}:{ep.port}>",
                 "User-Agent: hotline-12345-voice",
                 *(extra or [])]
        ep.send(lines, body, self.addr)


class SipSink:
    """The voice session's outputs on a SIP call."""

    def __init__(self, call: Call) -> None:
        self.call = call

    async def audio(self, pcm: bytes) -> None:
        if self.call.rtp is not None and not self.call.ended:
            self.call.rtp.send_pcm(pcm)

    async def event(self, event: dict) -> None:
        if event.get("type") == "transcript":
            log.info("call=%s heard (%s chars)", self.call.call_id[:12], len(event.get("text", "")))

    async def transfer(self, target: str) -> None:
        call = self.call
        call.request("REFER", [f"Refer-To: <{target}>",
                               f"Referred-By: <sip:ai@{call.endpoint.public_host}:{call.endpoint.port}>"])
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(call.refer_done.wait(), call.endpoint.refer_timeout)
        await self.hangup()

    async def hangup(self) -> None:
        call = self.call
        if not call.ended:
            call.request("BYE")
            await call.endpoint.end(call)


class SipEndpoint(asyncio.DatagramProtocol):
    """`make_session(sink, sender) -> VoiceSession` (8 kHz) is called once per INVITE, before it is answered."""

    def __init__(self, make_session: Callable, host: str = "127.0.0.1", port: int = 5060,
                 media_host: str | None = None, public_host: str | None = None, refer_timeout: float = 8.0) -> None:
        self.make_session = make_session
        self.host, self.port = host, port
        self.media_host = media_host or host
        self.public_host = public_host or host
        self.refer_timeout = refer_timeout
        self.calls: dict[str, Call] = {}
        self.transport: asyncio.DatagramTransport | None = None
        self.answered = 0

    async def start(self) -> "SipEndpoint":
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(self.host, self.port))
        self.port = self.transport.get_extra_info("sockname")[1]
        log.info("SIP endpoint on udp %s:%s", self.host, self.port)
        return self

    async def stop(self) -> None:
        for call in list(self.calls.values()):
            with contextlib.suppress(Exception):
                call.request("BYE")
                await self.end(call)
        if self.transport is not None:
            self.transport.close()

    # ---- wire ------------------------------------------------------------------------------------
    def send(self, lines: list[str], body: str, addr) -> None:
        data = "\r\n".join([*lines, *( ["Content-Type: application/sdp"] if body.startswith("v=0") else []),
                            f"Content-Length: {len(body.encode())}", "", body])
        if self.transport is not None:
            self.transport.sendto(data.encode(), addr)

    def respond(self, request: SipMessage, addr, status: int, reason: str, *, to_tag: str = "",
                extra: list[str] | None = None, body: str = "") -> bytes:
        vias = request.all("via")
        if vias:  # rport: answer to where the request came from
            first = vias[0]
            if ";rport" in first and "rport=" not in first:
                first = first.replace(";rport", f";rport={addr[1]};received={addr[0]}", 1)
            vias = [first, *vias[1:]]
        to = request.get("to")
        if to_tag and not _tag(to):
            to += f";tag={to_tag}"
        lines = [f"SIP/2.0 {status} {reason}", *(f"Via: {v}" for v in vias), f"From: {request.get('from')}",
                 f"To: {to}", f"Call-ID: {request.get('call-id')}", f"CSeq: {request.get('cseq')}",
                 "User-Agent: hotline-12345-voice", *(extra or [])]
        self.send(lines, body, addr)
        return "\r\n".join(lines).encode()

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:  # type: ignore[override]
        if data.strip() == b"":
            return  # CRLF keep-alive
        message = parse(data)
        if message is None:
            return
        try:
            if message.is_request:
                self.on_request(message, addr)
            else:
                self.on_response(message)
        except Exception:  # noqa: BLE001 - a malformed message must not stop the endpoint
            log.exception("SIP message failed")
            if message.is_request and message.method not in ("ACK",):
                self.respond(message, addr, 400, "Bad Request")

    # ---- requests ----------------------------------------------------------------------------------
    def on_request(self, msg: SipMessage, addr) -> None:
        method, call_id = msg.method, msg.get("call-id")
        call = self.calls.get(call_id)
        if method == "INVITE":
            if call is not None and call.rtp is None:  # retransmission while the call is being set up
                self.respond(msg, addr, 100, "Trying")
            elif call is not None:  # retransmission or re-INVITE: same answer
                self.respond(msg, addr, 200, "OK", to_tag=call.local_tag, body=self._sdp(call),
                             extra=[f"Contact: <sip:ai@{self.public_host}:{self.port}>"])
            else:
                asyncio.get_running_loop().create_task(self.on_invite(msg, addr))
        elif method == "ACK":
            if call is not None and call.rtp is not None and not call.acked:
                call.acked = True
                asyncio.get_running_loop().create_task(call.session.start())
        elif method == "BYE":
            self.respond(msg, addr, 200 if call else 481, "OK" if call else "Call/Transaction Does Not Exist")
            if call is not None:
                asyncio.get_running_loop().create_task(self.end(call))
        elif method == "CANCEL":
            self.respond(msg, addr, 200, "OK")
            if call is not None and call.rtp is None:  # not answered yet: the INVITE ends with 487
                self.respond(call.invite, call.addr, 487, "Request Terminated", to_tag=call.local_tag)
                asyncio.get_running_loop().create_task(self.end(call))
        elif method == "OPTIONS":
            self.respond(msg, addr, 200, "OK", extra=[f"Allow: {ALLOW}", "Accept: application/sdp"])
        elif method == "INFO" and call is not None:
            self.respond(msg, addr, 200, "OK")
            match = re.search(r"Signal\s*=\s*([0-9*#A-D])", msg.body)
            if match:
                call.on_dtmf(match.group(1))
        elif method == "NOTIFY" and call is not None:
            self.respond(msg, addr, 200, "OK")
            status = re.search(r"SIP/2\.0\s+(\d{3})", msg.body)
            if status and int(status.group(1)) >= 200:
                call.refer_done.set()
        else:
            self.respond(msg, addr, 481 if method in ("INFO", "NOTIFY") else 405,
                         "Call/Transaction Does Not Exist" if method in ("INFO", "NOTIFY") else "Method Not Allowed",
                         extra=[f"Allow: {ALLOW}"])

    def on_response(self, msg: SipMessage) -> None:
        call = self.calls.get(msg.get("call-id"))
        if call is None:
            return
        if msg.method == "REFER" and msg.status >= 300:
            log.warning("REFER refused call=%s status=%s", call.call_id[:12], msg.status)
            call.refer_done.set()

    async def on_invite(self, msg: SipMessage, addr) -> None:
        self.respond(msg, addr, 100, "Trying")
        offer = parse_sdp(msg.body) if msg.body else None
        audio_pt, event_pt = choose_codecs(offer) if offer else (None, None)
        if offer is None or audio_pt is None:
            self.respond(msg, addr, 488, "Not Acceptable Here", to_tag=secrets.token_hex(6),
                         extra=["Warning: 304 hotline \"only PCMA or PCMU at 8 kHz\""])
            return
        call = Call(self, msg.get("call-id"), msg, addr, secrets.token_hex(6), audio_pt, event_pt)
        self.calls[call.call_id] = call
        caller = re.sub(r"[^0-9A-Za-z]", "", _uri(msg.get("from")).split("@")[0].split(":")[-1])[:20]
        sender = f"voice-sip-{caller or 'anon'}-{secrets.token_hex(4)}"
        try:
            # The speech engines load here on the first call of the process: the call is answered once it can be
            # spoken to, or refused (503) so that the PBX routes it elsewhere, never answered into dead air.
            call.session = await self.make_session(SipSink(call), sender)
        except Exception as exc:  # noqa: BLE001 - engines missing or the TTS server down
            log.error("call refused call=%s: voice engines unavailable: %s", call.call_id[:12], exc)
            self.calls.pop(call.call_id, None)
            self.respond(msg, addr, 503, "Service Unavailable", to_tag=call.local_tag, extra=["Retry-After: 60"])
            return
        if call.ended:  # CANCEL meanwhile: end() found no session to close, so close it here
            with contextlib.suppress(Exception):
                await call.session.hangup()
            return
        rtp = RtpStream(call)
        await asyncio.get_running_loop().create_datagram_endpoint(lambda: rtp, local_addr=(self.media_host, 0))
        rtp.remote = (offer.host if offer.host not in ("", "0.0.0.0") else addr[0], offer.port)
        call.rtp = rtp  # from now on the call is answered (a retransmitted INVITE gets the 200 OK)
        self.answered += 1
        log.info("INVITE answered call=%s codec=%s dtmf_pt=%s", call.call_id[:12], CODECS[audio_pt][0], event_pt)
        for attempt in range(7):  # 200 OK until the ACK arrives (RFC 3261 timer G, capped)
            if call.acked or call.ended:
                break
            self.respond(msg, addr, 200, "OK", to_tag=call.local_tag, body=self._sdp(call),
                         extra=[f"Contact: <sip:ai@{self.public_host}:{self.port}>", f"Allow: {ALLOW}"])
            await asyncio.sleep(min(0.5 * 2 ** attempt, 4))
        if not call.acked and not call.ended:  # no ACK: start anyway; media tells whether the caller is there
            call.acked = True
            await call.session.start()

    def _sdp(self, call: Call) -> str:
        port = call.rtp.transport.get_extra_info("sockname")[1] if call.rtp and call.rtp.transport else 0
        pts = [str(call.audio_pt)] + ([str(call.event_pt)] if call.event_pt is not None else [])
        lines = ["v=0", f"o=hotline {abs(hash(call.call_id)) % 10**9} 1 IN IP4 {self.public_host}", "s=12345",
                 f"c=IN IP4 {self.public_host}", "t=0 0", f"m=audio {port} RTP/AVP {' '.join(pts)}",
                 f"a=rtpmap:{call.audio_pt} {CODECS[call.audio_pt][0]}/8000"]
        if call.event_pt is not None:
            lines += [f"a=rtpmap:{call.event_pt} telephone-event/8000", f"a=fmtp:{call.event_pt} 0-15"]
        lines += ["a=ptime:20", "a=sendrecv"]
        return "\r\n".join(lines) + "\r\n"

    async def end(self, call: Call) -> None:
        if call.ended:
            return
        call.ended = True
        self.calls.pop(call.call_id, None)
        if call.session is not None:
            with contextlib.suppress(Exception):
                await call.session.hangup()
        if call.rtp is not None and call.rtp.transport is not None:
            call.rtp.transport.close()
        log.info("call ended call=%s", call.call_id[:12])


async def _preload() -> None:
    """VOICE_PRELOAD=1: load the speech engines and synthesise the fixed prompts before the first call."""
    from connectors.voice.session import warm_prompts
    from connectors.voice.websocket import engines

    try:
        await warm_prompts(await engines())
        log.info("voice engines ready")
    except Exception as exc:  # noqa: BLE001 - the chat works without voice; calls will report the error
        log.error("voice engines not ready: %s", exc)


async def start_from_env(turns) -> SipEndpoint | None:
    """The gateway's SIP endpoint when SIP_PORT is set (SIP_HOST, SIP_MEDIA_HOST, SIP_PUBLIC_HOST);
    with VOICE_PRELOAD=1 the speech engines are loaded in the background at start-up."""
    if os.environ.get("VOICE_PRELOAD", "").strip() in ("1", "true", "yes"):
        asyncio.get_running_loop().create_task(_preload())
    port = os.environ.get("SIP_PORT", "").strip()
    if not port:
        return None
    from connectors.voice.session import VoiceSession
    from connectors.voice.websocket import engines

    async def make_session(sink, sender):
        return VoiceSession(turns, await engines(), sink, sender=sender, sample_rate=8000)

    host = os.environ.get("SIP_HOST", "").strip() or "127.0.0.1"
    endpoint = SipEndpoint(make_session, host=host, port=int(port),
                           media_host=os.environ.get("SIP_MEDIA_HOST", "").strip() or host,
                           public_host=os.environ.get("SIP_PUBLIC_HOST", "").strip() or host)
    return await endpoint.start()
