"""The base of the domain errors (core/handoff, core/guides, core/ratings): a stable `code`, a Chinese `message`
for the person at the other end, and `detail` (extra facts such as the field or state). No HTTP here: each
connector maps its domain's errors to status codes and API error codes (e.g. connectors/agent/api.py)."""
from __future__ import annotations


class DomainError(Exception):
    code = "domain_error"

    def __init__(self, message: str, **detail: object) -> None:
        self.message = message
        self.detail = detail
        super().__init__(message)
