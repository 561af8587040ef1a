from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from crm import activities as service
from models import Activity as ActivityRow
from models import ActivityKind
from resolvers.lists import filter_clause
from resolvers import scoping, sql_json
from resolvers.mutations import mutate
from resolvers.node import decode_id, decode_optional_id, from_global_id
from schema.common import list_connection, gid, payload_errors
from schema.errors import error_codes, error_type
from schema.filters import DateTimeFilter, EnumFilter, IDFilter, to_spec
from schema.node import NODE_TYPES, Node
from schema.pagination import PAGE_ARGUMENTS_HELP, Connection
from schema.permissions import Staff, StaffOwning, guarded_field, guarded_mutation

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
    kind: ActivityKind = strawberry.field(description="Kind.")
    subject: str = strawberry.field(description="One line.")
    body: str | None = strawberry.field(description="Details.")
    occurred_at: datetime = strawberry.field(description="When it happened (or was logged).")
    due_at: datetime | None = strawberry.field(description="When the follow-up is due.")
    done_at: datetime | None = strawberry.field(description="When it was completed; null while open.")
    created_at: datetime = strawberry.field(description="When it was logged.")
    _row: strawberry.Private[ActivityRow]

    @strawberry.field(description="Not completed yet.")
    def open(self) -> bool:
        return self.done_at is None

    @strawberry.field(description="Open and past its due date.")
    def overdue(self) -> bool:
        return self.done_at is None and self.due_at is not None and self.due_at < datetime.now(timezone.utc)

    @strawberry.field(description="The customer.")
    async def customer(self, info: Info) -> Annotated["CustomerType", strawberry.lazy("schema.customers")]:
        from schema.customers import load_customer

        return await load_customer(info, self._row.customer_id)

    @strawberry.field(description="The deal it concerns.")
    async def opportunity(self, info: Info) -> Annotated["OpportunityType", strawberry.lazy("schema.opportunities")] | None:
        from schema.opportunities import load_opportunity

        return await load_opportunity(info, self._row.opportunity_id)

    @strawberry.field(description="The contact it was with.")
    async def contact(self, info: Info) -> Annotated["ContactType", strawberry.lazy("schema.contacts")] | None:
        from schema.contacts import load_contact

        return await load_contact(info, self._row.contact_id)

    @strawberry.field(description="Who logged it (and owns the follow-up).")
    async def user(self, info: Info) -> Annotated["UserType", strawberry.lazy("schema.users")] | None:
        from schema.users import load_user

        return await load_user(info, self._row.user_id)

    @classmethod
    def from_row(cls, row: ActivityRow) -> ActivityType:
        return cls(id=gid("Activity", row.id), kind=ActivityKind(row.kind), subject=row.subject, body=row.body,
                   occurred_at=row.occurred_at, due_at=row.due_at, done_at=row.done_at, created_at=row.created_at, _row=row)


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


@strawberry.type
class ActivityQueries:
    @guarded_field(description=f"Activities, newest first. {PAGE_ARGUMENTS_HELP}", permissions=[Staff])
    async def activities(self, info: Info, filter: ActivityFilter | None = None, first: int | None = None,
                         after: str | None = None, last: int | None = None, before: str | None = None) -> Connection[ActivityType]:
        spec = to_spec(filter, ACTIVITY_ID_FILTERS)
        statement = service.activities_statement(filter_clause(spec, service.FILTER_FIELDS, service.FILTER_SPECIAL))
        ordering = service.activity_ordering([])
        return await list_connection(info, statement, ordering, ActivityType.from_row,
                                     first=first, after=after, last=last, before=before)

    @guarded_field(description="The follow-up inbox: open activities with a due date, soonest first (overdue ones "
                   f"first of all), for one user or everyone, optionally due before a time. {PAGE_ARGUMENTS_HELP}",
                   permissions=[Staff])
    async def follow_ups(self, info: Info, owner_id: strawberry.ID | None = None, due_before: datetime | None = None,
                         first: int | None = None, after: str | None = None, last: int | None = None,
                         before: str | None = None) -> Connection[ActivityType]:
        user_id = from_global_id(owner_id, expected_type="User")[1] if owner_id is not None else None
        statement = service.follow_ups_statement(user_id=user_id, due_before=due_before)
        return await list_connection(info, statement, service.FOLLOW_UP_ORDERING, ActivityType.from_row,
                                     first=first, after=after, last=last, before=before)


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


sql_json.register_type("Activity", ActivityRow, {
    "id": sql_json.GlobalId("Activity"), "kind": "kind", "subject": "subject", "body": "body",
    "occurredAt": "occurred_at", "dueAt": "due_at", "doneAt": "done_at", "createdAt": "created_at",
}, relations={"customer": ("Customer", "customer_id"), "user": ("User", "user_id")})
