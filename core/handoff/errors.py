"""Domain errors of human handoff. Each has a stable `code` (for the gateway to map to a status) and a Chinese
`message` for the person at the other end (caller or agent). No HTTP here."""
from __future__ import annotations

from core.errors import DomainError


class HandoffError(DomainError):
    code = "handoff_error"


class NotFound(HandoffError):
    """No such conversation (or staff account, or nothing live for this sender)."""

    code = "not_found"


class NotAllowed(HandoffError):
    """The staff member's role (or the agent access rule) does not allow this."""

    code = "not_allowed"


class AlreadyClaimed(HandoffError):
    """Another agent already holds the conversation (409-like); `detail["holder"]` is their display name."""

    code = "already_claimed"


class NotHolder(HandoffError):
    """Only the agent holding the conversation (or a supervisor) may do this."""

    code = "not_holder"


class CapacityReached(HandoffError):
    """The agent already holds HANDOFF_MAX_PER_AGENT live conversations; `detail["limit"]`."""

    code = "capacity_reached"


class InvalidState(HandoffError):
    """Not possible in the conversation's current state; `detail["state"]`."""

    code = "invalid_state"


class InvalidInput(HandoffError):
    """A value was refused (phone number, wrap-up code, empty text, ...); `detail["field"]`."""

    code = "invalid_input"


class AgentUnavailable(HandoffError):
    """The transfer target is not an active agent on duty."""

    code = "agent_unavailable"
