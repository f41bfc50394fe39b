"""Run the Rasa CLI (Python 3.10 venv) with measured performance fixes, action calls that survive a killed
action server, and a tracker store that fails loudly.

Rasa 3.6 validates every action-server response with `jsonschema.validate`, which re-checks the whole
response schema against the JSON-Schema metaschema on each call. Profiling bench/turns.py showed that
this took ~58% of the Rasa server's CPU on turns that run a custom action. Here the check is built once and
each event is checked against the one event schema its type names (`response_checker`): the same verdict as
the schema, and an invalid response still gets Rasa's own error. And the class
of a stored event is looked up once per event type, not by walking Event's subclasses for every event read.
A text already understood is answered from a cache of the NLU pipeline's results. Action calls carry the
domain's digest instead of the whole domain (`_install_domain_by_digest`), and the dialogue states the policies
predict from are worked out once per event (scripts/rasa_states.py).

Its log lines are made safe as in every process of the assistant (core/logs.py): personal data masked and
control characters escaped, including Rasa's structured (structlog) events such as
`rest.message.received.timeout {"text": ...}`, whose values are masked before they are rendered.

Action calls reuse kept connections (`_KeptSession`) instead of opening one per call as Rasa does: the action
server kept each closed connection's request, the whole conversation, in memory until its keep-alive timer fired.
A call to the action server that fails before any answer (connection refused or reset, or a balancer's 502/503
because the process behind it died) is sent again, twice at most, after a short pause: in the scale-out mode
the balancer then picks a live action server, and the caller's turn goes on instead of failing. Replaying is
safe because every action with an effect is idempotent (submissions and tickets by their key, a handoff
request returns the caller's open one); timeouts are never retried. When no action server answers even then,
the turn fails (`_install_unreachable_fails_turn`) rather than going on without its action.

A turn that fails is answered 500, not 200 with what the bot had said before the failure
(`_install_strict_rest_channel`), and a turn whose id is already stored is answered from the stored conversation
instead of running twice (`_install_turn_replay`).

Usage (as the supervisor does): .venv/rasa/bin/python scripts/rasa_server.py run --model ... [rasa args]
"""
from __future__ import annotations

import contextvars
import sys
from pathlib import Path
from typing import Any, Dict, List


def _install_event_class_cache() -> None:
    """Rasa finds the class of every stored event by walking all subclasses of Event (recursively, ~26 calls
    per event): profiled, 90% of reading a conversation back from the tracker store, and it grows with the
    conversation. The answer for a type name never changes once the classes are imported: it is kept."""
    from rasa.shared.core.events import Event

    original = Event.resolve_by_type
    found: Dict[str, Any] = {}

    def resolve_by_type(type_name: str, default: Any = None) -> Any:
        cls = found.get(type_name)
        if cls is not None:
            return cls
        cls = original(type_name, default)  # unknown names: the default, None or Rasa's own error, as before
        if cls is not None and getattr(cls, "type_name", None) == type_name:
            found[type_name] = cls
        return cls

    Event.resolve_by_type = staticmethod(resolve_by_type)


def _install_nlu_cache() -> None:
    """A text the model has already understood is not run through the NLU pipeline again (jieba, count
    vectors, the e5 encoder, the classifier: ~23 ms of Rasa's CPU per turn, profiled). Callers repeat
    themselves a lot ("是的", "确认提交", "转人工", the same guide questions): the last RASA_NLU_CACHE_SIZE
    (default 4096; 0 turns the cache off) texts' results are kept per loaded model. The pipeline depends on the
    text alone, so a cached result is the one the pipeline would give; each turn gets its own copy.

    Personal data is never kept: a text with an ID or phone number or an introduced name in it (what
    core.privacy.mask_text would mask), or any answer to a question for a name, ID, phone, address or
    verification factor (core.tracker_privacy.asks_personal), is understood afresh and not cached."""
    import copy
    import os

    from core.privacy import mask_text
    from core.tracker_privacy import asks_personal
    from collections import OrderedDict

    from rasa.core.processor import MessageProcessor

    size = int(os.environ.get("RASA_NLU_CACHE_SIZE", "4096") or 0)
    if size <= 0:
        return
    original = MessageProcessor._parse_message_with_graph

    def _parse_message_with_graph(self: Any, message: Any, tracker: Any, only_output_properties: bool = True) -> Any:
        text = getattr(message, "text", None)
        if not isinstance(text, str) or not only_output_properties or _personal(text, tracker):
            return original(self, message, tracker, only_output_properties)
        cache = self.__dict__.setdefault("_hotline_nlu_cache", OrderedDict())
        key = text  # the cache lives on the processor, which holds one loaded model
        parsed = cache.get(key)
        if parsed is None:
            parsed = original(self, message, tracker, only_output_properties)
            cache[key] = copy.deepcopy(parsed)
            if len(cache) > size:
                cache.popitem(last=False)
        else:
            cache.move_to_end(key)
            parsed = copy.deepcopy(parsed)
        return parsed

    def _personal(text: str, tracker: Any) -> bool:
        if mask_text(text) != text:
            return True
        for event in reversed(getattr(tracker, "events", None) or ()):
            if getattr(event, "type_name", None) == "bot":
                return asks_personal(event.as_dict())
        return False

    MessageProcessor._parse_message_with_graph = _parse_message_with_graph


