"""Row scoping: what a caller may see and change, declared once per type and applied in
the statements themselves.

`ROW_SCOPES` says, for every type a client can fetch by id, which rows each caller may
read, as a SQL condition over the type's table. Every by-id read derives from it: the
by-id loaders behind `node(id:)`, every to-one relation field and every by-id argument
(resolvers/loaders.py), the single-statement read path's relations
(engine/sql/), and the root lists and nested lists (their builders). A type
without a declaration is visible to nobody but staff, and a test walks the schema to
make sure every fetchable type is declared (tests/test_tenant_walk.py).

Staff read everything (API keys: admins all, others their own); sales change only what
it owns. A partner reads its own account and what belongs to it; where it may read a
row it does not own, the declaration says why. Another partner's rows are not found,
not forbidden, so a partner cannot even learn that they exist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import case, exists, false, null, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement, False_, True_

from crm.auth import Principal, Role
from kernel.errors import not_found
from models import (
    Activity, ApiKey, Channel, ChannelSpend, Contact, Customer, CustomerMerge, DealRegistration, Event, FeePayment,
    Membership,
    Opportunity, OpportunityStageChange, Order, OrderLine, OrderReturn, Product, Programme, RuleVersion, Segment,
    TierOverride, TrainingBooking, User, WebhookDelivery, WebhookEndpoint,
)
from resolvers.errors import ApiError, ErrorCode

# (the type's columns, the partner's account, the partner's user) -> condition
PartnerRule = Callable[[Any, int, int | None], ColumnElement[bool]]


@dataclass(frozen=True)
class RowScope:
    """Who reads which rows of one type. `partner`: the rows a partner reads (None: none);
    `staff`: a condition for staff other than admins (None: every row); `shared`: where a
    partner reads rows it does not own, what the product means by it (the schema's
    descriptions say the same)."""

    model: Any
    partner: PartnerRule | None = None
    staff: Callable[[Any, Principal], ColumnElement[bool]] | None = None
    shared: str = ""


def _membership_of(account: int) -> Any:
    return select(Membership.id).where(Membership.account_id == account)


def _order_of(account: int) -> Any:
    return select(Order.id).where(Order.customer_id == account)


def _customer_visible(c: Any, account: int, user: int | None) -> ColumnElement[bool]:
    return or_(
        c.id == account,
        c.referring_partner_id == account,
        exists().where(Opportunity.customer_id == c.id, Opportunity.registering_partner_id == account),
        exists().where(DealRegistration.customer_id == c.id, DealRegistration.partner_id == account),
    )


_OWNED_BY_MEMBERSHIP: PartnerRule = lambda c, account, user: c.membership_id.in_(_membership_of(account))  # noqa: E731
_EVERY_ROW: PartnerRule = lambda c, account, user: true()  # noqa: E731

ROW_SCOPES: dict[str, RowScope] = {
    "Customer": RowScope(Customer, _customer_visible, shared=(
        "A partner reads its own account, the customers it referred, and the customers of the deals it registered or "
        "holds a registration on; of these, relations to other partners and to staff (referring partner, owner, "
        "source channel, ...) read as null.")),
    "Opportunity": RowScope(Opportunity, lambda c, account, user: c.registering_partner_id == account),
    "OpportunityStageChange": RowScope(OpportunityStageChange, lambda c, account, user: c.opportunity_id.in_(
        select(Opportunity.id).where(Opportunity.registering_partner_id == account))),
    "Order": RowScope(Order, lambda c, account, user: c.customer_id == account),
    "OrderLine": RowScope(OrderLine, lambda c, account, user: c.order_id.in_(_order_of(account))),
    "OrderReturn": RowScope(OrderReturn, lambda c, account, user: c.order_id.in_(_order_of(account))),
    "Membership": RowScope(Membership, lambda c, account, user: c.account_id == account),
    # The events that concern the account (events.outbox.Emission.account_id; docs/events.md).
    "Event": RowScope(Event, lambda c, account, user: c.account_id == account),
    # A partner's own endpoints and their deliveries; staff other than admins read none (admins every one).
    "WebhookEndpoint": RowScope(WebhookEndpoint, lambda c, account, user: c.account_id == account,
                                staff=lambda c, principal: false()),
    "WebhookDelivery": RowScope(WebhookDelivery, lambda c, account, user: c.endpoint_id.in_(
        select(WebhookEndpoint.id).where(WebhookEndpoint.account_id == account)), staff=lambda c, principal: false()),
    "FeePayment": RowScope(FeePayment, _OWNED_BY_MEMBERSHIP),
    "TrainingBooking": RowScope(TrainingBooking, _OWNED_BY_MEMBERSHIP),
    "TierOverride": RowScope(TierOverride, _OWNED_BY_MEMBERSHIP),
    "Product": RowScope(Product, _EVERY_ROW, shared="The catalogue: every partner reads every product."),
    "Programme": RowScope(Programme, _EVERY_ROW, shared="Grade programmes and their rules are public to partners."),
    "RuleVersion": RowScope(RuleVersion, _EVERY_ROW, shared="Grade programmes and their rules are public to partners."),
    "User": RowScope(User, lambda c, account, user: c.id == (user if user is not None else -1)),
    "ApiKey": RowScope(ApiKey, lambda c, account, user: c.user_id == (user if user is not None else -1),
                       staff=lambda c, principal: c.user_id == (principal.user_id if principal.user_id is not None else -1)),
    # Staff only: a partner reads none of these.
    "Activity": RowScope(Activity),
    "Channel": RowScope(Channel),
    "ChannelSpend": RowScope(ChannelSpend),
    "Contact": RowScope(Contact),
    "CustomerMerge": RowScope(CustomerMerge),
    "Segment": RowScope(Segment),
}


def partner_account(principal: Principal | None) -> int | None:
    """The account a partner acts for; None for staff."""
    if principal is None or principal.role != Role.PARTNER:
        return None
    return principal.account_id if principal.account_id is not None else -1


def row_scope(type_name: str, principal: Principal | None, columns: Any = None) -> ColumnElement[bool]:
    """The rows of `type_name` the caller may read, as a condition over `columns` (the
    type's table, or an alias of it)."""
    scope = ROW_SCOPES[type_name]
    c = scope.model.__table__.c if columns is None else columns
    if principal is None:
        return false()
    if principal.role != Role.PARTNER:
        if scope.staff is None or principal.role == Role.ADMIN:
            return true()
        return scope.staff(c, principal)
    if scope.partner is None:
        return false()
    return scope.partner(c, partner_account(principal), principal.user_id)


def row_visible(type_name: str, principal: Principal | None, row: Any) -> bool:
    """The same declaration as `row_scope`, applied to a row in memory (the live events'
    hub has the rows already): the rule is given the row for its columns, so a rule that
    compares the row's own attributes answers True or False. A rule that needs SQL (a
    subquery) cannot be answered here, and says so rather than guess."""
    try:
        verdict = row_scope(type_name, principal, columns=row)
    except AttributeError:  # e.g. `.in_()` of a subquery, asked of a plain value
        verdict = None
    if isinstance(verdict, bool):
        return verdict
    if isinstance(verdict, (True_, False_)):
        return isinstance(verdict, True_)
    raise TypeError(f"the row scope of {type_name} needs SQL; it cannot be applied to a row in memory")


def visible_reference(column: Any, type_name: str, principal: Principal | None) -> Any:
    """A foreign key as the caller sees the relation: NULL where the row it names is out
    of the caller's scope (the relation field reads null there too)."""
    if partner_account(principal) is None:
        return column
    # An alias: the relation may point at the list's own table (a customer's referrer).
    target = ROW_SCOPES[type_name].model.__table__.alias(f"visible_{type_name.lower()}")
    return case((exists().where(target.c.id == column, row_scope(type_name, principal, target.c)), column), else_=null())


def visible_filter_fields(fields: dict[str, Any], id_types: dict[str, str], principal: Principal | None) -> dict[str, Any]:
    """A list's filter fields with each relation's key as the caller sees it, so a
    partner cannot find out by filtering (`owner: {eq: ...}`, `referringPartner:
    {isNull: false}`) what the relation field hides from it."""
    if partner_account(principal) is None:
        return fields
    out = dict(fields)
    for name, type_name in id_types.items():
        if name != "id" and name in fields:
            out[name] = replace(fields[name], column=visible_reference(fields[name].column, type_name, principal))
    return out


def customers_scope(principal: Principal) -> Any:
    """The `customers` lists: the customers a partner may read, its own account left out
    (it is the partner, not one of its customers)."""
    account = partner_account(principal)
    if account is None:
        return true()
    return row_scope("Customer", principal) & (Customer.id != account)


def customer_visible_scope(principal: Principal) -> Any:
    return row_scope("Customer", principal)


def opportunities_scope(principal: Principal) -> Any:
    return row_scope("Opportunity", principal)


def orders_scope(principal: Principal) -> Any:
    return row_scope("Order", principal)


def own_account_only(principal: Principal, account_id: int) -> bool:
    account = partner_account(principal)
    return account is None or account == account_id


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


async def readable(session: AsyncSession, principal: Principal | None, type_name: str, pk: int | None) -> bool:
    """Whether the caller may read row `pk` of `type_name` (False for a missing row too,
    so a by-id argument answers a foreign id as it answers an unknown one)."""
    if pk is None:
        return False
    model = ROW_SCOPES[type_name].model
    statement = select(model.id).where(model.id == pk, row_scope(type_name, principal))
    return (await session.execute(statement)).first() is not None


async def require_readable(session: AsyncSession, principal: Principal | None, type_name: str, pk: int | None,
                           field: str, what: str) -> None:
    """NOT_FOUND, worded as for a missing row, when a by-id input names a row the caller
    may not read: a foreign id and an unknown one get the same answer."""
    if pk is not None and not await readable(session, principal, type_name, pk):
        raise not_found(field, what)


async def require_own_membership(session: AsyncSession, principal: Principal, membership_id: int | None = None,
                                 booking_id: int | None = None) -> bool:
    """False (so the caller answers NOT_FOUND) when a partner reaches another membership;
    staff pass (the domain call reports a missing row)."""
    if partner_account(principal) is None:
        return True
    if booking_id is not None:
        return await readable(session, principal, "TrainingBooking", booking_id)
    return await readable(session, principal, "Membership", membership_id)
