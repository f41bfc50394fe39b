"""Domain errors of ratings (好差评), follow-ups (回访) and appeals (申诉复核). Each has a stable `code` and a
Chinese `message`; the gateway maps them to HTTP answers (no HTTP here)."""
from __future__ import annotations

from core.errors import DomainError


class RatingError(DomainError):
    code = "rating_error"


class InvalidRating(RatingError):
    """A value was refused (`detail["field"]`: level, tags, comment, number, sender, findings ...)."""

    code = "invalid_input"


class AlreadyRated(RatingError):
    """This conversation, application or ticket was rated already (one rating each, ever)."""

    code = "already_rated"


class SubjectNotFound(RatingError):
    """No conversation for this sender, or no application / ticket with this number for this sender."""

    code = "not_found"


class NotFound(RatingError):
    """No such rating, follow-up or appeal."""

    code = "not_found"


class InvalidState(RatingError):
    """Not possible in the follow-up's or appeal's state now (`detail["state"]`)."""

    code = "invalid_state"


class NotAllowed(RatingError):
    """The staff account may not do this (a disabled account, not a supervisor, or deciding one's own appeal)."""

    code = "not_allowed"