def response_checker() -> Any:
    """A check of an action server's response equal to Rasa's schema validation, without its cost.

    Rasa validates every event against a `oneOf` of 23 event schemas, so each event is tried against all 23
    (profiled: 8 % of Rasa's CPU under load). Every alternative fixes `event` to a different constant, so an
    event can only match the alternative named by its own `event` value: that one alternative (with the
    common part of the event schema) decides, exactly as the `oneOf` would."""
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.utils.schemas.events import EVENT_SCHEMA

    schema = RemoteAction.action_response_format_spec()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    common = {key: value for key, value in EVENT_SCHEMA.items() if key != "oneOf"}
    by_type = {alt["properties"]["event"]["const"]: validator_class({**common, "allOf": [alt]})
               for alt in EVENT_SCHEMA["oneOf"]}
    rest = validator_class({**schema, "properties": {k: v for k, v in schema["properties"].items() if k != "events"}})

    def valid(result: Any) -> bool:
        if not rest.is_valid(result):
            return False
        if not isinstance(result, dict) or "events" not in result:
            return True
        events = result["events"]
        if not isinstance(events, list):
            return False
        for event in events:
            kind = event.get("event") if isinstance(event, dict) else None
            check = by_type.get(kind) if isinstance(kind, str) else None
            if check is None or not check.is_valid(event):
                return False
        return True

    return valid


def _install_cached_response_validator() -> None:
    from rasa.core.actions.action import RemoteAction

    valid = response_checker()
    original = RemoteAction._validate_action_result

    def _validate_action_result(self: RemoteAction, result: Dict[str, Any]) -> bool:
        if valid(result):
            return True
        return original(self, result)  # let Rasa raise its own, fully explained error

    RemoteAction._validate_action_result = _validate_action_result


DOMAIN_UNKNOWN = 449  # rasa-sdk >= 3.8: "send me the domain", when a call names a domain digest it has not seen
_domains: Dict[int, Any] = {}  # id(domain) -> (domain, digest, domain as a dict): one entry per loaded model


def domain_digest(domain: Any) -> Any:
    """(digest, domain as a dict) of a loaded model's domain, computed once per domain."""
    import hashlib
    import json

    entry = _domains.get(id(domain))
    if entry is None or entry[0] is not domain:
        as_dict = domain.as_dict()
        digest = hashlib.sha256(json.dumps(as_dict, sort_keys=True, default=str).encode()).hexdigest()
        entry = (domain, digest, as_dict)
        if len(_domains) >= 4:  # models replaced since: forget the oldest
            _domains.pop(next(iter(_domains)))
        _domains[id(domain)] = entry
    return entry[1], entry[2]


def _install_domain_by_digest() -> None:
    """Send the action server the domain's digest instead of the whole domain on every call.

    Rasa 3.6 puts the whole domain (~21 kB of JSON here) into every action call, to be encoded by Rasa and
    decoded by the action server (profiled: the biggest part of the action server's CPU). rasa-sdk 3.11 keeps
    the last domain it was sent with its digest and answers 449 to a call whose digest it does not know; the
    call is then sent again with the domain (RetryingActionEndpoint), once per action-server process and model."""
    import rasa
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.core.trackers import EventVerbosity

    def _action_call_format(self: RemoteAction, tracker: Any, domain: Any) -> Dict[str, Any]:
        state = tracker.current_state(EventVerbosity.ALL)
        slim_earlier_user_events(state["events"])
        return {"next_action": self._name, "sender_id": tracker.sender_id, "tracker": state,
                "version": rasa.__version__, "domain_digest": domain_digest(domain)[0]}

    RemoteAction._action_call_format = _action_call_format


