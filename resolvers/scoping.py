"""Row scoping: what a caller may see and change, applied in the statements themselves.

Staff read everything; sales change only what it owns. A partner sees its own account,
the customers it referred, the deals it registered, its own orders and membership, and
nothing else: another partner's rows are not found, not forbidden, so a partner cannot
even learn that they exist.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from crm.auth import Principal, Role
from models import (
    Activity, Contact, Customer, Membership, Opportunity, Order, TrainingBooking,
)
from resolvers.errors import ApiError, ErrorCode


def partner_account(principal: Principal | None) -> int | None:
    """The account a partner acts for; None for staff."""
    if principal is None or principal.role != Role.PARTNER:
        return None
    return principal.account_id if principal.account_id is not None else -1


def customers_scope(principal: Principal) -> Any:
    account = partner_account(principal)
    return true() if account is None else Customer.referring_partner_id == account


def customer_visible_scope(principal: Principal) -> Any:
    account = partner_account(principal)
    return true() if account is None else or_(Customer.id == account, Customer.referring_partner_id == account)


def opportunities_scope(principal: Principal) -> Any:
    account = partner_account(principal)
    return true() if account is None else Opportunity.registering_partner_id == account


def orders_scope(principal: Principal) -> Any:
    account = partner_account(principal)
    return true() if account is None else Order.customer_id == account


def own_account_only(principal: Principal, account_id: int) -> bool:
    account = partner_account(principal)
    return account is None or account == account_id


def visible(principal: Principal, type_name: str, row: Any) -> bool:
    """Whether `node(id:)` shows this row to the caller."""
    account = partner_account(principal)
    if account is None:
        return type_name != "ApiKey" or principal.role == Role.ADMIN or row.user_id == principal.user_id
    rules = {
        "Customer": lambda r: account in (r.id, r.referring_partner_id),
        "Opportunity": lambda r: r.registering_partner_id == account,
        "Order": lambda r: r.customer_id == account,
        "Membership": lambda r: r.account_id == account,
        "Product": lambda r: True,
        "Programme": lambda r: True,
        "RuleVersion": lambda r: True,
        "User": lambda r: r.id == principal.user_id,
        "ApiKey": lambda r: r.user_id == principal.user_id,
    }
    rule = rules.get(type_name)
    return bool(rule and rule(row))


def forbidden(message: str = "This is not yours to change.") -> ApiError:
    return ApiError(ErrorCode.FORBIDDEN, message)


async def require_owner(session: AsyncSession, principal: Principal, kind: str, pk: int) -> None:
    """Sales may change only what it owns: its customers (and their contacts and orders),
    its deals, the activities it logged. Other roles pass; a missing row is left to the
    domain call to report."""
    if principal.role != Role.SALES:
        return
    owner = {
        "customer": select(Customer.owner_id).where(Customer.id == pk),
        "contact": select(Customer.owner_id).join(Contact, Contact.customer_id == Customer.id).where(Contact.id == pk),
        "opportunity": select(Opportunity.owner_id).where(Opportunity.id == pk),
        "activity": select(Activity.user_id).where(Activity.id == pk),
    }[kind]
    result = (await session.execute(owner)).first()
    if result is not None and result[0] != principal.user_id:
        raise forbidden(f"Sales may change only what it owns (this {kind} is someone else's).")


async def require_own_membership(session: AsyncSession, principal: Principal, membership_id: int | None = None,
                                 booking_id: int | None = None) -> bool:
    """False (so the caller answers NOT_FOUND) when a partner reaches another membership."""
    account = partner_account(principal)
    if account is None:
        return True
    if booking_id is not None:
        membership_id = (await session.execute(select(TrainingBooking.membership_id).where(TrainingBooking.id == booking_id))).scalar_one_or_none()
    owner = (await session.execute(select(Membership.account_id).where(Membership.id == membership_id))).scalar_one_or_none()
    return owner == account

