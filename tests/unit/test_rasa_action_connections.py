"""Rasa's calls to the action server reuse kept connections (scripts/rasa_server.py `_KeptSession`), in Rasa's
own environment, and survive the action server going away and coming back.

Rasa 3.6 opens a new connection per action call; the action server kept every closed connection's last request
(the whole conversation) until its keep-alive timer fired, ~400 MB under load (docs/BENCHMARKS.md, session 8).
The action server here is a small aiohttp app that records which client connection each call came on.
"""
from __future__ import annotations

from tests.rasa_venv import ACTION_CALL_SETUP, needs_rasa, run_in_rasa

SCRIPT = ACTION_CALL_SETUP + r"""
server._install_action_retry()
peers = []

async def webhook(request):
    peers.append(request.transport.get_extra_info("peername")[1])
    number = len(peers)
    await asyncio.sleep(0.05)  # calls sent together overlap here
    return web.json_response({"events": [{"event": "slot", "name": "x", "value": number}], "responses": []})

def start(port=0):
    return serve(webhook, port)

async def main():
    tracker = DialogueStateTracker("caller", domain.slots)
    tracker.update(UserUttered("你好"))
    nlg = TemplatedNaturalLanguageGenerator(domain.responses)
    runner, port = await start()
    endpoint = AvailableEndpoints(action=EndpointConfig(f"http://127.0.0.1:{port}/webhook")).action

    async def call():
        events = await RemoteAction("action_x", endpoint).run(CollectingOutputChannel(), nlg, tracker, domain)
        return [e.as_dict()["value"] for e in events]

    report = {"one_by_one": [await call() for _ in range(6)]}
    report["one_by_one_connections"] = len(set(peers))
    del peers[:]
    report["together"] = sorted(v for vs in await asyncio.gather(*(call() for _ in range(8))) for v in vs)
    await runner.cleanup()  # the action server restarts on the same port: the kept connections are gone
    runner, _ = await start(port)
    del peers[:]
    report["after_restart"] = [await call() for _ in range(3)]
    report["after_restart_connections"] = len(set(peers))
    await runner.cleanup()
    print(json.dumps(report))

asyncio.run(main())
"""


@needs_rasa
def test_action_calls_reuse_connections_and_survive_an_action_server_restart():
    report = run_in_rasa(SCRIPT)
    assert report["one_by_one"] == [[1], [2], [3], [4], [5], [6]], report
    assert report["one_by_one_connections"] == 1, report  # Rasa alone would have opened six
    assert report["together"] == list(range(1, 9)), report  # eight calls at once: each answered once
    assert report["after_restart"] == [[1], [2], [3]], report  # no call lost to a connection the restart closed
    assert report["after_restart_connections"] == 1, report


BODY_SCRIPT = ACTION_CALL_SETUP + r"""
server._install_action_retry()
bodies = []

async def webhook(request):
    bodies.append(await request.read())
    return web.json_response({"events": [], "responses": []})

async def main():
    tracker = DialogueStateTracker("caller", domain.slots)
    tracker.update(UserUttered("社保卡丢了/怎么补办？身份证号150102199003071234", timestamp=1764590000.1234567))
    runner, port = await serve(webhook)
    endpoint = AvailableEndpoints(action=EndpointConfig(f"http://127.0.0.1:{port}/webhook")).action
    action = RemoteAction("action_x", endpoint)
    await action.run(CollectingOutputChannel(), TemplatedNaturalLanguageGenerator(domain.responses), tracker, domain)
    await runner.cleanup()
    expected = json.loads(json.dumps(action._action_call_format(tracker, domain)))
    print(json.dumps({"same": json.loads(bodies[0]) == expected, "utf8": "社保卡丢了/怎么补办".encode() in bodies[0],
                      "timestamp": json.loads(bodies[0])["tracker"]["events"][-1]["timestamp"]}))

asyncio.run(main())
"""


@needs_rasa
def test_the_action_server_receives_the_conversation_exactly_as_the_standard_encoder_would_write_it():
    report = run_in_rasa(BODY_SCRIPT)
    assert report["same"] and report["utf8"], report
    assert report["timestamp"] == 1764590000.1234567, report
