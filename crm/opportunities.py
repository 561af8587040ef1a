"""Opportunities (deals): creation, changes, and moves through the pipeline.

Stage moves (documented in the schema's `opportunityMoveStage`):
- open stages are LEAD, QUALIFIED, PROPOSAL, NEGOTIATION; a deal moves freely between
  them, forwards or back (a proposal can go back to qualification);
- from any open stage to WON or LOST; LOST needs a reason;
- WON is final (an order follows a won deal; undoing it would rewrite history);
- LOST may be reopened to LEAD or QUALIFIED;
- moving to the stage a deal is in is refused (NO_CHANGE).
Each move is recorded in opportunity_stage_change and sets the stage's default
probability unless the move gives one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.errors import Code, DomainError, domain_codes
from kernel.filtering import FilterField
from kernel.pagination import DECIMAL_KEY, TIME_KEY, Sortable, build_ordering
from kernel.references import active_user, live, live_channel, live_partner
from kernel.validation import Checker
from models import Customer, Opportunity, OpportunityStage, OpportunityStageChange

OpportunityErrorCode = domain_codes("OpportunityErrorCode", "not_a_partner", "invalid_stage_move", "lost_reason_required")

S = OpportunityStage
OPEN_STAGES = (S.LEAD, S.QUALIFIED, S.PROPOSAL, S.NEGOTIATION)
DEFAULT_PROBABILITY = {S.LEAD: 10, S.QUALIFIED: 25, S.PROPOSAL: 50, S.NEGOTIATION: 75, S.WON: 100, S.LOST: 0}
ALLOWED_MOVES: dict[OpportunityStage, frozenset[OpportunityStage]] = {
    **{stage: frozenset(set(OPEN_STAGES) - {stage} | {S.WON, S.LOST}) for stage in OPEN_STAGES},
    S.WON: frozenset(),
    S.LOST: frozenset({S.LEAD, S.QUALIFIED}),
}

FIELDS = ("name", "amount", "currency", "probability", "expected_close", "owner_id", "channel_id", "registering_partner_id")


def _clean(values: Mapping[str, Any], *, allow_null_probability: bool = False) -> dict[str, Any]:
    check = Checker()
    clean: dict[str, Any] = {}
    for name, value in values.items():
        if name == "name":
            clean[name] = check.text("name", value, max_len=200, required=True)
        elif name == "amount":
            clean[name] = check.money("amount", value)
        elif name == "currency":
            clean[name] = check.currency("currency", value)
        elif name == "probability":
            clean[name] = check.integer("probability", value, 0, 100)
            if value is None and not allow_null_probability:
                check.fail("probability", "probability is 0 to 100, not null.", Code.REQUIRED)
        elif name == "expected_close":
            clean[name] = check.day("expected_close", value)
        elif name == "lost_reason":
            clean[name] = check.text("lost_reason", value, max_len=500, label="lost reason")
        else:
            clean[name] = value
    check.done()
    return clean


async def _check_references(session: AsyncSession, values: Mapping[str, Any]) -> None:
    if values.get("owner_id") is not None:
        await active_user(session, values["owner_id"], "owner_id")
    if values.get("channel_id") is not None:
        await live_channel(session, values["channel_id"], "channel_id")
    if values.get("registering_partner_id") is not None:
        await live_partner(session, values["registering_partner_id"], "registering_partner_id")


async def create_opportunity(session: AsyncSession, customer_id: int, data: Mapping[str, Any], *,
                             stage: OpportunityStage = S.LEAD, actor_id: int | None) -> Opportunity:
    values = _clean(data, allow_null_probability=True)
    for required in ("amount", "currency"):
        if values.get(required) is None:
            raise DomainError.one(required, f"A deal needs its {required}.", Code.REQUIRED)
    if stage not in OPEN_STAGES:
        raise DomainError.one("stage", "A new deal starts in an open stage; move it to WON or LOST afterwards.",
                              OpportunityErrorCode.INVALID_STAGE_MOVE)
    await live(session, Customer, customer_id, "customer_id", "customer")
    await _check_references(session, values)
    if values.get("probability") is None:
        values["probability"] = DEFAULT_PROBABILITY[stage]
    opportunity = Opportunity(customer_id=customer_id, stage=stage.value, **values)
    session.add(opportunity)
    await session.flush()
    session.add(OpportunityStageChange(opportunity_id=opportunity.id, from_stage=None, to_stage=stage.value,
                                       probability=opportunity.probability, changed_by_id=actor_id))
    await session.flush()
    return opportunity


async def update_opportunity(session: AsyncSession, opportunity_id: int, changes: Mapping[str, Any]) -> Opportunity:
    opportunity = await _get(session, opportunity_id)
    values = _clean(changes)
    if opportunity.stage in (S.WON, S.LOST) and set(values) - {"expected_close", "owner_id"}:
        raise DomainError.one(None, "A closed deal keeps its terms; reopen a lost deal first.",
                              OpportunityErrorCode.INVALID_STAGE_MOVE)
    await _check_references(session, values)
    for name, value in values.items():
        setattr(opportunity, name, value)
    await session.flush()
    return opportunity


async def move_stage(session: AsyncSession, opportunity_id: int, to: OpportunityStage, *,
                     lost_reason: str | None = None, probability: int | None = None,
                     actor_id: int | None) -> Opportunity:
    opportunity = await _get(session, opportunity_id)
    current = OpportunityStage(opportunity.stage)
    values = _clean({"lost_reason": lost_reason, "probability": probability}, allow_null_probability=True)
    if to == current:
        raise DomainError.one("stage", f"The deal is already in {to.name}.", Code.NO_CHANGE)
    if to not in ALLOWED_MOVES[current]:
        allowed = ", ".join(s.name for s in OpportunityStage if s in ALLOWED_MOVES[current]) or "none (WON is final)"
        raise DomainError.one("stage", f"A deal in {current.name} cannot move to {to.name}; allowed: {allowed}.",
                              OpportunityErrorCode.INVALID_STAGE_MOVE)
    if to == S.LOST and not values["lost_reason"]:
        raise DomainError.one("lost_reason", "Say why the deal was lost.", OpportunityErrorCode.LOST_REASON_REQUIRED)
    opportunity.stage = to.value
    opportunity.lost_reason = values["lost_reason"] if to == S.LOST else None
    opportunity.probability = values["probability"] if values["probability"] is not None else DEFAULT_PROBABILITY[to]
    opportunity.stage_changed_at = func.now()
    session.add(OpportunityStageChange(opportunity_id=opportunity.id, from_stage=current.value, to_stage=to.value,
                                       probability=opportunity.probability, changed_by_id=actor_id))
    await session.flush()
    await session.refresh(opportunity)
    return opportunity


async def _get(session: AsyncSession, opportunity_id: int) -> Opportunity:
    opportunity = (await session.execute(
        select(Opportunity).where(Opportunity.id == opportunity_id).with_for_update()
    )).scalar_one_or_none()
    if opportunity is None:
        raise DomainError.one("id", "No opportunity has this ID.", Code.NOT_FOUND)
    return opportunity


FILTER_FIELDS = {
    "customer": FilterField(Opportunity.customer_id, "id"),  # ix_opportunity_customer_id_id
    "stage": FilterField(Opportunity.stage, "enum"),  # ix_opportunity_stage_id
    "owner": FilterField(Opportunity.owner_id, "id"),  # ix_opportunity_owner_id_id
    "channel": FilterField(Opportunity.channel_id, "id"),  # ix_opportunity_channel_id
    "registering_partner": FilterField(Opportunity.registering_partner_id, "id"),  # ix_opportunity_registering_partner_id
    "amount": FilterField(Opportunity.amount, "number"),  # ix_opportunity_amount_id
    "currency": FilterField(Opportunity.currency, "text"),
    "expected_close": FilterField(Opportunity.expected_close, "time"),  # ix_opportunity_expected_close_id
    "created_at": FilterField(Opportunity.created_at, "time"),  # ix_opportunity_created_at_id
}
FILTER_SPECIAL = {
    "open": lambda v: Opportunity.stage.in_([s.value for s in OPEN_STAGES]) if v
    else Opportunity.stage.in_([S.WON.value, S.LOST.value]),
}
SORTABLE = {
    "amount": Sortable(Opportunity.amount, "amount", DECIMAL_KEY),  # ix_opportunity_amount_id
    "created_at": Sortable(Opportunity.created_at, "created_at", TIME_KEY),  # ix_opportunity_created_at_id
    "stage_changed_at": Sortable(Opportunity.stage_changed_at, "stage_changed_at", TIME_KEY),
}


def opportunity_ordering(requested: list[tuple[str, bool]]):
    return build_ordering(SORTABLE, requested, Opportunity.id)


def opportunities_statement(condition: Any = None) -> Select:
    return select(Opportunity).where(condition) if condition is not None else select(Opportunity)


def stage_history_statement() -> Select:
    return select(OpportunityStageChange)


def pipeline_statement(condition: Any = None) -> Select:
    """Per stage and currency: deals, total amount, weighted amount (amount x probability)."""
    statement = select(
        Opportunity.stage,
        Opportunity.currency,
        func.count().label("deals"),
        func.sum(Opportunity.amount).label("amount"),
        func.sum(Opportunity.amount * Opportunity.probability / 100).label("weighted"),
    ).group_by(Opportunity.stage, Opportunity.currency)
    if condition is not None:
        statement = statement.where(condition)
    return statement
