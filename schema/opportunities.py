from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from crm import opportunities as service
from kernel.pagination import build_ordering
from models import OpportunityStage, OpportunityStageChange
from models import Opportunity as OpportunityRow
from resolvers.loaders import ListByParentLoader
from schema.common import Money, MoneyInput, nested, nested_connection
from schema.errors import error_codes, error_type
from schema.filters import DateFilter, DateTimeFilter, DecimalFilter, EnumFilter, IDFilter, OrderDirection, StringFilter
from schema.fields import column, connection, global_id, money, to_one
from schema.node import NODE_TYPES, Node
from schema.pagination import PAGE_ARGUMENTS_HELP, Connection
from schema.permissions import Staff

if TYPE_CHECKING:
    from schema.activities import ActivityType
    from schema.channels import ChannelType
    from schema.customers import CustomerType
    from schema.users import UserType

strawberry.enum(OpportunityStage, description="Pipeline stage. Open: LEAD, QUALIFIED, PROPOSAL, NEGOTIATION; closed: WON, LOST.")
OpportunityErrorCode = error_codes(service.OpportunityErrorCode, "opportunity")
OpportunityError = error_type("OpportunityError", OpportunityErrorCode, "opportunity")

STAGE_HISTORY = nested("opportunity.stageHistory", None, service.stage_history_statement(), OpportunityStageChange.opportunity_id,
                       build_ordering({}, [], OpportunityStageChange.id))


@strawberry.type(name="OpportunityStageChange", description="One move of a deal between stages.")
class StageChangeType(Node):
    id: strawberry.ID = global_id("OpportunityStageChange")
    from_stage: OpportunityStage | None = column(
        "from_stage", description="Stage before; null for the deal's creation.")
    to_stage: OpportunityStage = column("to_stage", description="Stage after.")
    probability: int = column("probability", description="Win probability (percent) set by the move.")
    changed_at: datetime = column("changed_at", description="When.")
    _row: strawberry.Private[OpportunityStageChange]

    opportunity: OpportunityType = to_one("Opportunity", "opportunity_id", description="The deal.")

    changed_by: Annotated["UserType", strawberry.lazy("schema.users")] | None = to_one(
        "User", "changed_by_id", description="Who moved it.")


@strawberry.type(name="Opportunity", description="A deal: what a customer may buy, how likely, by when.")
class OpportunityType(Node):
    id: strawberry.ID = global_id("Opportunity")
    name: str = column("name", description="Name of the deal.")
    amount: Money = money("amount", description="Expected value.")
    stage: OpportunityStage = column("stage", description="Pipeline stage.")
    probability: int = column(
        "probability", description="Win probability in percent (stage default unless overridden).")
    weighted_amount: Money = money(
        lambda row: row.amount * row.probability / 100, description="amount x probability, rounded half-up to the cent.")
    expected_close: date | None = column("expected_close", description="Expected close date.")
    lost_reason: str | None = column("lost_reason", description="Why it was lost (stage LOST).")
    stage_changed_at: datetime = column("stage_changed_at", description="When it entered its current stage.")
    created_at: datetime = column("created_at", description="When created.")
    updated_at: datetime = column("updated_at", description="When last changed.")
    _row: strawberry.Private[OpportunityRow]


    customer: Annotated["CustomerType", strawberry.lazy("schema.customers")] = to_one(
        "Customer", "customer_id", description="The customer.")

    owner: Annotated["UserType", strawberry.lazy("schema.users")] | None = to_one(
        "User", "owner_id", description="Owning user.")

    channel: Annotated["ChannelType", strawberry.lazy("schema.channels")] | None = to_one(
        "Channel", "channel_id", description="Channel the deal came through.")

    registering_partner: Annotated["CustomerType", strawberry.lazy("schema.customers")] | None = to_one(
        "Customer", "registering_partner_id", description="The partner that registered the deal.")

    @strawberry.field(description="Every stage move, oldest first (the first is the creation).")
    async def stage_history(self, info: Info) -> list[StageChangeType]:
        rows = await info.context.loader(ListByParentLoader, STAGE_HISTORY).load(self._row.id)
        return [StageChangeType.from_row(row) for row in rows]

    activities: Connection[Annotated["ActivityType", strawberry.lazy("schema.activities")]] = connection(
        "resolvers.opportunities:opportunity_activities", description=f"Activities on this deal, newest first. {PAGE_ARGUMENTS_HELP}",
        permissions=[Staff])


NODE_TYPES["Opportunity"] = OpportunityType.from_row
NODE_TYPES["OpportunityStageChange"] = StageChangeType.from_row