# what an action may read of a caller's earlier messages; the latest keeps everything (and is `latest_message`)
EARLIER_PARSE_KEYS = frozenset({"intent", "entities", "text", "message_id", "metadata"})


def slim_earlier_user_events(events: List[Dict[str, Any]]) -> None:
    """Drop the intent ranking and token offsets of every user message but the latest from an action call.

    They were a quarter of each call's JSON and growing with the conversation, to be encoded by Rasa and decoded
    by the action server on every call; no action reads them (actions read earlier messages' text and intent,
    and the latest message whole). The tracker itself is not changed: each event's dict is Rasa's new copy."""
    last = max((i for i, e in enumerate(events) if e.get("event") == "user"), default=None)
    for i, event in enumerate(events):
        data = event.get("parse_data")
        if i != last and event.get("event") == "user" and isinstance(data, dict):
            event["parse_data"] = {key: value for key, value in data.items() if key in EARLIER_PARSE_KEYS}


def _with_domain(body: Any) -> Any:
    """The call again, with the domain its digest names (None: not a call this process made)."""
    if not isinstance(body, dict) or "domain" in body:
        return None
    entry = next((e for e in _domains.values() if e[1] == body.get("domain_digest")), None)
    return None if entry is None else {**body, "domain": entry[2]}


ACTION_RETRIES = 2
ACTION_RETRY_PAUSE = 0.3  # seconds, times the attempt number: a balancer's health check takes a dead process out


ACTION_CONNECTIONS = 64  # at most this many connections to the action server(s) at once; more calls wait
ACTION_IDLE_CLOSE = 5.0  # seconds: an idle connection is closed by Rasa before the action server's keep-alive ends


class _KeptSession:
    """`async with endpoint.session() as session` for the action endpoint: one long-lived aiohttp session per
    event loop, whose connections are kept and reused, instead of Rasa's new session (a new TCP connection) per
    action call. Measured (bench/capacity.py): every closed connection's parsed request, the whole conversation
    as JSON, stayed in the action server's memory until its keep-alive timer fired (rasa-sdk: 120 s), ~400 MB
    under load. Leaving the block does not close the session; it lives as long as the process (its sockets
    close when the process exits)."""

    def __init__(self, endpoint: Any) -> None:
        self._endpoint = endpoint

    async def __aenter__(self) -> Any:
        import asyncio

        import aiohttp

        from rasa.core.constants import DEFAULT_REQUEST_TIMEOUT

        endpoint, loop = self._endpoint, asyncio.get_running_loop()
        kept = getattr(endpoint, "_kept_session", None)
        if kept is None or kept.closed or getattr(endpoint, "_kept_loop", None) is not loop:
            login = endpoint.basic_auth  # as Rasa's own session: headers, basic auth, timeout
            kept = aiohttp.ClientSession(
                headers=endpoint.headers, timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
                json_serialize=action_call_json,
                auth=aiohttp.BasicAuth(login["username"], login["password"]) if login else None,
                connector=aiohttp.TCPConnector(limit=ACTION_CONNECTIONS, keepalive_timeout=ACTION_IDLE_CLOSE))
            endpoint._kept_session, endpoint._kept_loop = kept, loop
        return kept

    async def __aexit__(self, *exc: Any) -> None:
        return None


def action_call_json(value: Any) -> str:
    """An action call's JSON (the whole conversation, every call) through ujson: the standard encoder was about 7 %
    of Rasa's busy time (docs/BENCHMARKS.md, session 11). The same JSON value (floats round-trip exactly), text
    as UTF-8; anything ujson refuses goes through the standard encoder as before."""
    import json

    import ujson

    try:
        return ujson.dumps(value, ensure_ascii=False, escape_forward_slashes=False)
    except (TypeError, OverflowError, ValueError):
        return json.dumps(value)


class ActionServerUnreachable(Exception):
    """No action server answered an action call, after the retries (connection refused or reset, or the
    balancer's 502/503 with no live action server behind it)."""


