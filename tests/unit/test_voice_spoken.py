"""Spoken forms of bot messages and the SIP/RTP wire formats (no audio, no models)."""
from __future__ import annotations

import struct

from connectors.voice.session import clauses
from connectors.voice.sip import choose_codecs, parse, parse_rtp, parse_sdp
from connectors.voice.spoken import is_number_entry, spoken, with_speech

KINDS = ["greeting", "goodbye", "thanks", "text", "bot_identity", "capabilities", "out_of_scope", "fallback",
         "handoff", "agent_message", "emergency", "error", "clarify", "guide_detail", "guide_not_found", "appeal",
         "status_detail", "application_choose", "application_started", "form_question", "form_invalid",
         "form_correction", "form_dropped", "form_ack", "form_items_changed", "form_edit", "application_paused",
         "application_resumed", "application_cancelled", "status_question", "status_unverified", "status_locked"]


def test_every_message_kind_has_a_spoken_form():
    for kind in KINDS:
        message = with_speech({"text": "请问您要办理什么业务？", "kind": kind, "data": {}, "buttons": []})
        assert message["data"]["speech"], kind


def test_a_guide_answer_is_shortened_for_the_ear():
    materials = [{"name": f"材料{i}", "conditional": False} for i in range(1, 10)]
    said = spoken({"kind": "guide_answer", "text": "很长的告知单\n" * 30,
                   "data": {"guide": "新生儿出生一件事", "materials": materials, "where": ["东胜区政务服务中心"],
                            "time_limit": "5个工作日", "online_available": True}})
    assert "9项材料" in said and "材料1、材料2、材料3" in said and "材料4" not in said
    assert "重听请按星号键" in said and len(said) < 160


def test_choices_become_a_keypad_menu_and_numbers_are_read_digit_by_digit():
    said = spoken({"kind": "form_summary", "text": "", "data": {"rows": [{"label": "手机号", "value": "13812345678"}]},
                   "buttons": [{"title": "确认提交", "payload": "/confirm_application"},
                               {"title": "修改", "payload": "/edit"}]})
    assert "幺三八，幺二三四，五六七八" in said and "确认提交请按1" in said and "修改请按2" in said
    question = {"kind": "form_question", "text": "请告诉我您的身份证号码", "data": {"type": "id_number"},
                "buttons": [{"title": "跳过", "payload": "/skip"}]}
    assert is_number_entry(question) and "井号键结束" in spoken(question) and "跳过" not in spoken(question)


def test_first_clause_is_short_so_speech_starts_early():
    parts = clauses("您好，这里是热线，请问您要办理什么业务？我们可以帮您查询办事指南、办件进度。")
    assert len(parts[0]) <= 14 and "".join(parts).startswith("您好")


def test_sip_invite_sdp_prefers_a_law_and_finds_telephone_events():
    invite = ("INVITE sip:ai@127.0.0.1:5070 SIP/2.0\r\nv: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK1\r\n"
              "f: <sip:13800000000@127.0.0.1>;tag=1\r\nt: <sip:ai@127.0.0.1>\r\ni: abc@host\r\nCSeq: 1 INVITE\r\n"
              "Content-Type: application/sdp\r\n\r\n"
              "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
              "m=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
              "a=rtpmap:101 telephone-event/8000\r\n").encode()
    msg = parse(invite)
    assert msg.method == "INVITE" and msg.get("call-id") == "abc@host" and msg.get("from").endswith("tag=1")
    offer = parse_sdp(msg.body)
    assert (offer.host, offer.port) == ("127.0.0.1", 40000)
    assert choose_codecs(offer) == (8, 101)
    only_ulaw = parse_sdp("v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n")
    assert choose_codecs(only_ulaw) == (0, None)
    assert choose_codecs(parse_sdp("v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 18\r\n"))[0] is None


def test_rtp_header_is_parsed():
    packet = struct.pack("!BBHII", 0x80, 0x80 | 101, 7, 1600, 42) + bytes([5, 0x80, 0, 160])
    pt, seq, ts, marker, payload = parse_rtp(packet)
    assert (pt, seq, ts, marker, payload[0]) == (101, 7, 1600, True, 5)


def test_rtp_marks_each_talk_spurt_and_counts_the_pause_in_its_timestamps(monkeypatch):
    from connectors.voice import sip

    class Transport:
        def __init__(self):
            self.sent = []

        def sendto(self, data, addr):
            self.sent.append(data)

    clock = [100.0]
    monkeypatch.setattr(sip.time, "monotonic", lambda: clock[0])
    stream = sip.RtpStream(type("Call", (), {"audio_pt": 8})())
    stream.transport, stream.remote = Transport(), ("127.0.0.1", 4000)
    for at in (0.0, 0.02, 0.04, 3.04, 3.06):    # two frames of a prompt... a 3-second pause... the answer
        clock[0] = 100.0 + at
        stream.send_pcm(b"\x00\x00" * 160)
    headers = [parse_rtp(p) for p in stream.transport.sent]
    markers = [marker for _, _, _, marker, _ in headers]
    stamps = [ts - headers[0][2] for _, _, ts, _, _ in headers]
    assert markers == [True, False, False, True, False]
    assert stamps == [0, 160, 320, 320 + 8000 * 3, 320 + 8000 * 3 + 160]
    assert [seq - headers[0][1] for _, seq, _, _, _ in headers] == [0, 1, 2, 3, 4]   # no packet was lost


def test_a_sip_call_the_voice_line_cannot_serve_is_refused_not_answered_into_silence():
    import asyncio
    import socket

    from connectors.voice.sip import SipEndpoint
    from speech.base import SpeechUnavailable

    async def make_session(sink, sender):
        raise SpeechUnavailable("TTS environment missing")

    async def call() -> list[int]:
        endpoint = await SipEndpoint(make_session, port=0).start()
        phone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        phone.bind(("127.0.0.1", 0))
        phone.setblocking(False)
        invite = ("INVITE sip:ai@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK1\r\n"
                  "From: <sip:13800000000@127.0.0.1>;tag=1\r\nTo: <sip:ai@127.0.0.1>\r\nCall-ID: refused@host\r\n"
                  "CSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n\r\n"
                  "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 40000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n")
        loop = asyncio.get_running_loop()
        await loop.sock_sendto(phone, invite.encode(), ("127.0.0.1", endpoint.port))
        statuses: list[int] = []
        while not statuses or statuses[-1] < 200:
            data = await asyncio.wait_for(loop.sock_recv(phone, 4096), 5)
            statuses.append(parse(data).status)
        await endpoint.stop()
        phone.close()
        assert not endpoint.calls
        return statuses

    assert asyncio.run(call()) == [100, 503]
