"""The status form (actions/status.py) with a ticket number (GD...): asked for the phone's last 4 digits only."""
from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.status import ActionAskStatusVerify, ValidateStatusForm, is_ticket, parse_number
from core.tickets import service

TICKET = "GD20261130K7P3QX"
APPLICATION = "NM20250301ABCD2345"


def tracker(number: str, text: str = "", asked: str = "status_verify") -> Tracker:
    events = [{"event": "user", "text": text}] if text else []
    return Tracker("caller", {"status_number": number, "status_verify": None, "requested_slot": asked},
                   {"text": text, "intent": {"name": "inform", "confidence": 0.9}}, events, False, None,
                   {"name": "status_form"}, "action_listen")


def texts(dispatcher: CollectingDispatcher) -> str:
    return " ".join(m["custom"]["text"] for m in dispatcher.messages)


def test_ticket_and_receipt_numbers_are_told_apart():
    assert parse_number(f"我的工单号是{TICKET.lower()}") == TICKET and is_ticket(TICKET)
    assert parse_number(f"受理编号 {APPLICATION}") == APPLICATION and not is_ticket(APPLICATION)
    assert is_ticket(service.new_number())


def test_a_ticket_caller_is_asked_for_the_phone_digits_not_the_id_number():
    for number, wanted, unwanted in ((TICKET, "手机号码后4位", "身份证"), (APPLICATION, "身份证号码后6位", None)):
        asked = CollectingDispatcher()
        ActionAskStatusVerify().run(asked, tracker(number), {})
        wrong = CollectingDispatcher()
        ValidateStatusForm().run(wrong, tracker(number, "是星期三登记的"), {})
        for dispatcher in (asked, wrong):
            assert wanted in texts(dispatcher), texts(dispatcher)
            assert unwanted is None or unwanted not in texts(dispatcher)
