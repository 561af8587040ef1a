"""Customers: validation, duplicates, create/update/archive/restore, merge, lists, timeline."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, and_, func, literal, not_, select, union_all, update
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from crm.archiving import archive, restore
from events.customers import CustomerMerged
from events.outbox import emit
from kernel.errors import Code, DomainError, FieldError, domain_codes
from kernel.filtering import FilterField
from kernel.pagination import BIGINT_KEY, TEXT_KEY, TIME_KEY, Ordering, Sortable, SortKey, build_ordering
from kernel.references import active_user, get_row, live, live_channel, live_partner, lock_key, snapshot
from kernel.validation import Checker
from models import (
    Activity,
    Contact,
    Customer,
    CustomerClassification,
    CustomerKind,
    CustomerMerge,
    LifecycleStage,
    Membership,
    Opportunity,
    OpportunityStageChange,
    Order,
    User,
)

CustomerErrorCode = domain_codes("CustomerErrorCode", "duplicate", "not_a_partner", "merge_into_self", "merged",
                                 "membership_conflict")

NAME_MAX = 200
TAX_ID_MAX = 40


@dataclass
class CustomerData:
    """What a client may set on a customer. For an update only the keys it sends change."""

    name: str
    kind: CustomerKind = CustomerKind.ORGANISATION
    classification: CustomerClassification = CustomerClassification.POTENTIAL
    lifecycle_stage: LifecycleStage = LifecycleStage.LEAD
    email: str | None = None
    phone: str | None = None
    tax_id: str | None = None
    tags: list[str] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)
    owner_id: int | None = None
    source_channel_id: int | None = None
    referring_partner_id: int | None = None
    email_opt_out: bool = False
    phone_opt_out: bool = False
    sms_opt_out: bool = False
    do_not_contact: bool = False


FIELDS = tuple(CustomerData.__dataclass_fields__)


def _clean(values: Mapping[str, Any]) -> dict[str, Any]:
    """Checks and normalises the given fields; raises DomainError with every problem."""
    check = Checker()
    clean: dict[str, Any] = {}
    for name, value in values.items():
        if name == "name":
            clean[name] = check.text("name", value, max_len=NAME_MAX, required=True, label="name")
        elif name == "email":
            clean[name] = check.email("email", value)
        elif name == "phone":
            clean[name] = check.phone("phone", value)
        elif name == "tax_id":
            clean[name] = check.text("tax_id", value, max_len=TAX_ID_MAX, label="tax ID")
        elif name == "tags":
            clean[name] = check.tags("tags", value)
        elif name == "attributes":
            clean[name] = check.attributes("attributes", value)
        elif name == "kind":
            clean[name] = check.choice(name, value, CustomerKind)
        elif name == "classification":
            clean[name] = check.choice(name, value, CustomerClassification)
        elif name == "lifecycle_stage":
            clean[name] = check.choice(name, value, LifecycleStage)
        elif name in ("email_opt_out", "phone_opt_out", "sms_opt_out", "do_not_contact"):
            clean[name] = check.flag(name, value)
        else:
            clean[name] = value
    check.done()
    return clean


async def _check_references(session: AsyncSession, values: Mapping[str, Any], customer_id: int | None) -> None:
    if values.get("owner_id") is not None:
        await active_user(session, values["owner_id"], "owner_id")
    if values.get("source_channel_id") is not None:
        await live_channel(session, values["source_channel_id"], "source_channel_id")
    if values.get("referring_partner_id") is not None:
        if values["referring_partner_id"] == customer_id:
            raise DomainError.one("referring_partner_id", "A customer cannot refer itself.", Code.INVALID)
        await live_partner(session, values["referring_partner_id"], "referring_partner_id")


async def _check_duplicates(session: AsyncSession, values: Mapping[str, Any], customer_id: int | None) -> None:
    """DUPLICATE naming the existing customer when email, phone or tax ID (normalised)
    match a live customer other than this one."""
    probes = []
    if values.get("email"):
        probes.append(("email", Customer.email == values["email"]))
    if values.get("phone"):
        probes.append(("phone", Customer.phone_key == func.nullif(func.regexp_replace(values["phone"], "[^0-9]", "", "g"), "")))
    if values.get("tax_id"):
        key = func.nullif(func.upper(func.regexp_replace(values["tax_id"], r"[\s./-]", "", "g")), "")
        probes.append(("tax_id", Customer.tax_id_key == key))
    # Two requests creating the same customer at once would each find no duplicate.
    for field_name in sorted(name for name, _ in probes):
        await lock_key(session, f"customer.{field_name}", _normal(field_name, values[field_name]))
    errors = []
    for field_name, condition in probes:
        statement = select(Customer.id, Customer.name).where(condition, Customer.archived_at.is_(None))
        if customer_id is not None:
            statement = statement.where(Customer.id != customer_id)
        match = (await session.execute(statement.order_by(Customer.id).limit(1))).first()
        if match:
            errors.append((field_name, match))
    if errors:
        raise DomainError([
            FieldError(name, f"{match.name} (an existing customer) has the same {name.replace('_', ' ')}; "
                       "merge them, or send allowDuplicate: true to keep both.", CustomerErrorCode.DUPLICATE, ("Customer", match.id))
            for name, match in errors
        ])


def _normal(field_name: str, value: str) -> str:
    """The key duplicates are matched on, as the generated columns compute it."""
    if field_name == "phone":
        return re.sub(r"[^0-9]", "", value)
    if field_name == "tax_id":
        return re.sub(r"[\s./-]", "", value).upper()
    return value


async def create_customer(session: AsyncSession, data: CustomerData, *, allow_duplicate: bool = False) -> Customer:
    values = _clean(vars(data))
    await _check_references(session, values, None)
    if not allow_duplicate:
        await _check_duplicates(session, values, None)
    customer = Customer(**values)
    session.add(customer)
    # One INSERT ... RETURNING: the model reads server defaults back eagerly.
    await session.flush()
    return customer


async def update_customer(session: AsyncSession, customer_id: int, changes: Mapping[str, Any], *,
                          allow_duplicate: bool = False) -> Customer:
    unknown = set(changes) - set(FIELDS)
    assert not unknown, f"not customer fields: {unknown}"
    customer = await live(session, Customer, customer_id, "id", "customer", lock=True)
    values = _clean(changes)
    if values.get("classification", customer.classification) != CustomerClassification.PARTNER:
        await _no_longer_partner_check(session, customer)
    await _check_references(session, values, customer.id)
    if not allow_duplicate:
        await _check_duplicates(session, {k: v for k, v in values.items() if getattr(customer, k) != v}, customer.id)
    for name, value in values.items():
        setattr(customer, name, value)
    await session.flush()
    return customer


async def _no_longer_partner_check(session: AsyncSession, customer: Customer) -> None:
    """A partner with partner users cannot stop being a partner: those logins would
    belong to a non-partner account."""
    if customer.classification != CustomerClassification.PARTNER:
        return
    users = (await session.execute(
        select(func.count()).select_from(User).where(User.partner_account_id == customer.id, User.active)
    )).scalar_one()
    if users:
        raise DomainError.one("classification", f"{customer.name} has {users} active partner users; "
                              "deactivate them before reclassifying.", Code.INVALID)


async def archive_customer(session: AsyncSession, customer_id: int) -> Customer:
    return await archive(session, Customer, customer_id, "customer")


async def restore_customer(session: AsyncSession, customer_id: int) -> Customer:
    customer = await get_row(session, Customer, customer_id)
    if customer is not None and customer.merged_into_id is not None:
        raise DomainError.one("id", "This customer was merged into another and cannot be restored.",
                              CustomerErrorCode.MERGED, ("Customer", customer.merged_into_id))
    return await restore(session, Customer, customer_id, "customer")


# -- merge ------------------------------------------------------------------------------

# Every column that points at a customer, and what merging moves along it.
_MOVES = (
    ("contacts", Contact, Contact.customer_id),
    ("opportunities", Opportunity, Opportunity.customer_id),
    ("registered_opportunities", Opportunity, Opportunity.registering_partner_id),
    ("activities", Activity, Activity.customer_id),
    ("orders", Order, Order.customer_id),
    ("referred_customers", Customer, Customer.referring_partner_id),
    ("partner_users", User, User.partner_account_id),
    ("memberships", Membership, Membership.account_id),
)


async def merge_customers(session: AsyncSession, into_id: int, from_id: int, *, actor_id: int | None) -> tuple[Customer, CustomerMerge]:
    """Moves everything of `from` to `into`, archives `from` pointing at `into`, and
    records the merge. Atomic: the caller's transaction commits all or nothing."""
    if into_id == from_id:
        raise DomainError.one("from_id", "A customer cannot be merged into itself.", CustomerErrorCode.MERGE_INTO_SELF)
    # Lock both rows in id order, so two merges of the same pair cannot deadlock.
    rows = {c.id: c for c in (await session.execute(
        select(Customer).where(Customer.id.in_([into_id, from_id])).order_by(Customer.id).with_for_update()
    )).scalars()}
    survivor = rows.get(into_id)
    merged = rows.get(from_id)
    check = Checker()
    for field_name, row in (("into_id", survivor), ("from_id", merged)):
        if row is None:
            check.fail(field_name, "No customer has this ID.", Code.NOT_FOUND)
        elif row.archived_at is not None:
            check.fail(field_name, "This customer is archived.", Code.ARCHIVED)
    check.done()
    if merged.classification == CustomerClassification.PARTNER and survivor.classification != CustomerClassification.PARTNER:
        raise DomainError.one("into_id", f"{merged.name} is a partner; merge it into a partner.", CustomerErrorCode.NOT_A_PARTNER)

    shared = (await session.execute(
        select(func.count()).select_from(Membership).where(Membership.account_id == merged.id, Membership.programme_id.in_(
            select(Membership.programme_id).where(Membership.account_id == survivor.id)))
    )).scalar_one()
    if shared:
        raise DomainError.one("from_id", "Both customers are members of the same grade programme; end one membership "
                              "(refund its fee) before merging.", CustomerErrorCode.MEMBERSHIP_CONFLICT)
    before = snapshot(merged)
    moved: dict[str, int] = {}
    for name, model, column in _MOVES:
        result = await session.execute(update(model).where(column == merged.id).values({column.key: survivor.id}))
        moved[name] = result.rowcount
    # The survivor keeps its own values and takes what it lacks from the merged one.
    for name in ("email", "phone", "tax_id", "owner_id", "source_channel_id", "referring_partner_id"):
        if getattr(survivor, name) is None and getattr(merged, name) is not None:
            setattr(survivor, name, getattr(merged, name))
    survivor.tags = survivor.tags + [t for t in merged.tags if t not in survivor.tags]
    survivor.attributes = {**merged.attributes, **survivor.attributes}
    merged.archived_at = func.now()
    merged.merged_into_id = survivor.id
    record = CustomerMerge(survivor_id=survivor.id, merged_id=merged.id, merged_by_id=actor_id,
                           moved=moved, merged_snapshot=before)
    session.add(record)
    await session.flush()
    await session.refresh(survivor)
    # For the survivor's account when it is a partner (a partner merges only into one).
    await emit(session, CustomerMerged(survivor=survivor.id, merged=merged.id, merge=record.id, moved=moved,
                                       merged_at=record.merged_at), aggregate_id=survivor.id,
               occurred_at=record.merged_at,
               account_id=survivor.id if survivor.classification == CustomerClassification.PARTNER else None)
    return survivor, record


