"""Users: argon2 password hashes and signed, expiring bearer tokens."""
from __future__ import annotations

from typing import Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import Unauthenticated
from .models import Role, User, UserRole

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


_dummy_hash: str | None = None


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches the hash. Without a hash (no such account) the same
    argon2 work is done against a dummy hash and the answer is False, so that the time taken
    does not tell whether the account exists."""
    global _dummy_hash
    if password_hash is None:
        if _dummy_hash is None:
            _dummy_hash = _hasher.hash("no account has this password")
        _safe_verify(_dummy_hash, password)
        return False
    return _safe_verify(password_hash, password)


def _safe_verify(password_hash: str, password: str) -> bool:
    try:  # bytes: a lone surrogate in the password is just a wrong password, not a 500
        return _hasher.verify(password_hash, password.encode("utf-8", "surrogatepass"))
    except (VerificationError, InvalidHashError):
        return False


def check_password(user: User, password: str) -> bool:
    return verify_password(user.password_hash, password)


def create_user(session: Session, username: str, display_name: str, password: str | None, roles: set[Role],
                official_id: int | None = None, password_hash: str | None = None) -> User:
    """A new account; pass `password_hash` to reuse one hash for many accounts (demo, tests)."""
    user = User(username=username, display_name=display_name,
                password_hash=password_hash or hash_password(password),
                official_id=official_id, role_rows=[UserRole(role=r) for r in sorted(roles)])
    session.add(user)
    session.flush()
    return user


class Tokens:
    """Bearer tokens, signed, carrying the account's `token_epoch`. `may_use(user_id, epoch)`
    is asked on every use: a token of an account that was deactivated (or removed), or whose
    password changed, since it was issued stops working at once."""

    def __init__(self, secret: str, max_age: int, may_use: Callable[[int, int], bool] | None = None):
        self._signer = URLSafeTimedSerializer(secret, salt="duban-api-token")
        self.max_age = max_age
        self._may_use = may_use

    def issue(self, user: User) -> str:
        return self._signer.dumps({"uid": user.id, "te": getattr(user, "token_epoch", None) or 0})

    def user_id(self, token: str) -> int:
        try:
            claims = self._signer.loads(token, max_age=self.max_age)
            user_id, epoch = int(claims["uid"]), int(claims.get("te", 0))
        except SignatureExpired:
            raise Unauthenticated("the token has expired; sign in again") from None
        except (BadSignature, KeyError, TypeError, ValueError, AttributeError):
            raise Unauthenticated("the token is not valid") from None
        if self._may_use is not None and not self._may_use(user_id, epoch):
            raise Unauthenticated("this token was revoked (the account is disabled or its password changed); sign in again")
        return user_id


def authenticate(session: Session, username: str, password: str) -> User:
    """Without lockout (see engine/sign_in.py for the guarded way in)."""
    user = session.scalars(select(User).where(User.username == username)).first()
    if not verify_password(user.password_hash if user is not None else None, password) or not user.active:
        raise Unauthenticated("wrong username or password")
    return user
