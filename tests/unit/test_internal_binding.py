"""Internal services listen on loopback only, by default (issue 10): only the gateway is meant to be public,
and it too binds 127.0.0.1 unless HOST says otherwise. The live stack is checked in
tests/integration/test_privacy_live.py; here, what the supervisor starts."""
from __future__ import annotations

from scripts import action_server, supervise


def test_the_supervisor_starts_every_process_on_loopback(monkeypatch):
    for name in ("HOST", "ACTIONS_HOST", "SANIC_HOST"):
        monkeypatch.delenv(name, raising=False)
    env = supervise.service_env()
    cmds = supervise.commands("models/x.tar.gz", env)
    rasa, actions, gateway = cmds["rasa"], cmds["actions"], cmds["gateway"]
    assert rasa[rasa.index("--interface") + 1] == "127.0.0.1"
    assert gateway[gateway.index("--host") + 1] == "127.0.0.1"
    assert actions[1] == "scripts/action_server.py"  # not `-m rasa_sdk`, which listens on 0.0.0.0
    assert env["ACTIONS_HOST"] == "127.0.0.1"
    assert action_server.listen_address(env) == "127.0.0.1"


def test_the_action_server_listens_where_it_is_told_and_on_loopback_otherwise():
    assert action_server.listen_address({}) == "127.0.0.1"
    assert action_server.listen_address({"ACTIONS_HOST": "  "}) == "127.0.0.1"
    assert action_server.listen_address({"ACTIONS_HOST": "10.0.0.5"}) == "10.0.0.5"


def test_prepare_tells_rasa_sdk_the_loopback_address(monkeypatch):
    monkeypatch.delenv("ACTIONS_HOST", raising=False)
    monkeypatch.setenv("SANIC_HOST", "0.0.0.0")
    import logging

    old = logging.getLogRecordFactory()
    try:
        action_server.prepare()
        import os

        assert os.environ["SANIC_HOST"] == "127.0.0.1"
    finally:
        logging.setLogRecordFactory(old)