# -- lists ------------------------------------------------------------------------------

FILTER_FIELDS = {
    "id": FilterField(Customer.id, "id"),  # pk_customer
    "name": FilterField(Customer.name, "text"),  # ix_customer_name_id, ix_customer_name_trgm (ilike)
    "kind": FilterField(Customer.kind, "enum"),
    "classification": FilterField(Customer.classification, "enum"),  # ix_customer_classification_id
    "lifecycle_stage": FilterField(Customer.lifecycle_stage, "enum"),  # ix_customer_lifecycle_stage_id
    "email": FilterField(Customer.email, "text"),  # ix_customer_email
    "tags": FilterField(Customer.tags, "tags"),  # ix_customer_tags (GIN)
    "attributes": FilterField(Customer.attributes, "attributes"),  # ix_customer_attributes (GIN)
    "owner": FilterField(Customer.owner_id, "id"),  # ix_customer_owner_id_id
    "source_channel": FilterField(Customer.source_channel_id, "id"),  # ix_customer_source_channel_id
    "referring_partner": FilterField(Customer.referring_partner_id, "id"),  # ix_customer_referring_partner_id
    "created_at": FilterField(Customer.created_at, "time"),  # ix_customer_created_at_id
    "updated_at": FilterField(Customer.updated_at, "time"),  # ix_customer_updated_at_id
}


