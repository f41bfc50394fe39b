"""Rasa sends the action server the domain's digest, and the whole domain only to an action server that asks for
it (scripts/rasa_server.py `_install_domain_by_digest`), in Rasa's own environment.

The action server here is a fake that follows rasa-sdk 3.11's protocol (it keeps the last domain it was sent and
answers 449 to a digest it does not know); the live conversation tests run the real rasa-sdk behind it.
"""
from __future__ import annotations

from tests.rasa_venv import ACTION_CALL_SETUP, needs_rasa, run_in_rasa

SCRIPT = ACTION_CALL_SETUP + r"""
server._install_action_retry()
server._install_domain_by_digest()
seen = []

def fake_rasa_sdk_action_server():
    known = {"digest": None, "domain": None}
    async def webhook(request):
        body = await request.json()
        if "domain" in body:
            known.update(digest=body.get("domain_digest"), domain=body["domain"])
        elif not known["digest"] or known["digest"] != body.get("domain_digest"):
            seen.append({"domain": False, "status": 449})
            return web.json_response({"error": "missing domain", "action_name": body["next_action"]}, status=449)
        seen.append({"domain": "domain" in body, "status": 200, "knows_slots": sorted(known["domain"]["slots"]),
                     "text": body["tracker"]["latest_message"]["text"]})
        return web.json_response({"events": [{"event": "slot", "name": "x", "value": len(seen)}], "responses": []})
    app = web.Application()
    app.router.add_post("/webhook", webhook)
    return app

async def start(app):
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]

async def main():
    report = {}
    tracker = DialogueStateTracker("caller", domain.slots)
    tracker.update(UserUttered("你好"))
    nlg = TemplatedNaturalLanguageGenerator(domain.responses)
    for name in ("first", "second"):   # two action-server processes, one after the other
        runner, port = await start(fake_rasa_sdk_action_server())
        endpoint = AvailableEndpoints(action=EndpointConfig(f"http://127.0.0.1:{port}/webhook")).action
        for call in range(2):
            before = len(seen)
            events = await RemoteAction("action_x", endpoint).run(CollectingOutputChannel(), nlg, tracker, domain)
            report[f"{name}-{call}"] = {"requests": seen[before:], "events": [e.as_dict()["value"] for e in events]}
        await runner.cleanup()
    print(json.dumps(report, ensure_ascii=False))

asyncio.run(main())
"""


@needs_rasa
def test_the_domain_is_sent_once_per_action_server_and_every_call_still_runs():
    report = run_in_rasa(SCRIPT)
    asked = {"domain": False, "status": 449}
    sent = {"domain": True, "status": 200, "knows_slots": ["x"],
            "text": "你好"}
    digest_only = dict(sent, domain=False)
    for server in ("first", "second"):  # a new process asks once, then the digest is enough
        assert report[f"{server}-0"]["requests"] == [asked, sent], report
        assert report[f"{server}-1"]["requests"] == [digest_only], report
    # every call ran the action once and its events came back
    assert [report[k]["events"] for k in ("first-0", "first-1", "second-0", "second-1")] == [[2], [3], [5], [6]]


SLIM_SCRIPT = ACTION_CALL_SETUP + r"""
server._install_action_retry()
server._install_domain_by_digest()
bodies = []

async def webhook(request):
    body = await request.json()
    if "domain" not in body and not bodies:
        bodies.append(None)
        return web.json_response({"error": "missing domain", "action_name": body["next_action"]}, status=449)
    bodies.append(body)
    return web.json_response({"events": [], "responses": []})

def parsed(text, intent):
    ranking = [{"name": intent, "confidence": 0.9}, {"name": "other", "confidence": 0.1}]
    return {"intent": {"name": intent, "confidence": 0.9}, "entities": [{"entity": "guide", "value": "x"}],
            "text": text, "intent_ranking": ranking, "text_tokens": [[0, 2]]}

async def main():
    tracker = DialogueStateTracker("caller", domain.slots)
    tracker.update(UserUttered("社保卡丢了", parse_data=parsed("社保卡丢了", "ask_guide")))
    tracker.update(UserUttered("要多久", parse_data=parsed("要多久", "ask_time")))
    runner, port = await serve(webhook)
    endpoint = AvailableEndpoints(action=EndpointConfig(f"http://127.0.0.1:{port}/webhook")).action
    await RemoteAction("action_x", endpoint).run(CollectingOutputChannel(),
                                                 TemplatedNaturalLanguageGenerator(domain.responses), tracker, domain)
    await runner.cleanup()
    users = [e for e in bodies[-1]["tracker"]["events"] if e["event"] == "user"]
    kept = [e for e in tracker.events if isinstance(e, UserUttered)][0].parse_data
    print(json.dumps({"earlier": users[0]["parse_data"], "latest": users[1]["parse_data"],
                      "latest_message": bodies[-1]["tracker"]["latest_message"], "kept": kept}, ensure_ascii=False))

asyncio.run(main())
"""


@needs_rasa
def test_earlier_messages_reach_the_action_server_without_their_intent_ranking():
    report = run_in_rasa(SLIM_SCRIPT)
    earlier = report["earlier"]
    assert "intent_ranking" not in earlier and "text_tokens" not in earlier, report
    assert (earlier["intent"]["name"], earlier["text"], earlier["entities"]) == \
        ("ask_guide", "社保卡丢了", [{"entity": "guide", "value": "x"}]), report
    assert [r["name"] for r in report["latest"]["intent_ranking"]] == ["ask_time", "other"], report
    assert report["latest_message"]["intent_ranking"] == report["latest"]["intent_ranking"], report
    assert "intent_ranking" in report["kept"] and "text_tokens" in report["kept"], report   # the tracker unchanged
