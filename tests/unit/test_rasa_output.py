from connectors.gateway.rasa_client import to_bot_message


def test_custom_payloads_keep_kind_data_and_buttons():
    msg = to_bot_message({"recipient_id": "x", "custom": {"kind": "greeting", "text": "您好", "data": {"a": 1},
                                                          "buttons": [{"title": "转人工", "payload": "/request_human"}]}})
    assert (msg.kind, msg.text, msg.data, msg.buttons[0].payload) == ("greeting", "您好", {"a": 1}, "/request_human")


def test_plain_rasa_text_becomes_a_text_message():
    msg = to_bot_message({"recipient_id": "x", "text": "好的", "buttons": [{"title": "是", "payload": "/affirm"}]})
    assert (msg.kind, msg.text, msg.buttons[0].title) == ("text", "好的", "是")


# -- one retry when no Rasa process answered (a killed or restarting process behind the balancer) ---------------
import asyncio  # noqa: E402

import httpx  # noqa: E402
import pytest  # noqa: E402

from connectors.gateway.rasa_client import DialogueUnavailable, RasaClient  # noqa: E402

REPLY = [{"custom": {"kind": "text", "text": "好的", "data": {}, "buttons": []}}]


def client_with(outcomes: list) -> tuple[RasaClient, list]:
    calls: list = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        outcome = outcomes[min(len(calls), len(outcomes)) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        return httpx.Response(outcome, json=REPLY if outcome == 200 else {"error": "x"})

    client = RasaClient("http://rasa.invalid", timeout=5)
    client._http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return client, calls


@pytest.mark.parametrize("first", [httpx.ConnectError("refused"), httpx.RemoteProtocolError("reset"), 502, 503])
def test_a_dead_process_is_retried_once(first):
    client, calls = client_with([first, 200])
    messages = asyncio.run(client.send("s", "你好", {}))
    assert [m.text for m in messages] == ["好的"] and len(calls) == 2


@pytest.mark.parametrize("outcomes", [[httpx.ReadTimeout("slow")], [500], [503, 503]])
def test_timeouts_and_rasa_errors_are_not_retried_twice(outcomes):
    client, calls = client_with(outcomes)
    with pytest.raises(DialogueUnavailable):
        asyncio.run(client.send("s", "你好", {}))
    assert len(calls) == len(outcomes)
