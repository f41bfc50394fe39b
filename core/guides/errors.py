"""Errors of the guide store. Each has a stable `code` and a Chinese `message`; no HTTP here
(connectors/editor/api.py maps them to status codes)."""
from __future__ import annotations

from core.errors import DomainError


class GuideStoreError(DomainError):
    code = "guide_error"


class GuideNotFound(GuideStoreError):
    """No such guide, version, draft or queue entry."""

    code = "not_found"


class InvalidGuide(GuideStoreError):
    """The guide does not pass the schema; `detail["errors"]` = [{"field", "message"}]."""

    code = "invalid_guide"


class InvalidState(GuideStoreError):
    """Not possible now (e.g. publishing a draft that was not submitted for review)."""

    code = "invalid_state"


class NotAllowed(GuideStoreError):
    """The staff member's role does not allow this (e.g. an editor publishing without the reviewer right)."""

    code = "not_allowed"


class InvalidInput(GuideStoreError):
    """A value was refused (dates, version numbers, file contents)."""

    code = "invalid_input"