@strawberry.input(description="Which deals to list.")
class OpportunityFilter:
    customer: IDFilter | None = strawberry.field(default=None, description="By customer.")
    stage: EnumFilter[OpportunityStage] | None = strawberry.field(default=None, description="By stage.")
    open: bool | None = strawberry.field(default=None, description="true: open stages only; false: WON or LOST only.")
    owner: IDFilter | None = strawberry.field(default=None, description="By owner.")
    channel: IDFilter | None = strawberry.field(default=None, description="By channel.")
    registering_partner: IDFilter | None = strawberry.field(default=None, description="By registering partner.")
    amount: DecimalFilter | None = strawberry.field(default=None, description="By amount.")
    currency: StringFilter | None = strawberry.field(default=None, description="By currency.")
    expected_close: DateFilter | None = strawberry.field(default=None, description="By expected close date.")
    created_at: DateTimeFilter | None = strawberry.field(default=None, description="By creation time.")
    and_: list[OpportunityFilter] | None = strawberry.field(default=None, name="and", description="All of these.")
    or_: list[OpportunityFilter] | None = strawberry.field(default=None, name="or", description="Any of these.")
    not_: OpportunityFilter | None = strawberry.field(default=None, name="not", description="Not this.")


@strawberry.enum(description="Fields deals can be ordered by (the id breaks ties).")
class OpportunityOrderField(enum.Enum):
    AMOUNT = "amount"
    CREATED_AT = "created_at"
    STAGE_CHANGED_AT = "stage_changed_at"


@strawberry.input(description="One ordering key.")
class OpportunityOrder:
    field: OpportunityOrderField = strawberry.field(description="Field.")
    direction: OrderDirection = strawberry.field(default=OrderDirection.ASC, description="Default ASC.")


@strawberry.input(description="A new deal.")
class OpportunityCreateInput:
    customer_id: strawberry.ID = strawberry.field(description="The customer.")
    name: str = strawberry.field(description="1 to 200 characters.")
    amount: MoneyInput = strawberry.field(description="Expected value.")
    stage: OpportunityStage = strawberry.field(default=OpportunityStage.LEAD, description="An open stage; default LEAD.")
    probability: int | None = strawberry.field(default=None, description="0 to 100; default: the stage's.")
    expected_close: date | None = strawberry.field(default=None, description="Expected close date.")
    owner_id: strawberry.ID | None = strawberry.field(default=None, description="Owning user.")
    channel_id: strawberry.ID | None = strawberry.field(default=None, description="Channel.")
    registering_partner_id: strawberry.ID | None = strawberry.field(default=None, description="Registering partner.")


@strawberry.input(description="Changes to a deal (not its stage: use opportunityMoveStage).")
class OpportunityUpdateInput:
    name: str | None = strawberry.field(default=strawberry.UNSET, description="Name.")
    amount: MoneyInput | None = strawberry.field(default=strawberry.UNSET, description="Expected value.")
    probability: int | None = strawberry.field(default=strawberry.UNSET, description="0 to 100.")
    expected_close: date | None = strawberry.field(default=strawberry.UNSET, description="Expected close; null clears.")
    owner_id: strawberry.ID | None = strawberry.field(default=strawberry.UNSET, description="Owner; null clears.")
    channel_id: strawberry.ID | None = strawberry.field(default=strawberry.UNSET, description="Channel; null clears.")
    registering_partner_id: strawberry.ID | None = strawberry.field(default=strawberry.UNSET, description="Registering partner; null clears.")


@strawberry.type(description="Result of an opportunity mutation.")
class OpportunityPayload:
    opportunity: OpportunityType | None = strawberry.field(description="The deal; null when errors is not empty.")
    errors: list[OpportunityError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="One column of the pipeline board: a stage, its totals and its first deals.")
class PipelineColumn:
    stage: OpportunityStage = strawberry.field(description="The stage.")
    deal_count: int = strawberry.field(description="Deals in the stage (under the filter).")
    amounts: list[Money] = strawberry.field(description="Total amount per currency.")
    weighted_amounts: list[Money] = strawberry.field(description="Total weighted amount (amount x probability) per currency.")
    _relation: strawberry.Private[object]

    @strawberry.field(description=f"The deals in the stage, most recently moved first. {PAGE_ARGUMENTS_HELP}")
    async def opportunities(self, info: Info, first: int | None = None, after: str | None = None,
                            last: int | None = None, before: str | None = None) -> Connection[OpportunityType]:
        return await nested_connection(info, self._relation, self.stage.value, OpportunityType.from_row,
                                       first=first, after=after, last=last, before=before)


