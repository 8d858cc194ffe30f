"""Where Duban keeps its data and reads its configuration, from the environment."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BPMN_DIR = ROOT / "bpmn"
CONFIG_DIR = ROOT / "config"


@dataclass(frozen=True)
class Settings:
    database_url: str
    instance_path: Path
    secret_key: str
    token_max_age: int = 12 * 3600

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
