"""The gateway's Rasa client retries once when no Rasa process answered (a killed or restarting process behind
the balancer), never on a timeout or an error Rasa itself returned. Against a real local HTTP server that plays
each request's outcome in turn."""
import asyncio
import json

import pytest

from connectors.gateway.rasa_client import DialogueUnavailable, RasaClient
from scripts.stack import free_port

REPLY = json.dumps([{"custom": {"kind": "text", "text": "好的", "data": {}, "buttons": []}}]).encode()


class ScriptedRasa:
    """Answers request n with outcomes[n] (the last one repeats): a status code, "drop" (the connection closes
    without an answer, as when the process is killed) or "slow" (no answer within the client's timeout)."""

    def __init__(self, outcomes: list) -> None:
        self.outcomes = outcomes
        self.requests: list[dict] = []
        self.connections = 0
        self.port = free_port()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
                body = await reader.readexactly(int(headers.get("content-length", 0)))
                self.requests.append({"line": lines[0], "headers": headers, "body": body})
                outcome = self.outcomes[min(len(self.requests), len(self.outcomes)) - 1]
                if outcome == "drop":
                    writer.close()
                    return
                if outcome == "slow":
                    await asyncio.sleep(3)
                    outcome = 200
                payload = REPLY if outcome == 200 else b'{"error": "x"}'
                writer.write(f"HTTP/1.1 {outcome} X\r\nContent-Type: application/json\r\n"
                             f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    def run(self, calls, timeout: float = 5):
        async def main():
            server = await asyncio.start_server(self.handle, "127.0.0.1", self.port)
            client = RasaClient(f"http://127.0.0.1:{self.port}", timeout=timeout)
            try:
                return await calls(client)
            finally:
                await client.close()
                server.close()
        return asyncio.run(main())


def send_once(client: RasaClient):
    return client.send("s", "你好", {"channel": "web"})


@pytest.mark.parametrize("first", ["drop", 502, 503])
def test_a_dead_process_is_retried_once(first):
    rasa = ScriptedRasa([first, 200])
    messages = rasa.run(send_once)
    assert [m.text for m in messages] == ["好的"] and len(rasa.requests) == 2


@pytest.mark.parametrize("outcomes", [["slow"], [500], [503, 503], ["drop", "drop"]])
def test_timeouts_and_rasa_errors_are_not_retried_twice(outcomes):
    rasa = ScriptedRasa(outcomes)
    with pytest.raises(DialogueUnavailable):
        rasa.run(send_once, timeout=1)
    assert len(rasa.requests) == len(outcomes)


def test_nobody_listening_is_unavailable_not_a_crash():
    async def main():
        client = RasaClient(f"http://127.0.0.1:{free_port()}", timeout=2)   # nothing listens there
        try:
            with pytest.raises(DialogueUnavailable):
                await client.send("s", "你好", {})
            return await client.ready()
        finally:
            await client.close()

    ready, why = asyncio.run(main())
    assert ready is False and why


def test_the_turn_is_sent_as_rasa_reads_it_on_one_kept_connection():
    rasa = ScriptedRasa([200])

    async def calls(client):
        for sender in ("voice-13947761208", "voice-13947761208", "web-2"):
            await client.send(sender, "社保卡丢了", {"channel": "web", "turn_id": "t1"})

    rasa.run(calls)
    first = rasa.requests[0]
    assert first["line"].startswith("POST /webhooks/rest/webhook")
    assert json.loads(first["body"]) == {"sender": "voice-13947761208", "message": "社保卡丢了",
                                         "metadata": {"channel": "web", "turn_id": "t1"}}
    assert rasa.connections == 1
    keys = [r["headers"]["x-conversation"] for r in rasa.requests]
    assert keys[0] == keys[1] != keys[2]  # the same conversation goes to the same Rasa process
    assert "13947761208" not in keys[0] and "7761208" not in keys[0] and len(keys[0]) == 24   # a keyed hash
