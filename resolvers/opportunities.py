"""The opportunities domain's list builders and Query/Mutation bodies; its types are in schema/opportunities.py."""

from __future__ import annotations

import strawberry
from sqlalchemy import and_
from strawberry.types import Info

from crm import activities as activity_service
from crm import opportunities as service
from models import Activity, OpportunityStage
from models import Opportunity as OpportunityRow
from resolvers.lists import filter_clause
from resolvers.loaders import NestedList
from resolvers import scoping
from resolvers.mutations import mutate
from resolvers.ids import decode_id, decode_optional_id
from schema.common import Money, given, nested, payload_errors
from schema.filters import order_pairs, to_spec
from schema.fields import money, root_connection
from schema.pagination import PAGE_ARGUMENTS_HELP, Connection
from schema.permissions import Staff, StaffOrOwnAccount, StaffOwning, guarded_field, guarded_mutation
from schema.opportunities import (
    OpportunityCreateInput, OpportunityError, OpportunityErrorCode, OpportunityFilter, OpportunityOrder,
    OpportunityPayload, OpportunityType, OpportunityUpdateInput, PipelineColumn,
)


OPPORTUNITY_ID_FILTERS = {"customer": "Customer", "owner": "User", "channel": "Channel", "registering_partner": "Customer"}
OPPORTUNITY_ACTIVITIES = nested("opportunity.activities", None, activity_service.activities_statement(),
                                Activity.opportunity_id, activity_service.activity_ordering([]))


def opportunity_activities(principal) -> NestedList:
    """A deal's `activities` (schema/fields.connection)."""
    return OPPORTUNITY_ACTIVITIES


def _values(input_object) -> dict:
    values = given(input_object)
    if "amount" in values:
        money = values.pop("amount")
        values["amount"] = money.amount if money else None
        if money:
            values["currency"] = money.currency
    for name, type_name in (("owner_id", "User"), ("channel_id", "Channel"), ("registering_partner_id", "Customer")):
        if name in values:
            values[name] = decode_optional_id(values[name], type_name, name)
    return values


def _payload(row, errors) -> OpportunityPayload:
    return OpportunityPayload(opportunity=OpportunityType.from_row(row) if row else None,
                              errors=payload_errors(errors, OpportunityError, OpportunityErrorCode))


def opportunities_list(principal, filter: OpportunityFilter | None = None,
                            order_by: list[OpportunityOrder] | None = None):
    """The rows and ordering of `opportunities`."""
    spec = to_spec(filter, OPPORTUNITY_ID_FILTERS)
    fields = scoping.visible_filter_fields(service.FILTER_FIELDS, OPPORTUNITY_ID_FILTERS, principal)
    statement = service.opportunities_statement(and_(filter_clause(spec, fields, service.FILTER_SPECIAL),
                                                     scoping.opportunities_scope(principal)))
    ordering = service.opportunity_ordering(order_pairs(order_by))
    return statement, ordering


@strawberry.type
class OpportunityQueries:
    opportunities: Connection[OpportunityType] = root_connection(
        opportunities_list, description=f"Deals. Default order: by id. {PAGE_ARGUMENTS_HELP}", permissions=[StaffOrOwnAccount])

    @guarded_field(description="The pipeline board: one column per stage in pipeline order, with counts, totals per "
                   "currency and the deals of each column (batched: one statement for all columns).",
                   permissions=[Staff])
    async def pipeline(self, info: Info, filter: OpportunityFilter | None = None) -> list[PipelineColumn]:
        spec = to_spec(filter, OPPORTUNITY_ID_FILTERS)
        condition = filter_clause(spec, service.FILTER_FIELDS, service.FILTER_SPECIAL)
        async with info.context.database.session() as session:
            totals = (await session.execute(service.pipeline_statement(condition))).all()
        relation = nested("pipeline", spec, service.opportunities_statement(condition), OpportunityRow.stage,
                          service.opportunity_ordering([("stage_changed_at", True)]))
        columns = []
        for stage in OpportunityStage:
            rows = sorted((r for r in totals if r.stage == stage.value), key=lambda r: r.currency)
            columns.append(PipelineColumn(
                stage=stage, deal_count=sum(r.deals for r in rows),
                amounts=[Money.of(r.amount, r.currency) for r in rows],
                weighted_amounts=[Money.of(r.weighted, r.currency) for r in rows],
                _relation=relation,
            ))
        return columns


@strawberry.type
class OpportunityMutations:
    @guarded_mutation(description="Create a deal in an open stage; its first stage-history entry is recorded.", idempotent=True, permissions=[StaffOwning])
    async def opportunity_create(self, info: Info, input: OpportunityCreateInput) -> OpportunityPayload:
        async def action(session):
            values = _values(input)
            customer_id = decode_id(values.pop("customer_id"), "Customer", "customer_id")
            stage = OpportunityStage(values.pop("stage"))
            principal = info.context.principal
            if principal.role == "sales":  # a sales user's new deals are its own
                if values.get("owner_id") not in (None, principal.user_id):
                    raise scoping.forbidden("Sales creates deals it owns.")
                values["owner_id"] = principal.user_id
            return await service.create_opportunity(session, customer_id, values, stage=stage, actor_id=info.context.actor_id)
        return _payload(*await mutate(info.context, action))

    @guarded_mutation(description="Change a deal's terms. A WON or LOST deal only takes a new owner or expected close.", permissions=[StaffOwning])
    async def opportunity_update(self, info: Info, id: strawberry.ID, input: OpportunityUpdateInput) -> OpportunityPayload:
        async def action(session):
            pk = decode_id(id, "Opportunity", "id")
            await scoping.require_owner(session, info.context.principal, "opportunity", pk)
            return await service.update_opportunity(session, pk, _values(input))
        return _payload(*await mutate(info.context, action))

    @guarded_mutation(description="Move a deal to another stage, recording the move. Allowed: between open stages either "
                      "way; from an open stage to WON or LOST (LOST needs lostReason); LOST back to LEAD or QUALIFIED; "
                      "WON is final. The stage's default probability applies unless `probability` is given.",
                      permissions=[StaffOwning])
    async def opportunity_move_stage(self, info: Info, id: strawberry.ID, stage: OpportunityStage,
                                     lost_reason: str | None = None, probability: int | None = None) -> OpportunityPayload:
        async def action(session):
            pk = decode_id(id, "Opportunity", "id")
            await scoping.require_owner(session, info.context.principal, "opportunity", pk)
            return await service.move_stage(session, pk, stage, lost_reason=lost_reason,
                                            probability=probability, actor_id=info.context.actor_id)
        return _payload(*await mutate(info.context, action))
