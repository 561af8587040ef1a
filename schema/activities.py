from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from crm import activities as service
from models import Activity as ActivityRow
from models import ActivityKind
from resolvers.lists import filter_clause
from resolvers import scoping
from resolvers.mutations import mutate
from resolvers.ids import decode_id, decode_optional_id, from_global_id
from schema.common import payload_errors
from schema.errors import error_codes, error_type
from schema.filters import DateTimeFilter, EnumFilter, IDFilter, to_spec
from schema.fields import column, global_id, root_connection, to_one
from schema.node import NODE_TYPES, Node
from schema.pagination import PAGE_ARGUMENTS_HELP, Connection
from schema.permissions import Staff, StaffOwning, guarded_mutation

if TYPE_CHECKING:
    from schema.contacts import ContactType
    from schema.customers import CustomerType
    from schema.opportunities import OpportunityType
    from schema.users import UserType

strawberry.enum(ActivityKind, description="What kind of activity. A COMMITMENT is a promise made to the customer.")
ActivityErrorCode = error_codes(service.ActivityErrorCode, "activity")
ActivityError = error_type("ActivityError", ActivityErrorCode, "activity")

ACTIVITY_ID_FILTERS = {"customer": "Customer", "user": "User", "opportunity": "Opportunity", "contact": "Contact"}


@strawberry.type(name="Activity", description="Something done with or promised to a customer. With a due date, and "
                 "always for a commitment, it is a follow-up that stays open until completed.")
class ActivityType(Node):
    id: strawberry.ID = global_id("Activity")
    kind: ActivityKind = column("kind", description="Kind.")
    subject: str = column("subject", description="One line.")
    body: str | None = column("body", description="Details.")
    occurred_at: datetime = column("occurred_at", description="When it happened (or was logged).")
    due_at: datetime | None = column("due_at", description="When the follow-up is due.")
    done_at: datetime | None = column("done_at", description="When it was completed; null while open.")
    created_at: datetime = column("created_at", description="When it was logged.")
    _row: strawberry.Private[ActivityRow]

    @strawberry.field(description="Not completed yet.")
    def open(self) -> bool:
        return self._row.done_at is None

    @strawberry.field(description="Open and past its due date.")
    def overdue(self) -> bool:
        row = self._row
        return row.done_at is None and row.due_at is not None and row.due_at < datetime.now(timezone.utc)

    customer: Annotated["CustomerType", strawberry.lazy("schema.customers")] = to_one(
        "Customer", "customer_id", description="The customer.")

    opportunity: Annotated["OpportunityType", strawberry.lazy("schema.opportunities")] | None = to_one(
        "Opportunity", "opportunity_id", description="The deal it concerns.")

    contact: Annotated["ContactType", strawberry.lazy("schema.contacts")] | None = to_one(
        "Contact", "contact_id", description="The contact it was with.")

    user: Annotated["UserType", strawberry.lazy("schema.users")] | None = to_one(
        "User", "user_id", description="Who logged it (and owns the follow-up).")



NODE_TYPES["Activity"] = ActivityType.from_row


@strawberry.input(description="Which activities to list.")
class ActivityFilter:
    customer: IDFilter | None = strawberry.field(default=None, description="By customer.")
    user: IDFilter | None = strawberry.field(default=None, description="By the user who logged it.")
    opportunity: IDFilter | None = strawberry.field(default=None, description="By deal.")
    contact: IDFilter | None = strawberry.field(default=None, description="By contact.")
    kind: EnumFilter[ActivityKind] | None = strawberry.field(default=None, description="By kind.")
    open: bool | None = strawberry.field(default=None, description="true: not completed; false: completed.")
    overdue: bool | None = strawberry.field(default=None, description="true: open and past due.")
    due_at: DateTimeFilter | None = strawberry.field(default=None, description="By due date.")
    occurred_at: DateTimeFilter | None = strawberry.field(default=None, description="By when it happened.")
    and_: list[ActivityFilter] | None = strawberry.field(default=None, name="and", description="All of these.")
    or_: list[ActivityFilter] | None = strawberry.field(default=None, name="or", description="Any of these.")
    not_: ActivityFilter | None = strawberry.field(default=None, name="not", description="Not this.")


