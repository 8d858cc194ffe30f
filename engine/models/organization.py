"""Regions, units, officials and their posts, and the users who sign in."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, str_enum


class RegionLevel(enum.StrEnum):
    CITY = "city"          # 市
    COUNTY = "county"      # 县/区
    TOWNSHIP = "township"  # 乡镇


class UnitKind(enum.StrEnum):
    PARTY_COMMITTEE = "party_committee"  # 党委
    GOVERNMENT = "government"            # 政府
    DEPARTMENT = "department"            # 部门
    OFFICE = "office"                    # 环督办
    DISCIPLINE = "discipline"            # 纪委监委
    OTHER = "other"


class PostKind(enum.StrEnum):
    PARTY = "party"            # 党委 / 党组
    GOVERNMENT = "government"  # 政府
    DEPARTMENT = "department"  # 部门行政


class Role(enum.StrEnum):
    ADMIN = "admin"            # 环督办, and the system administrator (系统管理员) of 三员分立
    DISCIPLINE = "discipline"  # 纪委监委
    OFFICIAL = "official"
    LEADER = "leader"
    SECURITY_ADMIN = "security_admin"  # 安全管理员 (三员分立)
    AUDIT_ADMIN = "audit_admin"        # 审计管理员 (三员分立): reads the security log, nothing else


# 三员分立: the three administrators check each other, so no account holds two of them
SEPARATED_ADMINS = (Role.ADMIN, Role.SECURITY_ADMIN, Role.AUDIT_ADMIN)
# the roles only the security administrator grants and revokes: the administrators' and the
# discipline office's, which reads every case and decides accountability
GRANTED_BY_SECURITY_ADMIN = (*SEPARATED_ADMINS, Role.DISCIPLINE)


class Region(Base):
    __tablename__ = "region"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    level: Mapped[RegionLevel] = mapped_column(str_enum(RegionLevel, 16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"), index=True)

    parent: Mapped["Region | None"] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list["Region"]] = relationship(back_populates="parent")
    units: Mapped[list["Unit"]] = relationship(back_populates="region")

    def lineage(self) -> list["Region"]:
        """This region and its ancestors, nearest first."""
        chain, region = [], self
        while region is not None:
            chain.append(region)
            region = region.parent
        return chain


class Unit(Base):
    __tablename__ = "unit"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    short_name: Mapped[str | None] = mapped_column(String(40))
    kind: Mapped[UnitKind] = mapped_column(str_enum(UnitKind, 24))
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)

    region: Mapped[Region] = relationship(back_populates="units")
    posts: Mapped[list["Post"]] = relationship(back_populates="unit")


class Official(Base):
    __tablename__ = "official"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), index=True)
    gender: Mapped[str | None] = mapped_column(String(4))
    party_member: Mapped[bool] = mapped_column(Boolean, default=False)
    email: Mapped[str | None] = mapped_column(String(200))   # for notices (通知)
    mobile: Mapped[str | None] = mapped_column(String(20))   # for SMS through the webhook
    # 工号: links the official to the account the identity platform (LDAP, OIDC) signs in
    employee_number: Mapped[str | None] = mapped_column(String(40), unique=True)

    posts: Mapped[list["Post"]] = relationship(back_populates="official")
    user: Mapped["User | None"] = relationship(back_populates="official")


class Post(Base):
    """An official's post in a unit; the head posts mark the Party and government heads."""

    __tablename__ = "post"
    __table_args__ = (UniqueConstraint("official_id", "unit_id", "title"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    official_id: Mapped[int] = mapped_column(ForeignKey("official.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    title: Mapped[str] = mapped_column(String(60))
    kind: Mapped[PostKind] = mapped_column(str_enum(PostKind, 16))
    is_head: Mapped[bool] = mapped_column(Boolean, default=False)

    official: Mapped[Official] = relationship(back_populates="posts")
    unit: Mapped[Unit] = relationship(back_populates="posts")


class User(Base):
    __tablename__ = "user_account"
    __table_args__ = (UniqueConstraint("origin", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(60), unique=True)
    display_name: Mapped[str] = mapped_column(String(60))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    official_id: Mapped[int | None] = mapped_column(ForeignKey("official.id"), unique=True)
    # bumped to end every page session (sign-out, new password, deactivation) and every API
    # token (new password, deactivation) issued before; see engine/sign_in.py
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    token_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # where the account signs in: "local" (its password here) or the identity platform ("ldap",
    # "oidc") under `external_id` (engine/external_accounts.py); `directory_refused_at` marks
    # an account the platform disabled, which its next good sign-in there enables again
    origin: Mapped[str] = mapped_column(String(10), default="local", server_default="local")
    external_id: Mapped[str | None] = mapped_column(String(255))
    directory_refused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # when the directory last vouched for the account (a sign-in there, or the re-check an API
    # token of it makes when this is older than ldap.toml's recheck_minutes; engine/areas/directory.py)
    directory_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # when the password was last set (its age, for the policy's expiry; None: not recorded, as
    # for accounts seeded with a shared hash) and whether its owner must change it first (an
    # administrator set it); see engine/passwords.py
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())

    official: Mapped[Official | None] = relationship(back_populates="user")
    role_rows: Mapped[list["UserRole"]] = relationship(cascade="all, delete-orphan", lazy="selectin")

    @property
    def roles(self) -> set[Role]:
        return {row.role for row in self.role_rows}

    def has_role(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def reads_everything(self) -> bool:
        return self.has_role(Role.ADMIN, Role.DISCIPLINE)

    def unit_ids(self) -> set[int]:
        return {post.unit_id for post in self.official.posts} if self.official else set()


class UserRole(Base):
    __tablename__ = "user_role"

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[Role] = mapped_column(str_enum(Role, 16), primary_key=True)
