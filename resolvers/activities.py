"""The activities domain's list builders and Query/Mutation bodies; its types are in schema/activities.py."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from crm import activities as service
from resolvers.lists import filter_clause
from resolvers import scoping
from resolvers.mutations import mutate
from resolvers.ids import decode_id, decode_optional_id, from_global_id
from schema.common import payload_errors
from schema.filters import to_spec
from schema.fields import root_connection
from schema.pagination import PAGE_ARGUMENTS_HELP, Connection
from schema.permissions import Staff, StaffOwning, guarded_mutation
from schema.activities import (
    ActivityError, ActivityErrorCode, ActivityFilter, ActivityLogInput, ActivityPayload, ActivityType,
)


ACTIVITY_ID_FILTERS = {"customer": "Customer", "user": "User", "opportunity": "Opportunity", "contact": "Contact"}


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
                occurred_at=input.occurred_at, due_at=input.due_at, inbound=input.inbound, actor_id=info.context.actor_id)
        return _payload(*await mutate(info.context, action))

    @guarded_mutation(description="Complete an open activity (a follow-up done, a commitment kept).", permissions=[StaffOwning])
    async def activity_complete(self, info: Info, id: strawberry.ID, done_at: datetime | None = None) -> ActivityPayload:
        async def action(session):
            pk = decode_id(id, "Activity", "id")
            await scoping.require_owner(session, info.context.principal, "activity", pk)
            return await service.complete_activity(session, pk, done_at=done_at)
        return _payload(*await mutate(info.context, action))
