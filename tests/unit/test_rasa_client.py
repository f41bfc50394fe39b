"""The gateway's Rasa client retries once when no Rasa process answered (a killed or restarting process behind
the balancer), never on a timeout or an error Rasa itself returned."""
import asyncio

import httpx
import pytest

from connectors.gateway.rasa_client import DialogueUnavailable, RasaClient

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


def test_each_turn_names_its_conversation_for_the_balancer_by_a_keyed_hash_not_the_sender():
    client, calls = client_with([200])
    voice_sender = "voice-13947761208"   # a voice sender carries the caller's number
    for sender in (voice_sender, voice_sender, "web-2"):
        asyncio.run(client.send(sender, "你好", {}))
    keys = [request.headers["X-Conversation"] for request in calls]
    assert keys[0] == keys[1] != keys[2]  # the same conversation goes to the same Rasa process
    assert "13947761208" not in keys[0] and "7761208" not in keys[0] and len(keys[0]) == 24
