"""WS /ws/agent: the agent console's live channel (docs/API.md, "Agent console").

Authenticated like every staff route (the staff cookie from a page of the same origin, or a bearer token),
role agent. The socket follows the bus topics `agents` (queue changes) and, for every conversation the agent
holds or watches, `conversation:<sender>` and `conversation:<sender>:staff`, and forwards each event as
`{"type": "event", "topic", "event"}`. Whenever that set of topics changes (a claim, transfer, release,
close, a watch) or a subscription is lost, it subscribes again and says `{"type": "subscribed"}`: the bus
never replays, so the console then re-reads the queue and the open transcript over HTTP.

While open and on duty it records a heartbeat every HEARTBEAT_SECONDS (and re-checks the session, closing
with 1008 once it was revoked or expired); on disconnect the agent goes off duty (sign_off).
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Annotated, Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, WebSocket, WebSocketDisconnect

from connectors.gateway.auth import AgentStaff, bearer_scheme, cookie_scheme
from connectors.gateway.errors import MESSAGES
from core import handoff
from core.events import BusUnavailable, EventBus, SubscriptionLost, get_event_bus
from core.handoff import console
from core.staff import StaffPrincipal, has_role, resolve_session

log = logging.getLogger("hotline.agent")
router = APIRouter()

HEARTBEAT_SECONDS = 20.0
RESUBSCRIBE_BACKOFF = (1.0, 2.0, 5.0, 10.0)
HOLDING_CHANGES = frozenset({"claimed", "transferred", "released", "closed", "cancelled", "callback_requested"})
MAX_FRAME_CHARS = 1000


class AgentChannel:
    """One open console: its topics, its duty state and the three tasks (follow, receive, heartbeat)."""

    def __init__(self, websocket: WebSocket, principal: StaffPrincipal, token: str | None, bus: EventBus,
                 on_duty: bool) -> None:
        self.websocket = websocket
        self.principal = principal
        self.token = token
        self.bus = bus
        self.on_duty = on_duty
        self.held: dict[int, str] = {}               # conversation id -> sender
        self.watched: tuple[int, str] | None = None
        self._send_lock = asyncio.Lock()
        self._resubscribe = asyncio.Event()

    # -- topics ------------------------------------------------------------------------------------------
    def topics(self) -> tuple[str, ...]:
        senders = sorted(set(self.held.values()) | ({self.watched[1]} if self.watched else set()))
        topics = [handoff.AGENTS_TOPIC]
        for sender in senders:
            topics += [handoff.conversation_topic(sender), handoff.staff_topic(sender)]
        return tuple(topics)

    async def refresh_held(self) -> bool:
        """Re-read what the agent holds; True when the topics changed."""
        before = self.topics()
        self.held = await asyncio.to_thread(console.held_senders, self.principal)
        return self.topics() != before

    def _concerns_me(self, event: dict[str, Any]) -> bool:
        if event.get("type") != "queue.changed" or event.get("change") not in HOLDING_CHANGES:
            return False
        me = self.principal.staff_id
        return me in (event.get("agent_id"), event.get("from_agent_id")) or event.get("conversation_id") in self.held

    # -- sending -------------------------------------------------------------------------------------------
    async def send(self, frame: dict[str, Any]) -> None:
        async with self._send_lock:
            await self.websocket.send_text(json.dumps(frame, ensure_ascii=False))

    async def error(self, code: str, message: str) -> None:
        await self.send({"type": "error", "code": code, "message": message})

    # -- the three tasks -------------------------------------------------------------------------------------
    async def follow(self) -> None:
        """Forward bus events; subscribe again when the topics change or the subscription is lost."""
        failures = 0
        while True:
            topics = self.topics()
            self._resubscribe.clear()
            try:
                async with self.bus.subscribe(*topics) as sub:
                    failures = 0
                    await self.send(self._subscribed_frame(topics))
                    await self._pump(sub)
            except SubscriptionLost:
                log.info("agent socket staff=%s lost its subscription; resubscribing", self.principal.staff_id)
                await self.refresh_held()
            except BusUnavailable as exc:
                delay = RESUBSCRIBE_BACKOFF[min(failures, len(RESUBSCRIBE_BACKOFF) - 1)]
                failures += 1
                log.warning("agent socket cannot subscribe (%s); retrying in %.0f s", exc, delay)
                await self.error("bus_unavailable", "实时通道暂时不可用，正在重试；请手动刷新队列。")
                await asyncio.sleep(delay)

    async def _pump(self, sub) -> None:
        while True:
            getter = asyncio.ensure_future(sub.get())
            waker = asyncio.ensure_future(self._resubscribe.wait())
            try:
                done, _ = await asyncio.wait({getter, waker}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (getter, waker):
                    if not task.done():
                        task.cancel()
                await asyncio.gather(getter, waker, return_exceptions=True)
            if getter in done and not getter.cancelled():
                topic, event = getter.result()       # raises SubscriptionLost
                await self.send({"type": "event", "topic": topic, "event": event})
                if topic == handoff.AGENTS_TOPIC and self._concerns_me(event) and await self.refresh_held():
                    self._resubscribe.set()
                if topic == handoff.AGENTS_TOPIC and await self._watch_ended(event):
                    self._resubscribe.set()
            if self._resubscribe.is_set():
                return

    async def _watch_ended(self, event: dict[str, Any]) -> bool:
        """After a change to the watched conversation, the viewer may no longer read it (claimed by another)."""
        if self.watched is None or event.get("conversation_id") != self.watched[0] \
                or event.get("change") not in HOLDING_CHANGES:
            return False
        try:
            await asyncio.to_thread(console.watch_target, self.watched[0], self.principal)
            return False
        except handoff.HandoffError as exc:
            conversation_id, self.watched = self.watched[0], None
            await self.send({"type": "watch_ended", "conversation_id": conversation_id, "code": exc.code,
                             "message": exc.message})
            return True

    async def receive(self) -> None:
        """Frames from the console: watch, duty, ping. Returns when the socket closes."""
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            frame = _parse(message.get("text") or "")     # binary frames are refused like bad JSON
            kind = frame.get("type") if frame else None
            if kind == "ping":
                await self.send({"type": "pong"})
            elif kind == "watch":
                await self._watch(frame.get("conversation_id"))
            elif kind == "duty" and isinstance(frame.get("on"), bool):
                await self._set_duty(frame["on"])
            else:
                await self.error("invalid_request", MESSAGES["invalid_request"].format(fields="type"))

    async def _watch(self, conversation_id: Any) -> None:
        """Follow one more conversation live (a supervisor any, an agent one waiting in the queue); None stops."""
        if conversation_id is None:
            watched = None
        elif isinstance(conversation_id, int) and not isinstance(conversation_id, bool):
            try:
                watched = (conversation_id,
                           await asyncio.to_thread(console.watch_target, conversation_id, self.principal))
            except handoff.HandoffError as exc:
                await self.error(exc.code, exc.message)
                return
        else:
            await self.error("invalid_request", MESSAGES["invalid_request"].format(fields="conversation_id"))
            return
        before, self.watched = self.topics(), watched
        if self.topics() != before:
            self._resubscribe.set()       # follow() subscribes again and says "subscribed"
        else:
            await self.send(self._subscribed_frame(self.topics()))

    def _subscribed_frame(self, topics: tuple[str, ...]) -> dict[str, Any]:
        return {"type": "subscribed", "topics": list(topics), "conversations": sorted(self.held),
                "watching": self.watched[0] if self.watched else None}

    async def _set_duty(self, on: bool) -> None:
        self.on_duty = on
        try:
            await asyncio.to_thread(handoff.heartbeat if on else handoff.sign_off, self.principal)
        except handoff.HandoffError as exc:
            await self.error(exc.code, exc.message)
            return
        await self.send({"type": "duty", "on": on})

    async def heartbeats(self) -> None:
        """Every HEARTBEAT_SECONDS: the session must still be valid; on duty, record the heartbeat."""
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            current = await asyncio.to_thread(resolve_session, self.token, via=self.principal.via) \
                if self.token else None
            if current is None or current.staff_id != self.principal.staff_id:
                await self.websocket.close(code=1008, reason="not_authenticated")
                return
            if not has_role(current, "agent"):
                await self.websocket.close(code=1008, reason="forbidden")
                return
            self.principal = current
            if self.on_duty:
                try:
                    await asyncio.to_thread(handoff.heartbeat, current)
                except handoff.HandoffError:
                    await self.websocket.close(code=1008, reason="forbidden")
                    return

    async def run(self) -> None:
        await self.refresh_held()
        if self.on_duty:
            await asyncio.to_thread(handoff.heartbeat, self.principal)
        await self.send({"type": "hello", "heartbeat_seconds": HEARTBEAT_SECONDS, "on_duty": self.on_duty,
                         "staff": {"id": self.principal.staff_id, "username": self.principal.username,
                                   "name": self.principal.public_name,
                                   "roles": sorted(self.principal.roles)}})
        try:
            async with anyio.create_task_group() as group:
                for part in (self.receive, self.follow, self.heartbeats):
                    group.start_soon(self._until_first_ends, part, group.cancel_scope, name=part.__name__)
        finally:
            if self.on_duty:
                with anyio.CancelScope(shield=True):      # off duty even when the session is being cancelled
                    try:
                        await anyio.to_thread.run_sync(handoff.sign_off, self.principal)
                    except Exception:  # noqa: BLE001 - presence also expires by itself
                        log.warning("sign_off failed for staff=%s", self.principal.staff_id, exc_info=True)

    @staticmethod
    async def _until_first_ends(part, scope: anyio.CancelScope) -> None:
        """Run one of the three tasks; whichever ends first (usually receive, on disconnect) ends them all."""
        try:
            await part()
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass                                          # the socket went away while sending
        except Exception:  # noqa: BLE001 - one console's failure must not take the gateway with it
            log.exception("agent socket task %s failed", part.__name__)
        finally:
            scope.cancel()


def _parse(raw: str) -> dict[str, Any] | None:
    if len(raw) > MAX_FRAME_CHARS:
        return None
    try:
        frame = json.loads(raw)
    except ValueError:
        return None
    return frame if isinstance(frame, dict) else None


@router.websocket("/ws/agent")
async def agent_socket(websocket: WebSocket, staff: AgentStaff,
                       bearer: Annotated[str | None, Depends(bearer_scheme)],
                       cookie: Annotated[str | None, Depends(cookie_scheme)]) -> None:
    """?duty=0 opens the console off duty (e.g. a supervisor only monitoring); {"type": "duty"} switches."""
    on_duty = websocket.query_params.get("duty", "1") not in ("0", "false", "off")
    await websocket.accept()
    channel = AgentChannel(websocket, staff, bearer if bearer is not None else cookie, get_event_bus(), on_duty)
    await channel.run()
