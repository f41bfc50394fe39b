"""All settings come from environment variables; docs/CONFIG.md lists them with defaults."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from knowledge.settings import knowledge_settings

ROOT = Path(__file__).resolve().parent.parent
HOTLINE = "12345"  # the number callers are told to dial for a person, on every channel


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _int(name: str, default: int) -> int:
    try:
        return int(_env(name, str(default)))
    except ValueError as exc:
        raise ValueError(f"environment variable {name} must be an integer") from exc


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=lambda: Path(_env("HOTLINE_DATA_DIR", str(ROOT / "var"))))
    host: str = field(default_factory=lambda: _env("HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: _int("PORT", 8000))
    rasa_url: str = field(default_factory=lambda: _env("RASA_URL", "http://127.0.0.1:5005"))
    actions_url: str = field(default_factory=lambda: _env("ACTIONS_URL", "http://127.0.0.1:5055"))
    database_url: str = field(default_factory=lambda: _env("DATABASE_URL", ""))
    knowledge_dir: Path = field(default_factory=lambda: knowledge_settings().knowledge_dir)
    index_dir: Path = field(default_factory=lambda: knowledge_settings().index_dir)
    embedding_model: str = field(default_factory=lambda: knowledge_settings().embedding_model)
    public_url: str = field(default_factory=lambda: _env("PUBLIC_URL", ""))
    max_message_chars: int = field(default_factory=lambda: _int("MAX_MESSAGE_CHARS", 2000))
    rate_limit_per_minute: int = field(default_factory=lambda: _int("RATE_LIMIT_PER_MINUTE", 30))
    rasa_timeout_seconds: int = field(default_factory=lambda: _int("RASA_TIMEOUT_SECONDS", 20))
    admin_token: str = field(default_factory=lambda: _env("ADMIN_TOKEN", ""))
    cors_origins: list[str] = field(default_factory=lambda: [o.strip() for o in _env("CORS_ORIGINS", "*").split(",")])
    # staff accounts (core/staff): sessions, login lockout, cookies of the browser consoles
    staff_session_hours: int = field(default_factory=lambda: max(1, _int("STAFF_SESSION_HOURS", 12)))
    staff_lock_max_failures: int = field(default_factory=lambda: max(1, _int("STAFF_LOCK_MAX_FAILURES", 5)))
    staff_lock_minutes: int = field(default_factory=lambda: max(1, _int("STAFF_LOCK_MINUTES", 15)))
    staff_login_per_minute: int = field(default_factory=lambda: max(1, _int("STAFF_LOGIN_PER_MINUTE", 20)))
    staff_cookie_secure: str = field(default_factory=lambda: _env("STAFF_COOKIE_SECURE", "auto").lower())
    # live events between processes (core/events.py): empty = in-process, redis://127.0.0.1:6379/0 = Redis
    event_bus_url: str = field(default_factory=lambda: _env("EVENT_BUS_URL", ""))
    # human handoff (core/handoff): queue, agent capacity, honest waiting estimates
    handoff_max_per_agent: int = field(default_factory=lambda: max(1, _int("HANDOFF_MAX_PER_AGENT", 3)))
    handoff_max_wait_seconds: int = field(default_factory=lambda: max(0, _int("HANDOFF_MAX_WAIT_SECONDS", 300)))
    handoff_on_duty_seconds: int = field(default_factory=lambda: max(5, _int("HANDOFF_ON_DUTY_SECONDS", 60)))
    handoff_default_handle_seconds: int = field(
        default_factory=lambda: max(1, _int("HANDOFF_DEFAULT_HANDLE_SECONDS", 240)))

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'hotline.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings
