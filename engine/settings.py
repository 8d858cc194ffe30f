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
class ScriptLimits:
    """What one script task may use in its worker process (engine/workflow/sandbox/): CPU
    seconds, memory, the size of the data it leaves (JSON), and how many workers run at once."""

    cpu_seconds: float = 2.0
    memory_mb: int = 256
    data_bytes: int = 1_000_000
    workers: int = 2

    @property
    def wall_seconds(self) -> float:
        """How long the server waits for a script before it kills the worker."""
        return self.cpu_seconds + max(1.0, self.cpu_seconds)

    @classmethod
    def from_env(cls) -> "ScriptLimits":
        env = os.environ.get
        return cls(cpu_seconds=float(env("DUBAN_SCRIPT_CPU_SECONDS") or 2.0),
                   memory_mb=int(env("DUBAN_SCRIPT_MEMORY_MB") or 256),
                   data_bytes=int(env("DUBAN_SCRIPT_DATA_BYTES") or 1_000_000),
                   workers=int(env("DUBAN_SCRIPT_WORKERS") or 2))


@dataclass(frozen=True)
class ImportLimits:
    """Bounds of an uploaded workbook (导入台账), checked before and while it is read:
    `DUBAN_IMPORT_MAX_UPLOAD_MB`, `_INFLATED_MB` (all members together), `_MEMBER_MB` (one
    member), `_RATIO` (inflated / compressed, for a member over 1 MiB), `_MEMBERS`, `_ROWS`
    and `_COLUMNS` (of a sheet, counted as it is read). And how long a confirmed import
    holds the database's write lock at a time: `DUBAN_IMPORT_BATCH_SECONDS` (a batch of rows
    commits once it has run that long; see engine/excel/batches.py)."""

    upload_bytes: int = 20 * 1024 * 1024
    inflated_bytes: int = 100 * 1024 * 1024
    member_bytes: int = 50 * 1024 * 1024
    ratio: int = 100
    members: int = 1000
    rows: int = 20_000
    columns: int = 200
    batch_seconds: float = 0.5

    @classmethod
    def from_env(cls) -> "ImportLimits":
        def number(name: str, default: int, scale: int = 1) -> int:
            text = (os.environ.get(f"DUBAN_IMPORT_MAX_{name}") or "").strip()
            if not text:
                return default
            if not text.isdigit() or int(text) < 1:
                raise ValueError(f"DUBAN_IMPORT_MAX_{name} must be a whole number above 0, not {text!r}")
            return int(text) * scale

        def seconds(name: str, default: float) -> float:
            text = (os.environ.get(name) or "").strip()
            if not text:
                return default
            try:
                value = float(text)
            except ValueError:
                value = -1.0
            if not 0 < value <= 60:
                raise ValueError(f"{name} must be a number of seconds above 0 and at most 60, not {text!r}")
            return value

        mib = 1024 * 1024
        return cls(upload_bytes=number("UPLOAD_MB", cls.upload_bytes, mib),
                   inflated_bytes=number("INFLATED_MB", cls.inflated_bytes, mib),
                   member_bytes=number("MEMBER_MB", cls.member_bytes, mib),
                   ratio=number("RATIO", cls.ratio), members=number("MEMBERS", cls.members),
                   rows=number("ROWS", cls.rows), columns=number("COLUMNS", cls.columns),
                   batch_seconds=seconds("DUBAN_IMPORT_BATCH_SECONDS", cls.batch_seconds))


@dataclass(frozen=True)
class SignInSettings:
    """How signing in is guarded (engine/sign_in.py): a page session lasts a working day at
    most and ends after a long idle spell; a user name is locked for a while after repeated
    failures, counted on the engine's clock. `idle_minutes` is the idle time a database starts
    with; the security administrator's session policy (engine/session_policy.py) sets it after."""

    session_hours: float = 10
    idle_minutes: float = 30
    lockout_failures: int = 5
    lockout_minutes: float = 15

    @classmethod
    def from_env(cls) -> "SignInSettings":
        env = os.environ.get
        return cls(session_hours=float(env("DUBAN_SESSION_HOURS") or 10),
                   idle_minutes=float(env("DUBAN_SESSION_IDLE_MINUTES") or 30),
                   lockout_failures=int(env("DUBAN_LOCKOUT_FAILURES") or 5),
                   lockout_minutes=float(env("DUBAN_LOCKOUT_MINUTES") or 15))


@dataclass(frozen=True)
class Settings:
    database_url: str
    instance_path: Path
    secret_key: str
    token_max_age: int = 12 * 3600
    notifications: NotificationSettings = field(default_factory=NotificationSettings.from_env)
    # automatic retries of incidents (engine/incidents.py): DUBAN_INCIDENT_RETRY_MINUTES, _MAX_MINUTES
    incident_backoff: "Backoff" = field(default_factory=lambda: _backoff())
    scripts: ScriptLimits = field(default_factory=ScriptLimits.from_env)
    imports: ImportLimits = field(default_factory=ImportLimits.from_env)
    evidence_types: Path = CONFIG_DIR / "evidence.toml"
    sign_in: SignInSettings = field(default_factory=SignInSettings.from_env)
    # the database holds the demo city (DUBAN_DEMO=1, set by `make run`): the sign-in page lists
    # the demo accounts with what waits for each. Never set it where real people sign in.
    demo: bool = field(default_factory=lambda: os.environ.get("DUBAN_DEMO", "").strip() == "1")
    # the scheduler's lease (engine/scheduling/lease.py): a standby leads within about this long
    # (plus its retry, 2 s) after the leader dies, freezes or loses the database
    lease_seconds: float = field(default_factory=lambda: float(os.environ.get("DUBAN_SCHEDULER_LEASE_SECONDS") or 10))
    # worker processes that fire a backlog of due timers beside the leading scheduler, on
    # PostgreSQL (engine/timer_workers.py); 0: the scheduler's own process fires them all
    timer_workers: int = field(default_factory=lambda: _count("DUBAN_TIMER_WORKERS", 2, most=8))
    # where evidence and pending ledger sheets are kept (engine/file_store.py): "directory"
    # (under files_path: DUBAN_FILES_PATH, the instance folder when unset) or "database"
    file_store: str = field(default_factory=lambda: (os.environ.get("DUBAN_FILE_STORE") or "directory").strip())
    files_path: Path | None = field(default_factory=lambda: Path(os.environ["DUBAN_FILES_PATH"])
                                    if os.environ.get("DUBAN_FILES_PATH") else None)

    # the office's LDAP / Active Directory (统一身份认证): DUBAN_LDAP_CONFIG names its ldap.toml
    # (engine/directory.py, config/ldap.example.toml); unset, every account is local
    ldap_config: Path | None = field(default_factory=lambda: Path(os.environ["DUBAN_LDAP_CONFIG"].strip())
                                     if (os.environ.get("DUBAN_LDAP_CONFIG") or "").strip() else None)

    # the security log keeps its events this many days, never fewer than 180 (engine/security_log.py)
    security_log_days: int = field(default_factory=lambda: max(int(os.environ.get("DUBAN_SECURITY_LOG_DAYS") or 180),
                                                               180))

    @property
    def files_root(self) -> Path:
        return self.files_path or self.instance_path

    @property
    def evidence_path(self) -> Path:
        """Where the directory store keeps evidence."""
        return self.files_root / "evidence"

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        instance = Path(overrides.pop("instance_path", None) or os.environ.get("DUBAN_INSTANCE_PATH") or ROOT / "instance")
        instance.mkdir(parents=True, exist_ok=True)
        url = overrides.pop("database_url", None) or os.environ.get("DUBAN_DATABASE_URL") or f"sqlite:///{instance / 'duban.db'}"
        secret = overrides.pop("secret_key", None) or os.environ.get("DUBAN_SECRET_KEY") or _instance_secret(instance)
        return cls(database_url=url, instance_path=instance, secret_key=secret, **overrides)


def _count(name: str, default: int, most: int) -> int:
    text = (os.environ.get(name) or "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) > most:
        raise ValueError(f"{name} must be a whole number from 0 to {most}, not {text!r}")
    return int(text)


def _backoff():
    from .incidents import Backoff

    return Backoff.from_env()


def _instance_secret(instance: Path) -> str:
    """A secret made once per instance folder, so that tokens survive a restart."""
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()
