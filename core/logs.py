"""Safe log lines for every process of the assistant (gateway, action server, Rasa).

`install()` makes every log record of the process safe, whoever configured the handlers (uvicorn, Sanic,
Rasa's structlog, a library) and whenever: the record factory gives each record a message that is

- masked: ID numbers, phone numbers and introduced names (core.privacy.mask_text), however typed;
- escaped: control characters (C0, DEL, C1, line and paragraph separators, bidirectional overrides) are
  written as visible escapes (\\n, \\r, \\x00, \\u2028 ...), so text from a caller can never start a
  new log line or hide part of one. A traceback keeps its lines, but each of them starts with "| ",
  so no line of it can pass for a log line of its own.

This module must import under Rasa's Python 3.10 too: the standard library and core.privacy only.
"""
from __future__ import annotations

import logging
import re
import traceback
from typing import Any

from core.privacy import mask_text

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
CONTINUATION = "| "
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_controls(text: str) -> str:
    """Control characters as visible escapes; everything else unchanged."""
    return _UNSAFE.sub(_escape_one, text)


def _escape_one(match: "re.Match[str]") -> str:
    ch = match.group(0)
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(text: Any) -> str:
    """One log message: personal data masked, control characters escaped."""
    return escape_controls(mask_text(text if isinstance(text, str) else str(text)))


def safe_block(text: str) -> str:
    """A multi-line block (traceback, stack) written after a log line: masked, lines kept, each one marked."""
    return "\n".join(CONTINUATION + escape_controls(line) for line in mask_text(text).split("\n"))


class SafeLogRecord(logging.LogRecord):
    """A LogRecord whose message, exception text and stack are safe to write (see the module docstring)."""

    def getMessage(self) -> str:  # noqa: N802 - the logging API's name
        try:
            message = super().getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not hide the message
            message = f"{self.msg!s} {self.args!r}"
        return safe_text(message)

    # Formatters cache the formatted traceback in `exc_text` and add `stack_info` as they are: both pass here.
    @property
    def exc_text(self) -> str | None:
        if self.__dict__.get("_exc_text") is None and self.exc_info and self.exc_info[0] is not None:
            self.__dict__["_exc_text"] = safe_block("".join(traceback.format_exception(*self.exc_info)).rstrip("\n"))
        return self.__dict__.get("_exc_text")

    @exc_text.setter
    def exc_text(self, value: str | None) -> None:
        self.__dict__["_exc_text"] = None if value is None else safe_block(value)

    @property
    def stack_info(self) -> str | None:
        return self.__dict__.get("_stack_info")

    @stack_info.setter
    def stack_info(self, value: str | None) -> None:
        self.__dict__["_stack_info"] = None if value is None else safe_block(value)


def _factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    return SafeLogRecord(*args, **kwargs)


def install() -> None:
    """Every log record created from now on in this process is safe (idempotent)."""
    logging.setLogRecordFactory(_factory)


def setup(level: int = logging.INFO) -> None:
    """install() plus a plain root handler (for processes that configure no logging of their own)."""
    install()
    logging.basicConfig(level=level, format=FORMAT)


def safe_value(value: Any) -> Any:
    """A structured log value (Rasa's structlog event dicts) with every string made safe, recursively."""
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, dict):
        return {k: safe_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [safe_value(v) for v in value]
    return value