# The consent rule, written once: per medium, the opt-out that withdraws it and the
# address it needs; do_not_contact withdraws every medium. The SQL clause and the check
# of one row below are both read off this table.
MEDIA = {"email": ("email_opt_out", "email"), "phone": ("phone_opt_out", "phone"), "sms": ("sms_opt_out", "phone")}


def contactable_clause(model: Any, medium: str | None, *, address: bool = True) -> Any:
    """Who may be contacted: not do-not-contact and, for a medium, not opted out of it
    and (unless `address` is false: consent alone) with an address for it."""
    clause = model.do_not_contact.is_(False)
    if medium in MEDIA:
        opt_out, needed = MEDIA[medium]
        clause = and_(clause, getattr(model, opt_out).is_(False))
        if address:
            clause = and_(clause, getattr(model, needed).is_not(None))
    return clause


def may_contact(row: Any, medium: str | None, *, address: bool = True) -> bool:
    """contactable_clause for one loaded row (customer or contact). Reads only the
    columns the answer depends on, in the clause's order (the single statement learns
    what a resolver reads)."""
    if row.do_not_contact:
        return False
    if medium in MEDIA:
        opt_out, needed = MEDIA[medium]
        return not getattr(row, opt_out) and (not address or getattr(row, needed) is not None)
    return True


