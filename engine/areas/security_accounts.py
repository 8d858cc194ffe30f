"""The security administrator's (安全管理员) accounts: every account with its roles, origin,
lockout and second factor, to grant and revoke roles, unlock and reset a lost second factor
(三员分立: the system administrator keeps the accounts, the security administrator decides who
holds which role; the audit administrator reads what both did in the security log).

A part of the Duban facade (engine/service.py): each method one action, one transaction."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from .. import second_factor
from .. import sign_in as guarded_sign_in
from ..models import Role, User


@dataclass(frozen=True)
class AccountView:
    id: int
    username: str
    display_name: str
    roles: list[str]
    active: bool
    origin: str
    official: str | None
    locked_until: datetime | None
    second_factor: bool


class SecurityAccountActions:
    def security_accounts(self, user_id: int, search: str | None, page: int, per_page: int
                          ) -> tuple[list[AccountView], int]:
        """One page of the accounts (by user name; `search`: a part of the name or display name)
        as the security administrator sees them."""
        with self.db.reading() as session:
            if self.actor(session, user_id).has_role(Role.SECURITY_ADMIN):
                statement = select(User)
                if search and search.strip():
                    text = search.strip()
                    statement = statement.where(or_(User.username.contains(text, autoescape=True),
                                                    User.display_name.contains(text, autoescape=True)))
                total = session.scalar(select(func.count()).select_from(statement.subquery()))
                # a page in four queries, whatever its size: the accounts with their roles and
                # officials, their lockouts, their second factors
                users = list(session.scalars(statement.order_by(User.username)
                                             .options(selectinload(User.role_rows), selectinload(User.official))
                                             .offset((page - 1) * per_page).limit(per_page)))
                locked = guarded_sign_in.locked_until(session, users)
                enrolled = second_factor.enrolled_among(session, [u.id for u in users])
                return [_view(u, locked, enrolled) for u in users], total
        self.deny(user_id, "list the accounts for the security administrator", "user", None)


def account_view(session, user_id: int) -> AccountView:
    """One account as the security administrator sees it (the answer of a change to it)."""
    user = session.get(User, user_id)
    return _view(user, guarded_sign_in.locked_until(session, [user]), second_factor.enrolled_among(session, [user.id]))


def _view(user: User, locked: dict[int, datetime], enrolled: set[int]) -> AccountView:
    return AccountView(user.id, user.username, user.display_name,
                       [r.value for r in sorted(user.roles, key=list(Role).index)], user.active, user.origin,
                       user.official.name if user.official else None, locked.get(user.id),
                       user.id in enrolled)
