"""The digest that chains the ledger and the security log: SHA-256, or SM3 (GB/T 32905, the
commercial cryptography an office assessed under 密评 / GB/T 39786 is asked for), chosen once
when the database is set up (`DUBAN_CHAIN_DIGEST` at its first `duban db upgrade`) and kept in
it (table `chain_setting`), so that every entry of an installation is hashed alike and `duban
audit verify` checks whichever it is. A database whose chains already hold entries keeps
SHA-256: switching would break them."""
from __future__ import annotations

import hashlib
from typing import Callable

from sqlalchemy import text
from sqlalchemy.orm import Session

NAMES = ("sha256", "sm3")
DEFAULT = "sha256"


def check(name: str) -> str:
    """The digest name if this machine can compute it; a clear refusal naming the setting if not."""
    if name not in NAMES:
        raise ValueError(f"DUBAN_CHAIN_DIGEST must be one of {', '.join(NAMES)}, not {name!r}")
    hasher(name)(b"")
    return name


def hasher(name: str) -> Callable[[bytes], str]:
    """hex digest of bytes under `name`."""
    if name == "sha256":
        return lambda data: hashlib.sha256(data).hexdigest()
    if name == "sm3":
        try:
            hashlib.new("sm3")
        except ValueError:
            raise ValueError("DUBAN_CHAIN_DIGEST=sm3, but this machine's OpenSSL has no SM3 "
                             "(OpenSSL 1.1.1 or 3.x with its default provider has it)") from None
        return lambda data: hashlib.new("sm3", data).hexdigest()
    raise ValueError(f"no chain digest {name!r}")


def of(session: Session) -> str:
    """The installation's chain digest (SHA-256 for a database set up before the choice existed),
    read once per engine.db.Database (its sessions carry it in `info`), else at each call."""
    database = session.info.get("database")
    known = getattr(database, "chain_digest", None)
    if known is not None:
        return known
    value = session.execute(text("SELECT value FROM chain_setting WHERE name = 'digest'")
                            .execution_options(autoflush=False)).scalar() or DEFAULT
    if database is not None:
        database.chain_digest = value
    return value


def digest(session: Session, data: bytes) -> str:
    return hasher(of(session))(data)


