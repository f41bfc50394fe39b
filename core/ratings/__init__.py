"""好差评 ratings on every channel, their follow-ups (回访) and appeals (申诉复核). No HTTP here.

    service.py  invite (rating_request), rate (one per conversation and per 办件 / ticket), attribution,
                follow-ups of bad ratings with working-day deadlines, appeals decided by a second supervisor,
                guides_with_inaccuracy_ratings (guides rated 办事指南不准确 / 答案不准确, for the guide editors)
    errors.py   RatingError and its subclasses, each with a `code` and a Chinese `message`

Subjects: `conversation:<sender>`, `application:<number>`, `ticket:<number>`; one rating and at most one
invitation per subject. Levels are the national five: 5 非常满意, 4 满意, 3 基本满意, 2 不满意, 1 非常不满意;
1 and 2 are 差评 and open a follow-up due RATING_FOLLOWUP_WORKING_DAYS working days later (core/workdays.py).
"""
from core.ratings.errors import (
    AlreadyRated,
    InvalidRating,
    InvalidState,
    NotAllowed,
    NotFound,
    RatingError,
    SubjectNotFound,
)
from core.ratings.service import (
    APPEAL_REASONS,
    BAD_LEVELS,
    CALLER_RESPONSES,
    END_TRIGGERS,
    INACCURACY_TAGS,
    LEVELS,
    TAGS,
    call_back,
    close_followup,
    decide_appeal,
    file_appeal,
    followup_view,
    followups,
    guides_with_inaccuracy_ratings,
    invite,
    list_appeals,
    list_ratings,
    parse_rate_payload,
    rate,
    rating_request_message,
)

__all__ = [
    "APPEAL_REASONS", "BAD_LEVELS", "CALLER_RESPONSES", "END_TRIGGERS", "INACCURACY_TAGS", "LEVELS", "TAGS",
    "AlreadyRated", "InvalidRating", "InvalidState", "NotAllowed", "NotFound", "RatingError", "SubjectNotFound",
    "call_back", "close_followup", "decide_appeal", "file_appeal", "followup_view", "followups",
    "guides_with_inaccuracy_ratings", "invite", "list_appeals", "list_ratings", "parse_rate_payload", "rate",
    "rating_request_message",
]
