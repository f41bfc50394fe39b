"""A turn whose action reaches no action server fails as a whole (scripts/rasa_server.py
`_install_unreachable_fails_turn`), in Rasa's own environment with Rasa's own MessageProcessor and RemoteAction.

Rasa goes on without an action that raised: with every action server down, a form answer was dropped and the
caller told "没有听明白". Now the turn raises (nothing is saved; the REST channel answers 500 and the gateway
asks the caller to say it again); an action that fails inside the action server still goes on as before.
tests/integration/test_cluster.py stops every action server of the scale-out mode in the middle of a form.
"""
from __future__ import annotations

from tests.rasa_venv import ACTION_CALL_SETUP, needs_rasa, run_in_rasa

SCRIPT = ACTION_CALL_SETUP + r"""
from rasa.core.policies.policy import PolicyPrediction
from rasa.core.processor import MessageProcessor
from scripts.stack import free_port as closed_port  # nothing listens on it

def start(status):
    async def webhook(request):
        if status != 200:
            return web.json_response({"error": "x"}, status=status)
        return web.json_response({"events": [{"event": "slot", "name": "x", "value": "set"}], "responses": []})
    return serve(webhook)

processor = object.__new__(MessageProcessor)
processor.domain = domain
nlg = TemplatedNaturalLanguageGenerator(domain.responses)

async def run_action(port):
    tracker = DialogueStateTracker("caller", domain.slots)
    tracker.update(UserUttered("你好"))
    endpoint = AvailableEndpoints(action=EndpointConfig(f"http://127.0.0.1:{port}/webhook")).action
    prediction = PolicyPrediction([1.0], "RulePolicy")
    try:
        await processor._run_action(RemoteAction("action_x", endpoint), tracker, CollectingOutputChannel(), nlg,
                                    prediction)
    except Exception as exc:
        return {"raised": type(exc).__name__, "x": tracker.get_slot("x")}
    return {"raised": None, "x": tracker.get_slot("x")}

async def main():
    server._install_action_retry()
    report = {"rasa alone, no action server": await run_action(closed_port())}
    server._install_unreachable_fails_turn()
    report["no action server"] = await run_action(closed_port())
    runners, ports = [], {}
    for status in (503, 502, 500, 200):
        runner, ports[status] = await start(status)
        runners.append(runner)
        report[f"answers {status}"] = await run_action(ports[status])
    report["no action server, then one answers"] = [await run_action(closed_port()), await run_action(ports[200])]
    for runner in runners:
        await runner.cleanup()
    print(json.dumps(report))

asyncio.run(main())
"""


@needs_rasa
def test_a_turn_fails_when_no_action_server_answers_and_goes_on_when_an_action_fails_inside_one():
    report = run_in_rasa(SCRIPT)
    # Rasa by itself swallows the failure: the turn would go on without the action
    assert report["rasa alone, no action server"] == {"raised": None, "x": None}, report
    assert report["no action server"]["raised"] == "ActionServerUnreachable", report
    # a balancer with no live action server behind it answers 502 or 503: the same
    assert report["answers 503"]["raised"] == "ActionServerUnreachable", report
    assert report["answers 502"]["raised"] == "ActionServerUnreachable", report
    # an action that fails inside a live action server: the conversation goes on as Rasa does (no retry helps)
    assert report["answers 500"] == {"raised": None, "x": None}, report
    assert report["answers 200"] == {"raised": None, "x": "set"}, report
    # a failed call leaves nothing behind for the next action
    assert report["no action server, then one answers"] == [{"raised": "ActionServerUnreachable", "x": None},
                                                            {"raised": None, "x": "set"}], report
