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


def check_password(user: User, password: str) -> bool:
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


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
    """Bearer tokens. `may_use(user_id)` is asked on every use: a token of an account that was
    deactivated (or removed) since it was issued stops working at once."""

    def __init__(self, secret: str, max_age: int, may_use: Callable[[int], bool] | None = None):
        self._signer = URLSafeTimedSerializer(secret, salt="duban-api-token")
        self.max_age = max_age
        self._may_use = may_use

    def issue(self, user: User) -> str:
        return self._signer.dumps({"uid": user.id})

    def user_id(self, token: str) -> int:
        try:
            user_id = int(self._signer.loads(token, max_age=self.max_age)["uid"])
        except SignatureExpired:
            raise Unauthenticated("the token has expired; sign in again") from None
        except (BadSignature, KeyError, TypeError, ValueError):
            raise Unauthenticated("the token is not valid") from None
        if self._may_use is not None and not self._may_use(user_id):
            raise Unauthenticated("this account no longer exists or is disabled")
        return user_id


def authenticate(session: Session, username: str, password: str) -> User:
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None or not user.active or not check_password(user, password):
        raise Unauthenticated("wrong username or password")
    return user
