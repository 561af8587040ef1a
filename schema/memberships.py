"""Memberships over GraphQL: what a partner sees about itself, enrolment by fee, the
ledger, overrides, training bookings, the tier at a date, price quotes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from decimal import Decimal
from types import SimpleNamespace
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from kernel.references import render_refs
from models import (
    FeePayment, OverrideKind, Product, QualifyingEntry, TierChange, TierChangeReason, TierOverride, TrainingBooking,
)
from models import Membership as MembershipRow
from schema.fields import RowObject, column, global_id, load_node, money
from resolvers import scoping
from resolvers.errors import ApiError, ErrorCode
from schema.common import Money, MoneyInput, gid, list_connection
from schema.pagination import PAGE_ARGUMENTS_HELP, Connection
from schema.errors import error_codes, error_type
from schema.node import NODE_TYPES, Node
from schema.programmes import ProgrammeType, Tier
from tiers.errors import MembershipErrorCode as MembershipCodes
from tiers import view as views
from tiers.statement import ORDERING as ENTRY_ORDERING
from tiers.statement import EntryKind, entries_statement, entry_kind, source_record, statement_window
from tiers.view import MembershipView, membership_view

T = TypeVar("T")

if TYPE_CHECKING:
    from schema.customers import CustomerType
    from schema.products import ProductType

strawberry.enum(TierChangeReason, description="Why the tier in force changed.")
strawberry.enum(OverrideKind, description="FLOOR: at least this tier; LOCK: exactly this tier.")
MembershipErrorCode = error_codes(MembershipCodes, "membership")
MembershipError = error_type("MembershipError", MembershipErrorCode, "membership", details={
    "amount_due": (Decimal, "FEE_TOO_LOW: the amount due, in the programme's currency (the entry fee, less the "
                   "unexpired part of a lower fee when upgrading)."),
})


def now() -> datetime:
    return datetime.now(timezone.utc)


@strawberry.type(name="TierChange", description="One change of a member's tier, explained.")
class TierChangeType(RowObject):
    from_rank: int = column("from_rank", description="The tier in force at `at` just before this change (0: none).")
    to_rank: int = column("to_rank", description="The tier in force at `at` after it (0: none).")
    reason: TierChangeReason = column("reason", description="Why.")
    at: datetime = column("at", description="When.")
    window_start: datetime | None = column("window_start", description="Start of the window whose volume counted.")
    window_end: datetime | None = column("window_end", description="End of that window.")
    qualifying_volume: Decimal | None = column("qualifying_volume", description="The volume that counted.")
    rule_version_id: strawberry.ID | None = global_id("RuleVersion", column_name="rule_version_id",
                                                       description="The rule version applied.")
    earned_rank: int = column("earned_rank", description="Tier earned by volume from this change on (0: none).")
    _row: strawberry.Private[TierChange]

    @strawberry.field(description="Which rule and thresholds decided, and the values compared; other objects (fee "
                      "payments, overrides, the rule version, what lapsed) by their global IDs.")
    def explanation(self) -> JSON:
        return render_refs(self._row.explanation)

    @classmethod
    def in_force(cls, row: TierChange, rank: int) -> TierChangeType:
        """The history row that explains the tier in force at an instant, with that tier
        as `toRank` (lower than the row's when a lapse has not been recorded yet)."""
        values = {c.key: getattr(row, c.key) for c in TierChange.__table__.columns}
        return cls(_row=SimpleNamespace(**{**values, "to_rank": rank}))


@strawberry.type(name="TrainingBooking", description="A training session booked against the quota.")
class TrainingBookingType(Node):
    id: strawberry.ID = global_id("TrainingBooking")
    title: str = column("title", description="What the session is.")
    session_at: datetime = column("session_at", description="When it takes place.")
    status: str = column("status", description="booked or cancelled.")
    created_at: datetime = column("created_at", description="When it was booked.")
    cancelled_at: datetime | None = column("cancelled_at", description="When it was cancelled.")

    _row: strawberry.Private[TrainingBooking]


@strawberry.type(name="FeePayment", description="An entry fee paid: it holds its tier over [termStart, termEnd) unless refunded.")
class FeePaymentType(Node):
    id: strawberry.ID = global_id("FeePayment")
    tier_rank: int = column("tier_rank", description="The tier it paid for.")
    amount: Money = money("amount", description="What was paid.")
    credit_amount: Money = money("credit_amount", description="Credited on an upgrade: the unexpired part of the "
                                 "lower fee payment `creditedPaymentId` (0 otherwise); amount + credit bought the term.")
    credited_payment_id: strawberry.ID | None = global_id(
        "FeePayment", column_name="credited_payment_id",
        description="The lower fee payment whose unexpired part was credited; that payment stays as it was.")
    term_start: datetime = column("term_start", description="Start of the term.")
    term_end: datetime = column("term_end", description="End of the term.")
    refunded_at: datetime | None = column("refunded_at", description="When refunded (the term ended then).")

    _row: strawberry.Private[FeePayment]


@strawberry.type(name="TierOverride", description="A manual floor or lock on a member's tier.")
class TierOverrideType(Node):
    id: strawberry.ID = global_id("TierOverride")
    kind: OverrideKind = column("kind", description="FLOOR or LOCK.")
    tier_rank: int = column("tier_rank", description="The tier it sets.")
    reason: str = column("reason", description="Why.")
    starts_at: datetime = column("starts_at", description="From when.")
    expires_at: datetime | None = column("expires_at", description="Until when; null: until revoked.")
    revoked_at: datetime | None = column("revoked_at", description="When revoked.")

    _row: strawberry.Private[TierOverride]


strawberry.enum(EntryKind, name="QualifyingEntryKind", description="What a qualifying ledger entry records: a placed "
                "order (adds), a return or a cancellation (subtract), an admin's adjustment (either); OTHER for a "
                "source this server does not know.")


@strawberry.type(name="QualifyingEntry", description="One entry of the qualifying ledger: what it added to (or took "
                 "from) the member's qualifying volume, when, and the record it came from.")
class QualifyingEntryType:
    occurred_at: datetime = strawberry.field(description="When it counts (the order placed, the return made, ...).")
    amount: Money = strawberry.field(description="Signed: orders add, returns and cancellations subtract.")
    kind: EntryKind = strawberry.field(description="ORDER, RETURN, CANCELLATION or ADJUSTMENT.")
    source: str = strawberry.field(description="The ledger's key for it: order:<n>, return:<n>, cancel:<n>, adjustment:<key>.")
    source_id: strawberry.ID | None = strawberry.field(
        description="The record it came from as a global ID (an Order, or an OrderReturn); null for adjustments.")
    reason: str | None = strawberry.field(description="An adjustment's reason.")
    recorded_at: datetime = strawberry.field(description="When it was written to the ledger.")

    @classmethod
    def of(cls, row: QualifyingEntry, currency: str) -> QualifyingEntryType:
        record = source_record(row.source)
        return cls(occurred_at=row.occurred_at, amount=Money.of(row.amount, currency), kind=entry_kind(row.source),
                   source=row.source, source_id=gid(*record) if record else None, reason=row.reason,
                   recorded_at=row.created_at)


async def _no_entries() -> int:
    return 0


@strawberry.type(description="Training sessions of the current benefit period (the benefit `training` of `benefits`).")
class TrainingQuota:
    granted: int = strawberry.field(description="Granted this benefit period (an upgrade tops up the difference).")
    used: int = strawberry.field(description="Booked and not cancelled in time.")
    remaining: int = strawberry.field(description="granted - used, never below 0 (nothing is clawed back).")


@strawberry.type(description="A benefit quota of the current benefit period: training sessions, co-marketing days, ...")
class BenefitQuota:
    code: str = strawberry.field(description="The benefit, as benefitUse names it (`training` for training sessions).")
    name: str = strawberry.field(description="What it is.")
    granted: int = strawberry.field(description="Granted this benefit period (an upgrade tops up the difference).")
    used: int = strawberry.field(description="Used this benefit period (training: booked and not cancelled in time).")
    remaining: int = strawberry.field(description="granted - used, never below 0 (nothing is clawed back).")
    period_start: datetime = strawberry.field(description="Start of the benefit period (in the programme's time zone).")
    period_end: datetime = strawberry.field(description="End of the benefit period, exclusive.")


@strawberry.type(description="The next tier and what it takes.")
class NextTier:
    tier: Tier = strawberry.field(description="The next tier up.")
    amount_to_go: Money = strawberry.field(description="Qualifying volume still to buy in the current window.")
    window_end: datetime = strawberry.field(description="When the current period ends.")


@strawberry.type(name="Membership", description="An account in a grade programme: its tier, benefits and progress.")
class MembershipType(Node):
    joined_at: datetime = strawberry.field(description="When the account joined.")
    as_of: datetime = strawberry.field(description="The instant the figures below are for.")
    tier: Tier | None = strawberry.field(description="The tier in force (null: none).")
    valid_until: datetime | None = strawberry.field(description=(
        "Until when the sources that give the tier in force at `asOf` guarantee it, as they stood then (fee terms, "
        "floors, the earned tier until an assessment may demote it, or a lock), in the programme's time zone; null: no "
        "tier, or no end."))
    earned_rank: int = strawberry.field(description="Tier earned by volume (0: none).")
    fee_rank: int = strawberry.field(description="Tier held by a paid entry fee (0: none).")
    qualifying_volume: Money = strawberry.field(description="Qualifying volume in the current window so far.")
    window_start: datetime = strawberry.field(description="Start of the current window.")
    window_end: datetime = strawberry.field(description="End of the current period (the next assessment).")
    next_tier: NextTier | None = strawberry.field(description="The next tier and the amount still to buy; null at the top.")
    amount_to_keep: Money | None = strawberry.field(description="Volume still needed this window to keep the earned tier at the next assessment.")
    training: TrainingQuota = strawberry.field(description="Training quota of the current benefit period.")
    benefits: list[BenefitQuota] = strawberry.field(description="Every benefit quota of the current benefit period, "
                                                    "training first.")
    _view: strawberry.Private[MembershipView]

    # The lists are read only when asked for (a partner's tier screen does not).
    @strawberry.field(description="Booked sessions still to come.")
    async def upcoming_bookings(self, info: Info) -> list[TrainingBookingType]:
        rows = await _read(info, lambda session: views.upcoming_bookings(session, self._view.membership.id, self._view.at))
        return [TrainingBookingType.from_row(row) for row in rows]

    @strawberry.field(description="Every tier change, oldest first.")
    async def history(self, info: Info) -> list[TierChangeType]:
        rows = await _read(info, lambda session: views.history(session, self._view.membership.id))
        return [TierChangeType.from_row(row) for row in rows]

    @strawberry.field(description="Entry fees paid.")
    async def fee_payments(self, info: Info) -> list[FeePaymentType]:
        rows = await _read(info, lambda session: views.fee_payments(session, self._view.membership.id))
        return [FeePaymentType.from_row(row) for row in rows]

    @strawberry.field(description="Manual floors and locks, oldest first.")
    async def overrides(self, info: Info) -> list[TierOverrideType]:
        rows = await _read(info, lambda session: views.overrides(session, self._view.membership.id))
        return [TierOverrideType.from_row(row) for row in rows]

    @strawberry.field(description="The ledger entries that make up the qualifying volume of a window, oldest first: "
                      "by default the current window as of `asOf` (they sum to `qualifyingVolume`); `windowAt`, an "
                      "instant inside a window, chooses another (a past year: its entries in [start, end)). "
                      f"{PAGE_ARGUMENTS_HELP}")
    async def qualifying_entries(self, info: Info, window_at: datetime | None = None, first: int | None = None,
                                 after: str | None = None, last: int | None = None,
                                 before: str | None = None) -> Connection[QualifyingEntryType]:
        view = self._view
        if not scoping.own_account_only(info.context.principal, view.membership.account_id):
            return Connection.count_only(_no_entries)
        if window_at is not None and window_at.tzinfo is None:
            raise ApiError(ErrorCode.BAD_USER_INPUT, "Give `windowAt` with its UTC offset.", argument="windowAt")
        window = statement_window(view.membership, view.programme, view.at, window_at)
        currency = view.programme.currency
        return await list_connection(info, entries_statement(view.membership.id, window), ENTRY_ORDERING,
                                     lambda row: QualifyingEntryType.of(row, currency),
                                     first=first, after=after, last=last, before=before)

    @strawberry.field(description="The programme.")
    def programme(self) -> ProgrammeType:
        return ProgrammeType.from_row(self._view.programme)

    @strawberry.field(description="The member account.")
    async def account(self, info: Info) -> Annotated["CustomerType", strawberry.lazy("schema.customers")]:
        return await load_node(info, "Customer", self._view.membership.account_id)

    @classmethod
    def of(cls, view: MembershipView) -> MembershipType:
        c = view.programme.currency
        return cls(
            id=gid("Membership", view.membership.id), joined_at=view.membership.joined_at, as_of=view.at,
            tier=Tier.of(view.tier, c) if view.tier else None, valid_until=view.valid_until,
            earned_rank=view.state.earned, fee_rank=view.state.fee, qualifying_volume=Money.of(view.volume, c),
            window_start=view.window.start, window_end=view.period.end,
            next_tier=NextTier(tier=Tier.of(view.next_tier, c), amount_to_go=Money.of(view.amount_to_next, c),
                               window_end=view.period.end) if view.next_tier else None,
            amount_to_keep=Money.of(view.amount_to_keep, c) if view.amount_to_keep is not None else None,
            training=TrainingQuota(granted=view.training_granted, used=view.training_used, remaining=view.training_remaining),
            benefits=[BenefitQuota(code=q.code, name=q.name, granted=q.granted, used=q.used, remaining=q.remaining,
                                   period_start=q.period.start, period_end=q.period.end) for q in view.benefits],
            _view=view,
        )


async def _read(info: Info, read: Callable[[Any], Awaitable[T]]) -> T:
    async with info.context.database.read_session() as session:
        return await read(session)


async def _membership_node(info: Info, row: MembershipRow) -> MembershipType:
    async with info.context.database.session() as session:
        return MembershipType.of(await membership_view(session, row, now()))


NODE_TYPES["Membership"] = _membership_node
NODE_TYPES["TrainingBooking"] = TrainingBookingType.from_row
NODE_TYPES["FeePayment"] = FeePaymentType.from_row
NODE_TYPES["TierOverride"] = TierOverrideType.from_row


@strawberry.type(description="A quoted line.")
class QuoteLine:
    quantity: int = strawberry.field(description="Units.")
    list_unit_price: Money = strawberry.field(description="List price per unit.")
    discount_rate: Decimal = strawberry.field(description="Discount applied.")
    net_unit_price: Money = strawberry.field(description="Price per unit after discount.")
    line_total: Money = strawberry.field(description="quantity x netUnitPrice.")
    _product: strawberry.Private[Product]

    @strawberry.field(description="The product.")
    def product(self) -> Annotated["ProductType", strawberry.lazy("schema.products")]:
        from schema.products import ProductType

        return ProductType.from_row(self._product)


@strawberry.type(description="Prices for a customer at an instant: the same function prices orders.")
class PriceQuote:
    at: datetime = strawberry.field(description="The instant priced.")
    tier_code: str | None = strawberry.field(description="The tier whose discount applied; null for none.")
    discount_rate: Decimal = strawberry.field(description="The discount applied.")
    lines: list[QuoteLine] = strawberry.field(description="The lines.")
    total: Money = strawberry.field(description="Sum of line totals.")


@strawberry.input(description="A product and quantity to quote.")
class QuoteLineInput:
    product_id: strawberry.ID = strawberry.field(description="A product.")
    quantity: int = strawberry.field(description="1 to 1,000,000.")


@strawberry.input(description="An entry fee payment.")
class FeePaymentInput:
    amount: MoneyInput = strawberry.field(description="At least the tier's entry fee, in the programme's currency.")
    paid_at: datetime | None = strawberry.field(default=None, description="When it was paid; default now.")


@strawberry.input(description="Enrolment of an account in a programme by paying a tier's entry fee.")
class MembershipEnrollInput:
    account_id: strawberry.ID = strawberry.field(description="The customer (a partner, for agent programmes).")
    programme_id: strawberry.ID = strawberry.field(description="The programme.")
    tier_code: str = strawberry.field(description="The tier paid for, by code.")
    fee_payment: FeePaymentInput = strawberry.field(description="The payment.")


@strawberry.type(description="Result of a membership mutation.")
class MembershipPayload:
    membership: MembershipType | None = strawberry.field(description="The membership after the change; null on errors.")
    errors: list[MembershipError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="Result of trainingBook / trainingCancel.")
class TrainingBookingPayload:
    booking: TrainingBookingType | None = strawberry.field(description="The booking; null on errors.")
    errors: list[MembershipError] = strawberry.field(description="Empty on success.")