# The failure of the action call the running action made, if no action server answered it (set by the retrying
# endpoint, read by `_install_unreachable_fails_turn` once the action returns; one per asyncio task, so per turn).
_UNREACHABLE: "contextvars.ContextVar[Any]" = contextvars.ContextVar("hotline_action_server_unreachable",
                                                                    default=None)


def _install_action_retry() -> None:
    """Only the action endpoint retries (not Rasa's other outgoing calls: NLG, callback channel)."""
    import asyncio
    import logging

    import aiohttp
    from rasa.core.utils import AvailableEndpoints
    from rasa.utils.endpoints import ClientResponseError, EndpointConfig

    log = logging.getLogger("hotline.rasa")

    class RetryingActionEndpoint(EndpointConfig):
        def session(self) -> Any:
            return _KeptSession(self)

        async def request(self, *args: Any, **kwargs: Any) -> Any:
            for attempt in range(ACTION_RETRIES + 1):
                try:
                    try:
                        return await super().request(*args, **kwargs)
                    except ClientResponseError as exc:
                        full = _with_domain(kwargs.get("json")) if exc.status == DOMAIN_UNKNOWN else None
                        if full is None:
                            raise
                        kwargs["json"] = full  # this action server has not seen the domain yet
                        return await super().request(*args, **kwargs)
                except (ClientResponseError, aiohttp.ClientConnectionError) as exc:
                    answered = isinstance(exc, ClientResponseError)
                    if answered and exc.status not in (502, 503):
                        raise  # an action server answered: its error is the action's
                    reason = f"HTTP {exc.status}" if answered else type(exc).__name__
                    if attempt == ACTION_RETRIES:
                        _UNREACHABLE.set(ActionServerUnreachable(reason))
                        raise
                log.warning("action server call failed (%s); trying again", reason)
                await asyncio.sleep(ACTION_RETRY_PAUSE * (attempt + 1))
            raise AssertionError("unreachable")

    original_init = AvailableEndpoints.__init__

    def __init__(self: AvailableEndpoints, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        if type(self.action) is EndpointConfig:
            self.action.__class__ = RetryingActionEndpoint  # the same endpoint, with the retrying request()

    AvailableEndpoints.__init__ = __init__


def _install_unreachable_fails_turn() -> None:
    """A turn whose action could not reach any action server fails as a whole, instead of going on without it.

    Rasa catches every error of an action, logs it and goes on as if the action had returned nothing: with no
    action server alive (every one of them restarting, or the only one stopped), a form's answer was dropped and
    the caller was told "没有听明白" although they had been understood. Here that one case raises
    `ActionServerUnreachable` out of the turn: nothing of it is stored (the tracker is saved last), the REST
    channel answers 500 (`_install_strict_rest_channel`), the gateway tells the caller the service is busy, and
    the same message said again is run afresh. An action that fails in the action server (an answer 500, a
    response Rasa rejects) still goes on as Rasa does: saying it again would fail the same way. Not covered:
    Rasa's slot extraction at the start of a turn (`run_action_extract_slots`) swallows the failure by itself;
    it calls the action server only for custom slot mappings that name an action, which this domain has none of."""
    from rasa.core.processor import MessageProcessor

    original = MessageProcessor._run_action

    async def _run_action(self: Any, *args: Any, **kwargs: Any) -> Any:
        token = _UNREACHABLE.set(None)
        try:
            result = await original(self, *args, **kwargs)
            failure = _UNREACHABLE.get()
        finally:
            _UNREACHABLE.reset(token)
        if failure is not None:
            raise failure
        return result

    MessageProcessor._run_action = _run_action


def _install_gc_freeze() -> None:
    """Once the model is loaded, its long-lived objects are moved out of the garbage collector's reach
    (core/heap.py): otherwise every full collection walks them all, a pause of the one event loop that every
    conversation in flight waits behind."""
    from core import heap
    from rasa.core import run

    original = run.load_agent_on_start

    async def load_agent_on_start(*args: Any, **kwargs: Any) -> Any:
        agent = await original(*args, **kwargs)
        heap.freeze()
        return agent

    run.load_agent_on_start = load_agent_on_start


def _install_safe_logging() -> None:
    """Every stdlib log record, and every value of Rasa's structlog events, masked and escaped."""
    from core import logs
    from rasa.utils import log_utils

    logs.install()
    anonymizer = log_utils._anonymizer  # configure_structlog() puts this first in the processor chain

    def _masking_anonymizer(logger: Any, method: str, event_dict: Dict[str, Any]) -> Dict[str, Any]:
        return {key: logs.safe_value(value) for key, value in anonymizer(logger, method, event_dict).items()}

    log_utils._anonymizer = _masking_anonymizer


def _install_tracker_store_without_memory_fallback() -> None:
    """Never run a turn on an empty conversation because the tracker database blinked.

    Rasa wraps the tracker store in FailSafeTrackerStore, which answers a failed read with `None` (Rasa then
    starts a new, empty conversation: a caller half-way through a form would be greeted afresh, and the save
    that follows could append that fresh conversation's events to the stored one) and a failed write by keeping
    the turn in process memory only. Here both raise instead: the REST channel answers 500
    (`_install_strict_rest_channel`), the gateway tells the caller politely to say it again, and the stored
    conversation is untouched.
    PostgreSQL connections are also checked before use (`pool_pre_ping`), so a restarted database costs no turn.
    """
    from rasa.core import tracker_store as ts

    async def retrieve(self: Any, sender_id: str) -> Any:
        return await self._tracker_store.retrieve(sender_id)

    async def retrieve_full_tracker(self: Any, sender_id: str) -> Any:
        return await self._tracker_store.retrieve_full_tracker(sender_id)

    async def save(self: Any, tracker: Any) -> None:
        await self._tracker_store.save(tracker)

    ts.FailSafeTrackerStore.retrieve = retrieve
    ts.FailSafeTrackerStore.retrieve_full_tracker = retrieve_full_tracker
    ts.FailSafeTrackerStore.save = save
    original_kwargs = ts.create_engine_kwargs

    def create_engine_kwargs(url: Any) -> Dict[str, Any]:
        kwargs = original_kwargs(url)
        if ts.is_postgresql_url(url):
            kwargs["pool_pre_ping"] = True
        return kwargs

    ts.create_engine_kwargs = create_engine_kwargs


def _install_strict_rest_channel() -> None:
    """A turn that failed is answered as failed, never as the bot's reply.

    Rasa's REST channel catches any error of a turn and answers 200 with whatever the bot had said before it
    failed. The tracker is saved last, so when the save fails (the database restarting) the caller is shown the
    next question of a form while the conversation never moved on, and their next answer lands on the previous
    question (found by bench/faults.py at a PostgreSQL restart). Here a turn that raised answers 500
    `{"error": "turn_failed"}` (the tracker is saved last, so nothing of it was stored), the gateway answers 503
    dialogue_unavailable and the caller says it again. A turn cancelled because its caller went away is not
    caught here: Sanic drops that connection, as before.
    """
    import logging

    from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
    from rasa.core.channels.rest import RestInput
    from sanic import Blueprint, response

    log = logging.getLogger("hotline.rasa")
    original = RestInput.blueprint

    def blueprint(self: Any, on_new_message: Any) -> Any:
        if type(self) is not RestInput:  # other channels built on it keep their own routes
            return original(self, on_new_message)
        routes = Blueprint(f"custom_webhook_{type(self).__name__}", type(self).__module__)

        @routes.route("/", methods=["GET"])
        async def health(request: Any) -> Any:
            return response.json({"status": "ok"})

        @routes.route("/webhook", methods=["POST"])
        async def receive(request: Any) -> Any:
            collector = CollectingOutputChannel()
            message = UserMessage(self._extract_message(request), collector, await self._extract_sender(request),
                                  input_channel=self._extract_input_channel(request),
                                  metadata=self.get_metadata(request))
            try:
                await on_new_message(message)
            except Exception:  # noqa: BLE001 - any failure: nothing was saved, the caller must say it again
                log.exception("turn failed; answered 500 so that the caller says it again")
                return response.json({"error": "turn_failed"}, status=500)
            return response.json(collector.messages)

        return routes

    RestInput.blueprint = blueprint


class _Replayed(Exception):
    """Raised inside Rasa's turn when its turn id is already stored: carries the replies given then."""

    def __init__(self, replies: list) -> None:
        super().__init__("turn already stored")
        self.replies = replies


REPLY_MEMORY_SECONDS = 120.0  # a message re-sent after a lost reply comes within a minute or two
REPLY_MEMORY_SIZE = 1000


def recent_replies(seconds: float = REPLY_MEMORY_SECONDS, size: int = REPLY_MEMORY_SIZE) -> Any:
    """Each conversation's latest replies as sent (not masked), under the turn id they answered, for `seconds`
    and at most `size` of them (swept even when no turn comes), so a re-sent message gets them back intact (a
    receipt's print link carries a token that storage masks). Older, or on another process, the stored (masked)
    replies are sent instead: `put(sender, turn_id, None, replies)`, `get(sender, turn_id, None)`."""
    from scripts.rasa_tracker_store import ExpiringStore

    return ExpiringStore(size, seconds, name="recent-replies-sweeper")


def stored_replies(tracker: Any, turn_id: str) -> Any:
    """The bot's replies to the conversation's latest user message if that message carried `turn_id` and no
    session started since, as the REST channel sends them (text, buttons, custom payload); else None. Only the
    latest message: a caller sends a message again only while waiting for its reply. Runs on every turn, so it
    walks back from the end only as far as that message."""
    from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, UserUttered

    said = []
    for event in reversed(tracker.events):
        if isinstance(event, SessionStarted) or (isinstance(event, ActionExecuted)
                                                 and event.action_name == "action_session_start"):
            return None  # the conversation started afresh since: the message is a new one
        if isinstance(event, BotUttered):
            said.append(event)
        elif isinstance(event, UserUttered):
            if (event.metadata or {}).get("turn_id") != turn_id:
                return None
            replies = []
            for bot in reversed(said):
                data = bot.data or {}
                reply = {"recipient_id": tracker.sender_id, "text": bot.text, "image": data.get("image"),
                         "buttons": data.get("buttons"), "attachment": data.get("attachment"),
                         "custom": data.get("custom")}
                replies.append({k: v for k, v in reply.items() if v is not None})
            return replies
    return None


def _turn_id(message: Any) -> Any:
    metadata = message.metadata if isinstance(message.metadata, dict) else {}
    turn_id = metadata.get("turn_id")
    return turn_id if isinstance(turn_id, str) and turn_id else None


def _install_turn_replay() -> None:
    """A message sent again with the turn id of one already stored is answered, not run a second time.

    The gateway gives every turn an id in its metadata: derived from the client's message id and the text when
    the client sent one (so the widget's "send again" after a lost reply and the balancer's re-send to another
    gateway carry the same id), else a fresh one, which still covers the gateway's own re-send. Run twice, a
    form answer would be read against the next question. The check runs under the conversation's lock, on the
    tracker the turn has just read: when the latest user message already has this id (and no session started
    since), its replies are sent again and nothing is run or stored. They come from `recent_replies` while that
    still holds them, else from the stored events (personal data in them masked, as in the database)."""
    from rasa.core.channels.channel import CollectingOutputChannel
    from rasa.core.processor import MessageProcessor

    recent = recent_replies()
    original_note = MessageProcessor._handle_message_with_tracker
    original_handle = MessageProcessor.handle_message

    async def _handle_message_with_tracker(self: Any, message: Any, tracker: Any) -> None:
        turn_id = _turn_id(message)
        if turn_id:
            replies = stored_replies(tracker, turn_id)
            if replies is not None:
                raise _Replayed(recent.get(tracker.sender_id, turn_id, None) or replies)
        await original_note(self, message, tracker)

    async def handle_message(self: Any, message: Any) -> Any:
        try:
            replies = await original_handle(self, message)
        except _Replayed as replay:
            if isinstance(message.output_channel, CollectingOutputChannel):
                message.output_channel.messages = list(replay.replies)
                return message.output_channel.messages
            return None
        turn_id = _turn_id(message)
        if turn_id and isinstance(message.output_channel, CollectingOutputChannel):
            recent.put(message.sender_id, turn_id, None, list(message.output_channel.messages))
        return replies

    MessageProcessor._handle_message_with_tracker = _handle_message_with_tracker
    MessageProcessor.handle_message = handle_message


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # core/ (pure Python) for the log filter
    from scripts import rasa_states

    _install_safe_logging()
    _install_event_class_cache()
    _install_cached_response_validator()
    _install_nlu_cache()
    _install_action_retry()
    _install_unreachable_fails_turn()
    _install_domain_by_digest()
    rasa_states.install()
    _install_gc_freeze()
    _install_tracker_store_without_memory_fallback()
    _install_strict_rest_channel()
    _install_turn_replay()
    from rasa.__main__ import main

    sys.exit(main())
