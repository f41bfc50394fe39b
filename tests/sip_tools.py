"""Helpers for the SIP tests: RTP packets in a pcap file for sipp's play_pcap_audio, a sipp scenario with
the test's own RTP port in the SDP offer, and an RTP listener that collects what the endpoint says."""
from __future__ import annotations

import socket
import struct
import threading
import time
from pathlib import Path

from speech.audio import alaw2lin, frames, lin2alaw


def write_rtp_pcap(path: Path, pcm8k: bytes, payload_type: int = 8) -> Path:
    """A pcap of RTP/UDP/IPv4/Ethernet packets, 20 ms of A-law each, as sipp's play_pcap_audio replays them."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    seq, ts = 1000, 160000
    t0 = 1_700_000_000.0
    for i, frame in enumerate(frames(pcm8k, 8000)):
        payload = lin2alaw(frame) if payload_type == 8 else frame
        rtp = struct.pack("!BBHII", 0x80, (0x80 if i == 0 else 0) | payload_type, seq, ts, 0x1234ABCD) + payload
        udp = struct.pack("!HHHH", 6000, 6002, 8 + len(rtp), 0) + rtp
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0, 64, 17, 0,
                         socket.inet_aton("127.0.0.1"), socket.inet_aton("127.0.0.1")) + udp
        eth = b"\x00" * 12 + b"\x08\x00" + ip
        when = t0 + i * 0.02
        out.append(struct.pack("<IIII", int(when), int((when % 1) * 1e6), len(eth), len(eth)) + eth)
        seq, ts = seq + 1, ts + 160
    path.write_bytes(b"".join(out))
    return path


SCENARIO = """<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="hotline voice call">
  <send retrans="500"><![CDATA[
INVITE sip:ai@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "caller" <sip:13800000000@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:ai@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:13800000000@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio {rtp_port} RTP/AVP 8 0 101
a=rtpmap:8 PCMA/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=ptime:20
  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="200" rtd="true"/>
  <send><![CDATA[
ACK sip:ai@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "caller" <sip:13800000000@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:ai@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: <sip:13800000000@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

  ]]></send>
{media}
{ending}</scenario>
"""


def _reply(status: str) -> str:
    """sipp's answer to the request it has just received."""
    return f"""  <send><![CDATA[
SIP/2.0 {status}
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

  ]]></send>
"""


ENDINGS = {
    # the caller hangs up
    "hangup": """  <send retrans="500"><![CDATA[
BYE sip:ai@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "caller" <sip:13800000000@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:ai@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
Contact: <sip:13800000000@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

  ]]></send>
  <recv response="200" crlf="true"/>
""",
    # the endpoint transfers the call: REFER accepted, NOTIFY with the transferee's 200, then its BYE
    "transfer": '  <recv request="REFER"/>\n' + _reply("202 Accepted") + """  <send retrans="500"><![CDATA[
NOTIFY sip:ai@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "caller" <sip:13800000000@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:ai@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 3 NOTIFY
Event: refer
Subscription-State: terminated;reason=noresource
Content-Type: message/sipfrag;version=2.0
Content-Length: [len]

SIP/2.0 200 OK
  ]]></send>
  <recv response="200"/>
  <recv request="BYE"/>
""" + _reply("200 OK"),
}


def sipp_scenario(path: Path, rtp_port: int, media: list[tuple[str, object]], ending: str = "hangup") -> Path:
    """A call from 13800000000: INVITE (audio to `rtp_port`), ACK, then `media`: ("pcap", path) plays RTP from
    a pcap, ("pause", ms) waits; then the `ending` of ENDINGS."""
    steps = []
    for kind, value in media:
        if kind == "pcap":
            steps.append(f'  <nop><action><exec play_pcap_audio="{value}"/></action></nop>')
        else:
            steps.append(f'  <pause milliseconds="{int(value)}"/>')
    path.write_text(SCENARIO.replace("{rtp_port}", str(rtp_port)).replace("{media}", "\n".join(steps))
                    .replace("{ending}", ENDINGS[ending]))
    return path


class RtpListener:
    """Collects the endpoint's RTP (PCMA) on a local UDP port: what the caller hears, with arrival times."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.packets: list[tuple[float, int, bytes]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, _ = self.sock.recvfrom(2048)
            except OSError:
                continue
            if len(data) > 12:
                self.packets.append((time.monotonic(), data[1] & 0x7F, data[12:]))

    def pcm(self) -> bytes:
        return b"".join(alaw2lin(p) for _, pt, p in self.packets if pt == 8)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()
