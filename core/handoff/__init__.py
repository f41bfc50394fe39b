"""Human handoff: hotline agents take over live conversations. The domain core, with no HTTP in it.

    service.py  the queue and the conversations with agents (database, sync SQLAlchemy), see its docstring
    notify.py   Outcome (view + events to publish), publish(), perform() (run in a thread, then publish)
    errors.py   HandoffError and its subclasses, each with a `code` and a Chinese `message`
    console.py  what the agent console and the supervisor read and send: brief (the summary in ten seconds),
                board, conversation (with `can`), guide cards, typing, colleagues, overview

State that must outlive a process is in the database (tables handoff_conversations, handoff_messages,
handoff_agent_presence); live events go through core/events.py (in-process, or Redis with EVENT_BUS_URL),
so a caller on one gateway process and an agent on another still talk:

    conversation:<sender>        handoff.state / handoff.message  (the caller's socket, the agent holding it)
    conversation:<sender>:staff  handoff.message with internal notes (staff consoles only)
    agents                       queue.changed (every agent console)

Who answers a conversation now: `holder(sender)`; None = the assistant (Rasa), a display name = that agent.
This package imports nothing from connectors/ or actions/.
"""
from core.handoff.errors import (
    AgentUnavailable,
    AlreadyClaimed,
    CapacityReached,
    HandoffError,
    InvalidInput,
    InvalidState,
    NotAllowed,
    NotFound,
    NotHolder,
)
from core.handoff.notify import Outcome, perform, publish
from core.handoff.service import (
    AGENTS_TOPIC,
    BACKLOG_LINES,
    CALLBACK,
    CLOSED,
    CONNECTED,
    LIVE_STATES,
    MESSAGE_ROLES,
    PRIORITY_WEIGHTS,
    QUEUED,
    REASONS,
    RETURNED,
    REVEALABLE_FIELDS,
    STATES,
    WRAP_UP_CODES,
    add_lines,
    add_message,
    caller_backlog,
    current,
    agents_on_duty,
    callbacks,
    cancel,
    claim,
    close,
    compute_priority,
    conversation_topic,
    heartbeat,
    held_by,
    holder,
    queue,
    release,
    request,
    request_callback,
    reveal,
    sign_off,
    staff_topic,
    ticket,
    transcript,
    transfer,
    typing_event,
)

__all__ = [
    "AGENTS_TOPIC", "BACKLOG_LINES", "CALLBACK", "CLOSED", "CONNECTED", "LIVE_STATES", "MESSAGE_ROLES", "PRIORITY_WEIGHTS", "QUEUED",
    "REASONS", "RETURNED", "REVEALABLE_FIELDS", "STATES", "WRAP_UP_CODES",
    "AgentUnavailable", "AlreadyClaimed", "CapacityReached", "HandoffError", "InvalidInput", "InvalidState",
    "NotAllowed", "NotFound", "NotHolder", "Outcome",
    "add_lines", "add_message", "caller_backlog", "current", "agents_on_duty", "callbacks", "cancel", "claim", "close", "compute_priority",
    "conversation_topic", "heartbeat", "held_by", "holder", "perform", "publish", "queue", "release", "request",
    "request_callback", "reveal", "sign_off", "staff_topic", "ticket", "transcript", "transfer", "typing_event",
]
