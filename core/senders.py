"""Conversation ownership: a sender id is issued with a token only its client knows.

The gateway issues every conversation id (`new_sender`) together with `token_for(sender)`, an HMAC of the id
under a server secret. A client proves on every request that the conversation is its own by sending the
token back; another client that guesses or reuses the id cannot compute it. Nothing is stored per
conversation, so every gateway process that shares the secret accepts the token.

The secret is SENDER_SECRET (set the same value on every gateway host when there are several), else a
random one kept in `$HOTLINE_DATA_DIR/sender_secret` (created on first use, readable by the service
account only; gateway processes sharing the data folder share it). Changing the secret ends every
conversation's ownership: clients then start new conversations.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from functools import lru_cache
from pathlib import Path

from core.settings import get_settings

SECRET_FILE = "sender_secret"
TOKEN_PATTERN = r"^[A-Za-z0-9_\-]{16,128}$"
_TOKEN = re.compile(TOKEN_PATTERN)


@lru_cache(maxsize=4)
def _secret_for(configured: str, data_dir: str) -> bytes:
    if configured:
        return configured.encode("utf-8")
    path = Path(data_dir) / SECRET_FILE
    if not path.exists():  # written whole under another name, then linked: a reader never sees half a secret
        tmp = path.with_name(f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process was first: use its secret
        finally:
            tmp.unlink()
    value = path.read_text(encoding="ascii").strip()
    if len(value) < 32:
        raise RuntimeError(f"{path} is damaged (too short): delete it to start new conversation secrets")
    return value.encode("ascii")


def _secret() -> bytes:
    settings = get_settings()
    return _secret_for(settings.sender_secret, str(settings.data_dir))


def token_for(sender: str) -> str:
    """The token that proves ownership of `sender` (32 URL-safe characters, 192 bits)."""
    digest = hmac.new(_secret(), b"hotline-sender\x00" + sender.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode("ascii")


def new_sender(prefix: str = "web") -> tuple[str, str]:
    """A fresh conversation id and its token."""
    sender = f"{prefix}-{secrets.token_hex(16)}"
    return sender, token_for(sender)


def owns(sender: str | None, token: str | None) -> bool:
    """True when `token` is the one issued with `sender` (constant-time comparison)."""
    if not sender or not token or not _TOKEN.match(token):
        return False
    return hmac.compare_digest(token_for(sender), token)


def conversation_key(sender: str) -> str:
    """A stable, keyed stand-in for a sender id where the id itself must not be kept (the dashboard's conversation
    events, core/conversation_events.py; a voice sender carries the caller's number): 24 hex digits."""
    return hmac.new(_secret(), b"hotline-conversation\x00" + sender.encode("utf-8"), hashlib.sha256).hexdigest()[:24]


def client_tag(address: str) -> str:
    """A stable, keyed stand-in for a client address (for lock keys kept in conversations and the database)."""
    digest = hmac.new(_secret(), b"hotline-client\x00" + address.encode("utf-8"), hashlib.sha256).digest()
    return "client:" + base64.urlsafe_b64encode(digest[:12]).decode("ascii")
