"""Configuration from environment variables, read once per process.

Every variable, its default and its meaning is listed in README.md ("Configuration").
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class SettingsError(ValueError):
    """A configuration variable has a value the service cannot use."""


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no, on/off)")


def _int(name: str, default: int, minimum: int, maximum: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an integer") from None
    if not minimum <= value <= maximum:
        raise SettingsError(f"{name}={value} is outside {minimum}..{maximum}")
    return value


def _memory(name: str, default: str) -> str:
    """A PostgreSQL memory size such as 64MB, checked here so a typo fails at start-up
    with the variable's name rather than on the first database connection."""
    raw = (os.environ.get(name) or default).strip()
    if not re.fullmatch(r"[1-9][0-9]*(kB|MB|GB)", raw):
        raise SettingsError(f"{name}={raw!r} is not a PostgreSQL memory size (e.g. 32MB, 1GB)")
    return raw


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    # None means: boot the embedded PostgreSQL in `data_dir` and use it.
    database_url: str | None = None
    data_dir: Path = PROJECT_ROOT / ".data"
    log_level: str = "info"
    # Demo mode: migrate on start, load demo data once, GraphiQL on, demo login printed.
    demo: bool = False
    graphiql: bool = False
    migrate_on_start: bool = False
    secret_key: str | None = field(default=None, repr=False)
    db_pool_size: int = 20
    db_max_overflow: int = 10
    db_work_mem: str = "32MB"
    introspection: bool = True
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 1_048_576
    max_depth: int = 15
    max_aliases: int = 50
    max_cost: int = 25_000
    max_tokens: int = 10_000
    deal_exclusivity_days: int = 90
    # tier.at_risk (tiers.risk): the days before a period's end, and the share of the
    # retention threshold (in percent) below which a member is told.
    risk_days: int = 30
    risk_share_percent: int = 100
    compiled_queries: bool = True
    # Webhooks (events.delivery.DeliveryPolicy; docs/webhooks.md). The server delivers
    # in-process when `webhook_deliver` (default: on in demo mode, off otherwise: run
    # `crm worker` processes); private addresses are refused unless allowed.
    webhook_deliver: bool = False
    webhook_allow_private: bool = False
    webhook_backoff_base_ms: int = 30_000
    webhook_backoff_cap_seconds: int = 21_600
    webhook_max_attempts: int = 12
    webhook_disable_after: int = 30
    webhook_timeout_ms: int = 10_000
    webhook_lease_seconds: int = 120
    webhook_poll_ms: int = 5_000
    webhook_rotation_grace_hours: int = 24
    # Subscriptions (events/live.py): the hub's safety-net poll, and how many events a
    # subscriber may fall behind before it is closed (4413).
    events_poll_seconds: int = 2
    subscription_queue: int = 1000

    @classmethod
    def from_env(cls, *, demo: bool | None = None) -> Settings:
        demo = _bool("CRM_DEMO", False) if demo is None else demo
        log_level = os.environ.get("CRM_LOG_LEVEL", "info").strip().lower()
        if log_level not in {"debug", "info", "warning", "error"}:
            raise SettingsError(f"CRM_LOG_LEVEL={log_level!r} is not one of debug, info, warning, error")
        data_dir = Path(os.environ.get("CRM_DATA_DIR") or PROJECT_ROOT / ".data").resolve()
        return cls(
            host=os.environ.get("CRM_HOST", "127.0.0.1"),
            port=_int("CRM_PORT", 8000, 0, 65535),
            workers=_int("CRM_WORKERS", 1, 1, 64),
            database_url=os.environ.get("DATABASE_URL") or None,
            data_dir=data_dir,
            log_level=log_level,
            demo=demo,
            graphiql=_bool("CRM_GRAPHIQL", demo),
            migrate_on_start=_bool("CRM_MIGRATE_ON_START", demo),
            secret_key=os.environ.get("CRM_SECRET_KEY") or None,
            db_pool_size=_int("CRM_DB_POOL_SIZE", 20, 1, 200),
            db_max_overflow=_int("CRM_DB_MAX_OVERFLOW", 10, 0, 200),
            db_work_mem=_memory("CRM_DB_WORK_MEM", "32MB"),
            introspection=_bool("CRM_INTROSPECTION", demo),
            cors_origins=tuple(o.strip() for o in os.environ.get("CRM_CORS_ORIGINS", "").split(",") if o.strip()),
            max_body_bytes=_int("CRM_MAX_BODY_BYTES", 1_048_576, 1024, 100 * 1_048_576),
            max_depth=_int("CRM_MAX_DEPTH", 15, 2, 100),
            max_aliases=_int("CRM_MAX_ALIASES", 50, 0, 10_000),
            max_cost=_int("CRM_MAX_COST", 25_000, 10, 10_000_000),
            max_tokens=_int("CRM_MAX_TOKENS", 10_000, 100, 1_000_000),
            deal_exclusivity_days=_int("CRM_DEAL_EXCLUSIVITY_DAYS", 90, 1, 3650),
            risk_days=_int("CRM_RISK_DAYS", 30, 0, 366),
            risk_share_percent=_int("CRM_RISK_SHARE_PERCENT", 100, 1, 1000),
            compiled_queries=_bool("CRM_COMPILED_QUERIES", True),
            webhook_deliver=_bool("CRM_WEBHOOK_DELIVER", demo),
            webhook_allow_private=_bool("CRM_WEBHOOK_ALLOW_PRIVATE", demo),
            webhook_backoff_base_ms=_int("CRM_WEBHOOK_BACKOFF_BASE_MS", 30_000, 1, 3_600_000),
            webhook_backoff_cap_seconds=_int("CRM_WEBHOOK_BACKOFF_CAP_SECONDS", 21_600, 1, 7 * 86_400),
            webhook_max_attempts=_int("CRM_WEBHOOK_MAX_ATTEMPTS", 12, 1, 100),
            webhook_disable_after=_int("CRM_WEBHOOK_DISABLE_AFTER", 30, 1, 10_000),
            webhook_timeout_ms=_int("CRM_WEBHOOK_TIMEOUT_MS", 10_000, 100, 120_000),
            webhook_lease_seconds=_int("CRM_WEBHOOK_LEASE_SECONDS", 120, 1, 3600),
            webhook_poll_ms=_int("CRM_WEBHOOK_POLL_MS", 5_000, 10, 600_000),
            webhook_rotation_grace_hours=_int("CRM_WEBHOOK_ROTATION_GRACE_HOURS", 24, 0, 24 * 30),
            events_poll_seconds=_int("CRM_EVENTS_POLL_SECONDS", 2, 1, 3600),
            subscription_queue=_int("CRM_SUBSCRIPTION_QUEUE", 1000, 1, 1_000_000),
        )
