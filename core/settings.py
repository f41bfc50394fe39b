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


def _fraction(name: str, default: float) -> float:
    """A number from 0 to 1 (thresholds)."""
    try:
        value = float(_env(name, str(default)))
    except ValueError as exc:
        raise ValueError(f"environment variable {name} must be a number from 0 to 1") from exc
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"environment variable {name} must be a number from 0 to 1")
    return value


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
    # privacy and abuse (core/senders.py, core/tracker_privacy.py, connectors/gateway/ratelimit.py)
    sender_secret: str = field(default_factory=lambda: _env("SENDER_SECRET", ""))
    rate_limit_per_client_per_minute: int = field(
        default_factory=lambda: max(1, _int("RATE_LIMIT_PER_CLIENT_PER_MINUTE", 300)))
    # scale-out (scripts/cluster.py): empty = windows in process memory, redis://... = shared by every gateway
    rate_limit_redis_url: str = field(default_factory=lambda: _env("RATE_LIMIT_REDIS_URL", ""))
    tracker_db_url: str = field(default_factory=lambda: _env("TRACKER_DB_URL", ""))
    tracker_mask_after_hours: int = field(default_factory=lambda: max(1, _int("TRACKER_MASK_AFTER_HOURS", 24)))
    tracker_retention_days: int = field(default_factory=lambda: max(0, _int("TRACKER_RETENTION_DAYS", 30)))
    tracker_retention_interval_minutes: int = field(
        default_factory=lambda: max(0, _int("TRACKER_RETENTION_INTERVAL_MINUTES", 60)))
    # tickets (core/tickets): reply deadline in working days per appeal type, duplicate window in days
    ticket_reply_days: str = field(default_factory=lambda: _env(
        "TICKET_REPLY_DAYS", "咨询=3,求助=2,投诉=5,举报=5,建议=10,urgent=1"))
    ticket_duplicate_days: int = field(default_factory=lambda: max(1, _int("TICKET_DUPLICATE_DAYS", 30)))
    # ticket classification (core/tickets/classifier.py) and routing to departments (core/tickets/routing.py)
    routing_file: Path = field(default_factory=lambda: Path(
        _env("ROUTING_FILE", str(ROOT / "core" / "tickets" / "data" / "routing.yaml"))))
    ticket_manual_threshold: float = field(default_factory=lambda: _fraction("TICKET_MANUAL_THRESHOLD", 0.6))
    # ticket desk (core/tickets/desk.py): hot-issue window; a city's 12345 工单 platform (core/tickets/platforms.py)
    ticket_hot_days: int = field(default_factory=lambda: min(90, max(1, _int("TICKET_HOT_DAYS", 7))))
    ticket_platform_url: str = field(default_factory=lambda: _env("TICKET_PLATFORM_URL", "").rstrip("/"))
    ticket_platform_token: str = field(default_factory=lambda: _env("TICKET_PLATFORM_TOKEN", ""))
    ticket_platform_timeout: float = field(
        default_factory=lambda: max(0.1, float(_int("TICKET_PLATFORM_TIMEOUT_MS", 5000)) / 1000))
    ticket_platform_retries: int = field(default_factory=lambda: min(5, max(0, _int("TICKET_PLATFORM_RETRIES", 2))))
    # guide editor (core/guides): who may publish, how fast every process follows a publish
    guide_self_publish: bool = field(
        default_factory=lambda: _env("GUIDE_SELF_PUBLISH", "0").lower() in ("1", "true", "yes", "on"))
    guide_poll_seconds: float = field(default_factory=lambda: max(0.5, float(_int("GUIDE_POLL_MS", 1000)) / 1000))
    guide_expiring_days: int = field(default_factory=lambda: max(1, _int("GUIDE_EXPIRING_DAYS", 30)))
    # ratings and dashboard (core/ratings, core/conversation_events.py, core/metrics)
    rating_followup_working_days: int = field(
        default_factory=lambda: max(1, _int("RATING_FOLLOWUP_WORKING_DAYS", 5)))
    ratings_per_minute: int = field(default_factory=lambda: max(1, _int("RATINGS_PER_MINUTE", 10)))

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'hotline.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings
