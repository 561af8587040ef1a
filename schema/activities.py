from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Annotated

import strawberry

from crm import activities as service
from models import Activity as ActivityRow
from models import ActivityKind
from schema.errors import error_codes, error_type
from schema.filters import DateTimeFilter, EnumFilter, IDFilter
from schema.fields import column, global_id, to_one
from schema.node import NODE_TYPES, Node

if TYPE_CHECKING:
    from schema.contacts import ContactType
    from schema.customers import CustomerType
    from schema.opportunities import OpportunityType
    from schema.users import UserType

strawberry.enum(ActivityKind, description="What kind of activity. A COMMITMENT is a promise made to the customer.")
ActivityErrorCode = error_codes(service.ActivityErrorCode, "activity")
ActivityError = error_type("ActivityError", ActivityErrorCode, "activity")


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
    inbound: bool = column("inbound", description="The customer reached out (false: we did).")
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
    inbound: bool = strawberry.field(default=False, description=(
        "The customer reached out (an inbound call, a reply). An outbound call, email, sms, visit or meeting with a "
        "customer or contact who withdrew that consent is refused (CONSENT_WITHDRAWN)."))


@strawberry.type(description="Result of an activity mutation.")
class ActivityPayload:
    activity: ActivityType | None = strawberry.field(description="The activity; null when errors is not empty.")
    errors: list[ActivityError] = strawberry.field(description="Empty on success.")


