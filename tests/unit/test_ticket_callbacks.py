"""A call-back request left in the agent queue (core.handoff.request_callback) becomes a ticket: appeal type 求助
(or the one the conversation found), source callback, the conversation's channel, the call-back number as the
ticket's phone; asking again updates that ticket instead of filing another; a ticket that cannot be filed never
loses the call-back."""
from __future__ import annotations

from sqlalchemy import select

from core import handoff
from core.db import session_scope
from core.models import Ticket, TicketEvent
from core.tickets import callbacks, desk, service
from tests.staff_fixtures import make_staff, staff_db  # noqa: F401
from tests.ticket_fixtures import desk_db  # noqa: F401


def ticket(number: str) -> Ticket:
    with session_scope() as session:
        return session.scalar(select(Ticket).where(Ticket.number == number))


def created_data(number: str) -> dict:
    with session_scope() as session:
        return session.scalar(select(TicketEvent.data).join(Ticket, Ticket.id == TicketEvent.ticket_id)
                              .where(Ticket.number == number, TicketEvent.kind == "created"))


def test_a_call_back_request_is_filed_as_a_ticket(desk_db):
    queued = handoff.request("cb-1", "voice", "caller_request", {"asked": ["社保卡丢了怎么补办"]}).view
    view = handoff.request_callback("cb-1", "139 4776 1207", "社保卡丢了急着看病用，身份证150102199003071234",
                                    channel="voice").view
    assert view["id"] == queued["id"] and view["state"] == "callback_requested"
    number = view["ticket_number"]
    row = ticket(number)
    assert (row.appeal_type, row.channel, row.phone, row.sender) == ("求助", "voice", "13947761207", "cb-1")
    assert row.description.startswith("社保卡丢了急着看病用") and "150102199003071234" not in row.description
    assert row.reply_wanted is True
    assert created_data(number) == {"source": "callback", "channel": "voice", "handoff_id": view["id"]}
    assert [t["number"] for t in desk.manual_queue()["tickets"]] == [number]  # unsure classifier: manual queue
    assert service.check_progress(number, "1207", requester="unit-cb").result == "ok"

    # asking again (another number) updates the same ticket
    again = handoff.request_callback("cb-1", "13900002222", "社保卡丢了急着看病用").view
    assert again["ticket_number"] == number and ticket(number).phone == "13900002222"
    with session_scope() as session:
        assert session.scalar(select(Ticket.id).where(Ticket.sender == "cb-1", Ticket.number != number)) is None


def test_without_words_the_ticket_says_what_the_caller_asked_before(desk_db):
    handoff.request("cb-2", "web", "caller_request", {"asked": ["暖气不热怎么办", "找人工"]})
    number = handoff.request_callback("cb-2", "13900001111", "").view["ticket_number"]
    row = ticket(number)
    assert row.description == "来电人请求工作人员回电，此前咨询：暖气不热怎么办；找人工"
    assert row.level3 == "冬季采暖" and row.classification == "auto"           # classified like any appeal
    bare = handoff.request_callback("cb-3", "13900003333").view["ticket_number"]
    assert ticket(bare).description == "来电人请求工作人员回电。"


def test_the_appeal_type_comes_from_the_summary_when_the_conversation_found_one(desk_db):
    assert callbacks.appeal_type_of({"appeal_type": "投诉"}) == "投诉"
    assert callbacks.appeal_type_of({"ticket": {"appeal_type": "举报"}}) == "举报"
    assert callbacks.appeal_type_of({"appeal_type": "表扬"}) == "求助"
    handoff.request("cb-4", "web", "caller_request", {"asked": ["工地半夜施工"], "appeal_type": "投诉"})
    number = handoff.request_callback("cb-4", "13900004444", "工地半夜打桩吵得睡不着").view["ticket_number"]
    assert ticket(number).appeal_type == "投诉" and ticket(number).department == "市生态环境局"


def test_a_ticket_that_cannot_be_filed_never_loses_the_call_back(desk_db, monkeypatch, caplog):
    def broken(**kwargs):
        raise RuntimeError("database of tickets unavailable")

    monkeypatch.setattr(callbacks, "ticket_for_callback", broken)
    view = handoff.request_callback("cb-5", "13900005555", "请回电").view
    assert view["state"] == "callback_requested" and view["ticket_number"] is None
    assert [c["id"] for c in handoff.callbacks()] == [view["id"]]
    assert "filing its ticket failed" in caplog.text
