"""Where Duban keeps its data and reads its configuration, from the environment."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BPMN_DIR = ROOT / "bpmn"
CONFIG_DIR = ROOT / "config"


@dataclass(frozen=True)
class NotificationSettings:
    """Where notices go besides the in-app list: SMTP for email, a webhook for SMS or WeCom
    gateways. Unset host or URL switches that channel off."""

    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    mail_from: str = "duban@localhost"
    webhook_url: str | None = None
    webhook_secret: str | None = None

    @property
    def email_enabled(self) -> bool:
        return bool(self.smtp_host)

    @property
    def webhook_enabled(self) -> bool:
        return bool(self.webhook_url)

    @classmethod
    def from_env(cls) -> "NotificationSettings":
        env = os.environ.get
        return cls(smtp_host=env("DUBAN_SMTP_HOST") or None, smtp_port=int(env("DUBAN_SMTP_PORT") or 25),
                   smtp_user=env("DUBAN_SMTP_USER") or None, smtp_password=env("DUBAN_SMTP_PASSWORD") or None,
                   smtp_starttls=(env("DUBAN_SMTP_STARTTLS") or "").strip().lower() in ("1", "true", "yes", "on"),
                   mail_from=env("DUBAN_MAIL_FROM") or "duban@localhost",
                   webhook_url=env("DUBAN_WEBHOOK_URL") or None, webhook_secret=env("DUBAN_WEBHOOK_SECRET") or None)


@dataclass(frozen=True)
class SignInSettings:
    """How signing in is guarded (engine/sign_in.py): a page session lasts a working day at
    most and ends after a long idle spell; a user name is locked for a while after repeated
    failures, counted on the engine's clock."""

    session_hours: float = 10
    idle_minutes: float = 120
    lockout_failures: int = 5
    lockout_minutes: float = 15

    @classmethod
    def from_env(cls) -> "SignInSettings":
        env = os.environ.get
        return cls(session_hours=float(env("DUBAN_SESSION_HOURS") or 10),
                   idle_minutes=float(env("DUBAN_SESSION_IDLE_MINUTES") or 120),
                   lockout_failures=int(env("DUBAN_LOCKOUT_FAILURES") or 5),
                   lockout_minutes=float(env("DUBAN_LOCKOUT_MINUTES") or 15))


@dataclass(frozen=True)
class Settings:
    database_url: str
    instance_path: Path
    secret_key: str
    token_max_age: int = 12 * 3600
    notifications: NotificationSettings = field(default_factory=NotificationSettings.from_env)
    sign_in: SignInSettings = field(default_factory=SignInSettings.from_env)

    @property
    def evidence_path(self) -> Path:
        return self.instance_path / "evidence"

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        instance = Path(overrides.pop("instance_path", None) or os.environ.get("DUBAN_INSTANCE_PATH") or ROOT / "instance")
        instance.mkdir(parents=True, exist_ok=True)
        url = overrides.pop("database_url", None) or os.environ.get("DUBAN_DATABASE_URL") or f"sqlite:///{instance / 'duban.db'}"
        secret = overrides.pop("secret_key", None) or os.environ.get("DUBAN_SECRET_KEY") or _instance_secret(instance)
        return cls(database_url=url, instance_path=instance, secret_key=secret, **overrides)


def _instance_secret(instance: Path) -> str:
    """A secret made once per instance folder, so that tokens survive a restart."""
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()