FILTER_SPECIAL = {
    "contactable": lambda value: contactable_clause(Customer, None) if value else not_(contactable_clause(Customer, None)),
    "contactable_by": lambda medium: contactable_clause(Customer, medium),
    "archived": lambda value: Customer.archived_at.is_not(None) if value else Customer.archived_at.is_(None),
}

SORTABLE = {
    "name": Sortable(Customer.name, "name", TEXT_KEY),  # ix_customer_name_id
    "created_at": Sortable(Customer.created_at, "created_at", TIME_KEY),  # ix_customer_created_at_id
    "updated_at": Sortable(Customer.updated_at, "updated_at", TIME_KEY),  # ix_customer_updated_at_id
    "classification": Sortable(Customer.classification, "classification", TEXT_KEY),
    "lifecycle_stage": Sortable(Customer.lifecycle_stage, "lifecycle_stage", TEXT_KEY),
}


def customer_ordering(requested: list[tuple[str, bool]]) -> Ordering:
    return build_ordering(SORTABLE, requested, Customer.id)


# Served by the primary key index (pk_customer).
CUSTOMER_ORDER_BY_ID = customer_ordering([])


def customers_statement(condition: Any = None, *, include_archived: bool = False) -> Select:
    """Customers matching `condition`; live ones only unless the filter asks about archived."""
    statement = select(Customer)
    if condition is not None:
        statement = statement.where(condition)
    if not include_archived:
        statement = statement.where(Customer.archived_at.is_(None))
    return statement


async def customers_by_ids(session: AsyncSession, ids: list[int]) -> dict[int, Customer]:
    rows = await session.execute(select(Customer).where(Customer.id.in_(ids)))
    return {customer.id: customer for customer in rows.scalars()}


# -- duplicates -------------------------------------------------------------------------


def _duplicate_groups():
    """(reason, key, ids) for every normalised email, phone or tax ID shared by two or more
    live customers. Served by the partial indexes ix_customer_email / _phone_key / _tax_id_key."""
    parts = [
        select(literal(reason).label("reason"), column.label("key"),
               func.array_agg(aggregate_order_by(Customer.id, Customer.id)).label("ids"))
        .where(Customer.archived_at.is_(None), column.is_not(None))
        .group_by(column)
        .having(func.count() > 1)
        for reason, column in (("email", Customer.email), ("phone", Customer.phone_key), ("tax_id", Customer.tax_id_key))
    ]
    return union_all(*parts).subquery("duplicate_group")


DUPLICATE_GROUPS = _duplicate_groups()
# (reason, key) is unique, so it is a total order on its own.
DUPLICATE_ORDERING = Ordering(
    name="reason,key",
    keys=[SortKey(DUPLICATE_GROUPS.c.reason, **TEXT_KEY), SortKey(DUPLICATE_GROUPS.c.key, **TEXT_KEY)],
    values_of=lambda row: (row.reason, row.key),
)


def duplicate_groups_statement() -> Select:
    return select(DUPLICATE_GROUPS)


# -- timeline ---------------------------------------------------------------------------


def timeline(customer_id: int) -> tuple[Select, Ordering]:
    """Everything that happened to a customer, newest first, as (at, kind, id) rows:
    activities, stage changes of its deals, orders, merges into it. Each part is served
    by its (customer, time) index. One customer at a time: meant for a detail page."""
    parts = union_all(
        select(Activity.occurred_at.label("at"), literal("activity").label("kind"), Activity.id.label("id"))
        .where(Activity.customer_id == customer_id),
        select(OpportunityStageChange.changed_at, literal("stage_change"), OpportunityStageChange.id)
        .join(Opportunity, Opportunity.id == OpportunityStageChange.opportunity_id)
        .where(Opportunity.customer_id == customer_id),
        select(Order.placed_at, literal("order"), Order.id).where(Order.customer_id == customer_id),
        select(CustomerMerge.merged_at, literal("merge"), CustomerMerge.id).where(CustomerMerge.survivor_id == customer_id),
    ).subquery("timeline")
    ordering = Ordering(
        name="timeline",
        keys=[SortKey(parts.c.at, descending=True, **TIME_KEY), SortKey(parts.c.kind, descending=True, **TEXT_KEY),
              SortKey(parts.c.id, descending=True, **BIGINT_KEY)],
        values_of=lambda row: (row.at, row.kind, row.id),
    )
    return select(parts.c.at, parts.c.kind, parts.c.id), ordering
