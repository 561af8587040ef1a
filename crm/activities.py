"""Activities: calls, visits, emails, meetings, notes and commitments; follow-ups.

An activity with a due date, and every commitment (a promise made to the customer),
stays open until completed: those are the follow-ups. Any other activity is a record
of something done and is complete when logged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.errors import Code, DomainError, domain_codes
from kernel.filtering import FilterField
from kernel.pagination import TIME_KEY, Sortable, build_ordering
from kernel.references import get_row, live
from kernel.validation import Checker
from crm.customers import may_contact
from models import Activity, ActivityKind, Contact, Customer, Opportunity

ActivityErrorCode = domain_codes("ActivityErrorCode", "mismatched_customer", "consent_withdrawn")

# Kinds that reach out to the customer, and the medium whose consent each needs (None:
# any contact at all, so only do-not-contact refuses it). Notes and commitments reach
# no one.
OUTBOUND_MEDIUM: dict[ActivityKind, str | None] = {
    ActivityKind.CALL: "phone", ActivityKind.EMAIL: "email", ActivityKind.SMS: "sms",
    ActivityKind.VISIT: None, ActivityKind.MEETING: None,
}


def _check_consent(kind: ActivityKind, inbound: bool, parties: list[tuple[str, str, Any]]) -> None:
    """An outbound activity with someone who withdrew that consent is refused: the
    `contactable` rule (crm.customers.may_contact), on consent alone (a missing address
    does not refuse a record of what was done)."""
    if inbound or kind not in OUTBOUND_MEDIUM:
        return
    medium = OUTBOUND_MEDIUM[kind]
    for field, what, row in parties:
        if not may_contact(row, medium, address=False):
            withdrawn = "asked not to be contacted" if row.do_not_contact else f"opted out of {medium}"
            raise DomainError.one(field, f"{row.name} ({what}) {withdrawn}; only an inbound {kind.value} "
                                  "(inbound: true) can be logged.", ActivityErrorCode.CONSENT_WITHDRAWN)


async def log_activity(session: AsyncSession, *, customer_id: int, kind: ActivityKind, subject: str,
                       body: str | None = None, opportunity_id: int | None = None, contact_id: int | None = None,
                       occurred_at: datetime | None = None, due_at: datetime | None = None,
                       inbound: bool = False, actor_id: int | None) -> Activity:
    check = Checker()
    subject = check.text("subject", subject, max_len=300, required=True)
    body = check.text("body", body, max_len=20_000, multiline=True)
    occurred_at = check.aware("occurred_at", occurred_at)
    due_at = check.aware("due_at", due_at)
    check.done()
    customer = await live(session, Customer, customer_id, "customer_id", "customer")
    parties: list[tuple[str, str, Any]] = [("customer_id", "the customer", customer)]
    if opportunity_id is not None:
        opportunity = await get_row(session, Opportunity, opportunity_id)
        if opportunity is None:
            raise DomainError.one("opportunity_id", "No opportunity has this ID.", Code.NOT_FOUND)
        if opportunity.customer_id != customer_id:
            raise DomainError.one("opportunity_id", "This deal belongs to another customer.", ActivityErrorCode.MISMATCHED_CUSTOMER)
    if contact_id is not None:
        contact = await live(session, Contact, contact_id, "contact_id", "contact")
        if contact.customer_id != customer_id:
            raise DomainError.one("contact_id", "This contact belongs to another customer.", ActivityErrorCode.MISMATCHED_CUSTOMER)
        parties.append(("contact_id", "the contact", contact))
    _check_consent(kind, bool(inbound), parties)
    follow_up = due_at is not None or kind == ActivityKind.COMMITMENT
    activity = Activity(
        customer_id=customer_id, opportunity_id=opportunity_id, contact_id=contact_id, kind=kind.value,
        subject=subject, body=body, due_at=due_at, user_id=actor_id, inbound=bool(inbound),
        occurred_at=occurred_at if occurred_at is not None else func.now(),
    )
    session.add(activity)
    await session.flush()
    if not follow_up:
        activity.done_at = activity.occurred_at
        await session.flush()
    await session.refresh(activity)
    return activity


async def complete_activity(session: AsyncSession, activity_id: int, *, done_at: datetime | None = None) -> Activity:
    check = Checker()
    done_at = check.aware("done_at", done_at)
    check.done()
    activity = (await session.execute(select(Activity).where(Activity.id == activity_id).with_for_update())).scalar_one_or_none()
    if activity is None:
        raise DomainError.one("id", "No activity has this ID.", Code.NOT_FOUND)
    if activity.done_at is not None:
        raise DomainError.one("id", "This activity is already complete.", Code.NO_CHANGE)
    activity.done_at = done_at if done_at is not None else func.now()
    await session.flush()
    await session.refresh(activity)
    return activity


FILTER_FIELDS = {
    "customer": FilterField(Activity.customer_id, "id"),  # ix_activity_customer_id_occurred_at_id
    "user": FilterField(Activity.user_id, "id"),  # ix_activity_open_due (open ones)
    "opportunity": FilterField(Activity.opportunity_id, "id"),  # ix_activity_opportunity_id
    "contact": FilterField(Activity.contact_id, "id"),  # ix_activity_contact_id
    "kind": FilterField(Activity.kind, "enum"),
    "due_at": FilterField(Activity.due_at, "time"),  # ix_activity_open_due
    "occurred_at": FilterField(Activity.occurred_at, "time"),
}
FILTER_SPECIAL = {
    "open": lambda v: Activity.done_at.is_(None) if v else Activity.done_at.is_not(None),
    "overdue": lambda v: and_(Activity.done_at.is_(None), Activity.due_at < func.now()) if v
    else ~and_(Activity.done_at.is_(None), Activity.due_at < func.now()),
}
SORTABLE = {
    "occurred_at": Sortable(Activity.occurred_at, "occurred_at", TIME_KEY),  # ix_activity_customer_id_occurred_at_id
}


def activity_ordering(requested: list[tuple[str, bool]]):
    return build_ordering(SORTABLE, requested, Activity.id, default=[("occurred_at", True)])


# The follow-up inbox: open activities with a due date (never NULL there), soonest first;
# served by ix_activity_open_due.
FOLLOW_UP_ORDERING = build_ordering(
    {"due_at": Sortable(Activity.due_at, "due_at", TIME_KEY)}, [("due_at", False)], Activity.id
)


def activities_statement(condition: Any = None) -> Select:
    return select(Activity).where(condition) if condition is not None else select(Activity)


def follow_ups_statement(*, user_id: int | None, due_before: datetime | None) -> Select:
    """Open activities that have a due date, for one owner or everyone, due before a time."""
    statement = select(Activity).where(Activity.done_at.is_(None), Activity.due_at.is_not(None))
    if user_id is not None:
        statement = statement.where(Activity.user_id == user_id)
    if due_before is not None:
        statement = statement.where(Activity.due_at < due_before)
    return statement