@strawberry.input(description="An activity to log.")
class ActivityLogInput:
    customer_id: strawberry.ID = strawberry.field(description="The customer.")
    kind: ActivityKind = strawberry.field(description="Kind.")
    subject: str = strawberry.field(description="One line, up to 300 characters.")
    body: str | None = strawberry.field(default=None, description="Details, up to 20,000 characters.")
    opportunity_id: strawberry.ID | None = strawberry.field(default=None, description="A deal of the same customer.")
    contact_id: strawberry.ID | None = strawberry.field(default=None, description="A contact of the same customer.")
    occurred_at: datetime | None = strawberry.field(default=None, description="When it happened; default now.")
    due_at: datetime | None = strawberry.field(default=None, description="Makes it a follow-up due then.")


@strawberry.type(description="Result of an activity mutation.")
class ActivityPayload:
    activity: ActivityType | None = strawberry.field(description="The activity; null when errors is not empty.")
    errors: list[ActivityError] = strawberry.field(description="Empty on success.")


def _payload(row, errors) -> ActivityPayload:
    return ActivityPayload(activity=ActivityType.from_row(row) if row else None,
                           errors=payload_errors(errors, ActivityError, ActivityErrorCode))


def activities_list(principal, filter: ActivityFilter | None = None):
    """The rows and ordering of `activities`."""
    spec = to_spec(filter, ACTIVITY_ID_FILTERS)
    statement = service.activities_statement(filter_clause(spec, service.FILTER_FIELDS, service.FILTER_SPECIAL))
    ordering = service.activity_ordering([])
    return statement, ordering


def follow_ups_list(principal, owner_id: strawberry.ID | None = None, due_before: datetime | None = None):
    """The rows and ordering of `followUps`."""
    user_id = from_global_id(owner_id, expected_type="User")[1] if owner_id is not None else None
    statement = service.follow_ups_statement(user_id=user_id, due_before=due_before)
    return statement, service.FOLLOW_UP_ORDERING


@strawberry.type
class ActivityQueries:
    activities: Connection[ActivityType] = root_connection(
        activities_list, description=f"Activities, newest first. {PAGE_ARGUMENTS_HELP}", permissions=[Staff])

    follow_ups: Connection[ActivityType] = root_connection(
        follow_ups_list, description="The follow-up inbox: open activities with a due date, soonest first (overdue ones "
        f"first of all), for one user or everyone, optionally due before a time. {PAGE_ARGUMENTS_HELP}", permissions=[Staff])


@strawberry.type
class ActivityMutations:
    @guarded_mutation(description="Log an activity as the caller. Without a due date (and unless a commitment) it is "
                      "complete when logged; otherwise it is an open follow-up.", idempotent=True, permissions=[StaffOwning])
    async def activity_log(self, info: Info, input: ActivityLogInput) -> ActivityPayload:
        async def action(session):
            return await service.log_activity(
                session, customer_id=decode_id(input.customer_id, "Customer", "customer_id"), kind=input.kind,
                subject=input.subject, body=input.body,
                opportunity_id=decode_optional_id(input.opportunity_id, "Opportunity", "opportunity_id"),
                contact_id=decode_optional_id(input.contact_id, "Contact", "contact_id"),
                occurred_at=input.occurred_at, due_at=input.due_at, actor_id=info.context.actor_id)
        return _payload(*await mutate(info.context, action))

    @guarded_mutation(description="Complete an open activity (a follow-up done, a commitment kept).", permissions=[StaffOwning])
    async def activity_complete(self, info: Info, id: strawberry.ID, done_at: datetime | None = None) -> ActivityPayload:
        async def action(session):
            pk = decode_id(id, "Activity", "id")
            await scoping.require_owner(session, info.context.principal, "activity", pk)
            return await service.complete_activity(session, pk, done_at=done_at)
        return _payload(*await mutate(info.context, action))

