"""Users as owners and actors. Credentials and login arrive with issue [4/6]."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.errors import Code, DomainError, domain_codes
from kernel.filtering import FilterField
from kernel.pagination import build_ordering
from kernel.references import ensure_unique, get_row, live_partner
from kernel.validation import Checker
from models import User, UserRole

UserErrorCode = domain_codes("UserErrorCode", "duplicate", "not_a_partner")


def _clean(values: Mapping[str, Any]) -> dict[str, Any]:
    check = Checker()
    clean: dict[str, Any] = {}
    for name, value in values.items():
        if name == "email":
            clean[name] = check.email("email", value)
            if clean[name] is None:
                check.fail("email", "A user needs an email address.", Code.REQUIRED)
        elif name == "name":
            clean[name] = check.text("name", value, max_len=200, required=True)
        elif name == "role":
            clean[name] = check.choice("role", value, UserRole)
        elif name == "active":
            clean[name] = check.flag("active", value)
        else:
            clean[name] = value
    check.done()
    return clean


async def _check(session: AsyncSession, user_id: int | None, values: Mapping[str, Any], current: User | None) -> None:
    role = values.get("role", current.role if current else None)
    account = values.get("partner_account_id", current.partner_account_id if current else None)
    if role == UserRole.PARTNER:
        if account is None:
            raise DomainError.one("partner_account_id", "A partner user needs its partner account.", Code.REQUIRED)
        await live_partner(session, account, "partner_account_id")
    elif account is not None:
        raise DomainError.one("partner_account_id", "Only partner users belong to a partner account.", Code.INVALID)
    if "email" in values:
        await ensure_unique(session, User, func.lower(User.email), values["email"], user_id, field="email",
                            message="Another user has this email address.", code=UserErrorCode.DUPLICATE)


async def create_user(session: AsyncSession, *, email: str, name: str, role: UserRole,
                      partner_account_id: int | None = None) -> User:
    values = _clean({"email": email, "name": name, "role": role, "partner_account_id": partner_account_id})
    await _check(session, None, values, None)
    user = User(**values)
    session.add(user)
    await session.flush()
    return user


async def update_user(session: AsyncSession, user_id: int, changes: Mapping[str, Any]) -> User:
    user = await get_row(session, User, user_id, lock=True)
    if user is None:
        raise DomainError.one("id", "No user has this ID.", Code.NOT_FOUND)
    values = _clean(changes)
    await _check(session, user_id, values, user)
    for name, value in values.items():
        setattr(user, name, value)
    await session.flush()
    return user


FILTER_FIELDS = {
    "role": FilterField(User.role, "enum"),
    "active": FilterField(User.active, "bool"),
    "partner_account": FilterField(User.partner_account_id, "id"),  # ix_app_user_partner_account_id
    "email": FilterField(User.email, "text"),  # uq_app_user_email serves eq on lower-case input
}
# Users are listed by id only: the table holds staff and partner logins (hundreds, not millions).
USER_ORDERING = build_ordering({}, [], User.id)


def users_statement(condition: Any = None) -> Select:
    return select(User).where(condition) if condition is not None else select(User)
