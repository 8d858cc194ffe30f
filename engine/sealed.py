"""Secrets kept sealed at rest (数据保密性, 密评 GB/T 39786): SM4 (GB/T 32907) in GCM mode, under
the installation's data key, which is kept outside the database: `DUBAN_DATA_KEY` (32 hex
digits), or the file `DUBAN_DATA_KEY_FILE` names, or else a key made once into the instance
folder (`instance/data_key`, for one host and the demo). Every host of a cluster needs the same
key; a database copied without its key keeps its sealed secrets unreadable.

Sealed text is `sm4gcm:` + base64url(nonce ‖ ciphertext ‖ tag). Each value is bound to what it
belongs to (its `context`, for instance `second_factor:42`): a sealed value copied onto another
row does not open there.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .errors import Misconfigured

PREFIX = "sm4gcm:"
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_SETTING, KEY_FILE_SETTING = "DUBAN_DATA_KEY", "DUBAN_DATA_KEY_FILE"


class Unopened(Exception):
    """A sealed value that does not open with this key (another key, another row, or changed)."""


class Sealer:
    def __init__(self, key: bytes):
        if len(key) != 16:
            raise ValueError("an SM4 key is 16 bytes")
        self._key = key

    @property
    def fingerprint(self) -> str:
        """Names the key without giving it away (a backup records it; a restore compares)."""
        return hashlib.sha256(b"duban data key\0" + self._key).hexdigest()[:16]

    def seal(self, plain: str, context: str) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        encryptor = Cipher(algorithms.SM4(self._key), modes.GCM(nonce)).encryptor()
        encryptor.authenticate_additional_data(context.encode())
        body = encryptor.update(plain.encode()) + encryptor.finalize()
        return PREFIX + base64.urlsafe_b64encode(nonce + body + encryptor.tag).decode()

    def open(self, sealed: str, context: str) -> str:
        if not sealed.startswith(PREFIX):
            raise Unopened("the value is not sealed")
        try:
            raw = base64.urlsafe_b64decode(sealed[len(PREFIX):].encode())
        except (binascii.Error, ValueError):
            raise Unopened("the sealed value is damaged") from None
        if len(raw) < NONCE_BYTES + TAG_BYTES:
            raise Unopened("the sealed value is damaged")
        nonce, body, tag = raw[:NONCE_BYTES], raw[NONCE_BYTES:-TAG_BYTES], raw[-TAG_BYTES:]
        decryptor = Cipher(algorithms.SM4(self._key), modes.GCM(nonce, tag)).decryptor()
        decryptor.authenticate_additional_data(context.encode())
        try:
            return (decryptor.update(body) + decryptor.finalize()).decode()
        except InvalidTag:
            raise Unopened("the sealed value does not open with this installation's data key") from None


def load_key(instance_path: Path) -> bytes:
    """The data key from the environment, or the instance folder's (made once when neither
    setting is given). A key given but unusable stops the start, naming the setting: a new key
    made in its place would leave every sealed secret unreadable."""
    text = (os.environ.get(KEY_SETTING) or "").strip()
    named = (os.environ.get(KEY_FILE_SETTING) or "").strip()
    if text:
        return _parse(text, KEY_SETTING)
    if named:
        path = Path(named)
        try:
            return _parse(path.read_text().strip(), KEY_FILE_SETTING)
        except OSError as error:
            raise Misconfigured(f"{KEY_FILE_SETTING}={named!r} cannot be read: {error.strerror}",
                                {KEY_FILE_SETTING: ["cannot be read"]}) from None
    path = instance_path / "data_key"
    if not path.exists():
        _make_once(path)
    return _parse(path.read_text().strip(), str(path))


def _make_once(path: Path) -> None:
    """Write a new key whole, then link it into place: of processes starting together, one
    key wins and every one reads it complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(16) + "\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
    finally:
        draft.unlink()


def _parse(text: str, where: str) -> bytes:
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != 16:
        raise Misconfigured(f"{where} must hold the data key as 32 hexadecimal digits (128 bits)",
                            {where: ["not 32 hexadecimal digits"]})
    return key
