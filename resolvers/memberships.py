"""The memberships domain's Query/Mutation bodies; its types are in schema/memberships.py."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry.types import Info

from crm import pricing
from crm import products as product_service
from kernel.errors import DomainError
from models import FeePayment, OverrideKind, Product, TierOverride, TrainingBooking
from models import Membership as MembershipRow
from resolvers.errors import ApiError, ErrorCode
from resolvers import scoping
from resolvers.mutations import mutate
from resolvers.ids import decode_id, from_global_id
from schema.common import Money, camel, payload_errors
from schema.permissions import Admins, ManagersOrOwnMembership, Partners, StaffOrOwnAccount, guarded_field, guarded_mutation
from schema.memberships import (
    MembershipEnrollInput, MembershipError, MembershipErrorCode, MembershipPayload, MembershipType, PriceQuote,
    QuoteLine, QuoteLineInput, TierChangeType, TrainingBookingPayload, TrainingBookingType, now,
)
from tiers import benefits, ledger, membership as service
from tiers.view import membership_and_programme_of, membership_of, membership_view

async def _membership_by_id(info: Info, pk: int) -> MembershipType | None:
    async with info.context.database.session() as session:
        row = await session.get(MembershipRow, pk)
        return MembershipType.of(await membership_view(session, row, now())) if row else None


async def _payload(info: Info, result, errors) -> MembershipPayload:
    if errors:
        return MembershipPayload(membership=None, errors=payload_errors(errors, MembershipError, MembershipErrorCode))
    membership_id = result.id if isinstance(result, MembershipRow) else result.membership_id
    return MembershipPayload(membership=await _membership_by_id(info, membership_id), errors=[])


def _query_error(error: DomainError) -> ApiError:
    first = error.errors[0]
    code = ErrorCode.INVALID_ID if first.code == "not_found" else ErrorCode.BAD_USER_INPUT
    return ApiError(code, first.message, argument=camel(first.field))


@strawberry.type
class MembershipQueries:
    @guarded_field(description="An account's membership (in `programmeId`, needed when it is in several); null when it "
                   "is not a member. `at` (default now) is the instant the figures are for.", permissions=[StaffOrOwnAccount])
    async def membership(self, info: Info, account_id: strawberry.ID, programme_id: strawberry.ID | None = None,
                         at: datetime | None = None) -> MembershipType | None:
        account = from_global_id(account_id, expected_type="Customer")[1]
        programme = from_global_id(programme_id, expected_type="Programme")[1] if programme_id else None
        if not scoping.own_account_only(info.context.principal, account):
            return None  # another account's membership: not even whether it exists
        return await _view_of(info, account, programme, at)

    @guarded_field(description="The caller's own membership: the partner account comes from the caller, never from "
                   "an argument.", permissions=[Partners])
    async def my_membership(self, info: Info, programme_id: strawberry.ID | None = None) -> MembershipType | None:
        principal = info.context.principal
        if principal.account_id is None:
            raise ApiError(ErrorCode.FORBIDDEN, "Only partner users have a membership of their own.")
        programme = from_global_id(programme_id, expected_type="Programme")[1] if programme_id else None
        return await _view_of(info, principal.account_id, programme, None)

    @guarded_field(description="The tier an account had in force at an instant: `toRank` is that tier, computed at "
                   "the instant from fee terms, the earned tier then, overrides and the rules then (a lapse counts from "
                   "its exact instant, recorded or not); the other fields are the latest history row at or before it, "
                   "which explains it. Null before any history.",
                   permissions=[StaffOrOwnAccount])
    async def tier_at(self, info: Info, account_id: strawberry.ID, at: datetime,
                      programme_id: strawberry.ID | None = None) -> TierChangeType | None:
        account = from_global_id(account_id, expected_type="Customer")[1]
        programme = from_global_id(programme_id, expected_type="Programme")[1] if programme_id else None
        if not scoping.own_account_only(info.context.principal, account):
            return None
        async with info.context.database.session() as session:
            try:
                membership = await membership_of(session, account, programme)
            except DomainError as error:
                if error.errors[0].code == "not_a_member":
                    return None
                raise _query_error(error) from None  # in several programmes: say which, as membership does
            state, row = await service.tier_at(session, membership, at)
        return TierChangeType.in_force(row, state.effective) if row else None

    @guarded_field(description="Prices for an account at an instant (default now) from its tier: the function that "
                   "prices orders, so two quotes at one instant are identical whoever asks.", permissions=[StaffOrOwnAccount])
    async def price_quote(self, info: Info, account_id: strawberry.ID, lines: list[QuoteLineInput],
                          at: datetime | None = None) -> PriceQuote:
        account = from_global_id(account_id, expected_type="Customer")[1]
        if not scoping.own_account_only(info.context.principal, account):
            # another partner's account is not found, as everywhere (resolvers/scoping.py)
            raise ApiError(ErrorCode.INVALID_ID, "No customer has this ID.", argument="accountId")
        if not lines or len(lines) > 100:
            raise ApiError(ErrorCode.BAD_USER_INPUT, "Quote 1 to 100 lines.", argument="lines")
        if any(not 1 <= line.quantity <= 1_000_000 for line in lines):
            raise ApiError(ErrorCode.BAD_USER_INPUT, "Quantities are 1 to 1,000,000.", argument="lines")
        if at is not None and at.tzinfo is None:
            raise ApiError(ErrorCode.BAD_USER_INPUT, "Give `at` with its UTC offset.", argument="at")
        ids = [from_global_id(line.product_id, expected_type="Product")[1] for line in lines]
        async with info.context.database.session() as session:
            products = await product_service.products_by_ids(session, ids)
            if any(pk not in products for pk in ids):
                raise ApiError(ErrorCode.INVALID_ID, "Unknown product.", argument="lines")
            currencies = {products[pk].currency for pk in ids}
            if len(currencies) > 1:
                raise ApiError(ErrorCode.BAD_USER_INPUT, "Quote products of one currency at a time.", argument="lines")
            result = await pricing.quote(session, account, [(products[pk], line.quantity) for pk, line in zip(ids, lines)],
                                         currencies.pop(), at or now())
        c = result.currency
        return PriceQuote(
            at=result.at, tier_code=result.discount.tier_code, discount_rate=result.discount.rate,
            total=Money.of(result.total, c),
            lines=[QuoteLine(quantity=q, list_unit_price=Money.of(p.list_unit_price, c), discount_rate=p.discount_rate,
                             net_unit_price=Money.of(p.net_unit_price, c), line_total=Money.of(p.line_total, c), _product=prod)
                   for prod, q, p in result.lines])


async def _view_of(info: Info, account: int, programme: int | None, at: datetime | None) -> MembershipType | None:
    async with info.context.database.read_connection() as connection:  # the view only reads
        try:
            membership, programme_row = await membership_and_programme_of(connection, account, programme)
        except DomainError as error:
            if error.errors[0].code == "not_a_member":
                return None
            raise _query_error(error) from None
        return MembershipType.of(await membership_view(connection, membership, at or now(), programme_row))


@strawberry.type
class MembershipMutations:
    @guarded_mutation(description="Enrol an account by paying a tier's entry fee (or more): the tier holds for the "
                      "programme's fee term. Paying again renews or upgrades; an upgrade within a lower tier's fee "
                      "term is due the fee less the unexpired part of the lower payment (pro rata to the exact time "
                      "left, half-up to the cent). A lower payment is refused (FEE_TOO_LOW, with `amountDue`); an "
                      "archived programme takes none (ARCHIVED).", idempotent=True, permissions=[Admins])
    async def membership_enroll(self, info: Info, input: MembershipEnrollInput) -> MembershipPayload:
        async def action(session):
            membership, _ = await service.enroll(
                session, account_id=decode_id(input.account_id, "Customer", "account_id"),
                programme_id=decode_id(input.programme_id, "Programme", "programme_id"), tier_code=input.tier_code,
                amount=input.fee_payment.amount.amount, currency=input.fee_payment.amount.currency,
                at=input.fee_payment.paid_at, actor_id=info.context.actor_id)
            return membership
        return await _payload(info, *await mutate(info.context, action))

    @guarded_mutation(description="Refund an entry fee: its term ends now and the tier is recomputed.", idempotent=True, permissions=[Admins])
    async def fee_refund(self, info: Info, id: strawberry.ID, reason: str | None = None) -> MembershipPayload:
        async def action(session):
            membership, _ = await service.refund_fee(session, decode_id(id, "FeePayment", "id"), reason=reason, at=None,
                                                     actor_id=info.context.actor_id)
            return membership
        return await _payload(info, *await mutate(info.context, action))

    @guarded_mutation(description="Post a qualifying volume adjustment (signed) with a reason. `key` makes a retry "
                      "safe: an adjustment with a key already posted changes nothing.", idempotent=True, permissions=[Admins])
    async def qualifying_adjust(self, info: Info, membership_id: strawberry.ID, amount: Decimal, reason: str,
                                key: str | None = None, occurred_at: datetime | None = None) -> MembershipPayload:
        async def action(session):
            pk = decode_id(membership_id, "Membership", "membership_id")
            await ledger.adjust(session, pk, amount=amount, reason=reason, key=key, occurred_at=occurred_at,
                                actor_id=info.context.actor_id)
            return await session.get(MembershipRow, pk)
        return await _payload(info, *await mutate(info.context, action))

    @guarded_mutation(description="Re-record every paid order (at its payment), return and cancellation of an "
                      "account in its ledgers, in time order; entries already there are left alone (so this never "
                      "double counts).", permissions=[Admins])
    async def qualifying_replay(self, info: Info, account_id: strawberry.ID) -> MembershipPayload:
        async def action(session):
            account = decode_id(account_id, "Customer", "account_id")
            await ledger.replay_customer(session, account)
            return await membership_of(session, account, None)
        return await _payload(info, *await mutate(info.context, action))

    @guarded_mutation(description="Set a manual floor (at least this tier) or lock (exactly this tier), with a reason "
                      "and optional expiry.", idempotent=True, permissions=[Admins])
    async def tier_override_set(self, info: Info, membership_id: strawberry.ID, kind: OverrideKind, tier_code: str,
                                reason: str, expires_at: datetime | None = None) -> MembershipPayload:
        async def action(session):
            return await service.set_override(session, decode_id(membership_id, "Membership", "membership_id"),
                                              kind=kind, tier_code=tier_code, reason=reason, expires_at=expires_at,
                                              at=None, actor_id=info.context.actor_id)
        return await _payload(info, *await mutate(info.context, action))

    @guarded_mutation(description="Revoke a floor or lock before it expires.", permissions=[Admins])
    async def tier_override_revoke(self, info: Info, id: strawberry.ID) -> MembershipPayload:
        async def action(session):
            return await service.revoke_override(session, decode_id(id, "TierOverride", "id"), at=None,
                                                 actor_id=info.context.actor_id)
        return await _payload(info, *await mutate(info.context, action))

    @guarded_mutation(description="Book a training session against the current period's quota (QUOTA_EXHAUSTED when "
                      "none is left, also under concurrent bookings).", idempotent=True, permissions=[ManagersOrOwnMembership])
    async def training_book(self, info: Info, membership_id: strawberry.ID, title: str, session_at: datetime) -> TrainingBookingPayload:
        async def action(session):
            pk = decode_id(membership_id, "Membership", "membership_id")
            if not await scoping.require_own_membership(session, info.context.principal, membership_id=pk):
                raise DomainError.one("membership_id", "No membership has this ID.", "not_found")
            return await benefits.book_training(session, pk,
                                                title=title, session_at=session_at, at=now(), actor_id=info.context.actor_id)
        row, errors = await mutate(info.context, action)
        return TrainingBookingPayload(booking=TrainingBookingType.from_row(row) if row else None,
                                      errors=payload_errors(errors, MembershipError, MembershipErrorCode))

    @guarded_mutation(description="Use `quantity` units (default 1) of a benefit of the current benefit period, e.g. "
                      "co-marketing fund days, with a note. Refused, changing nothing: a code the membership has no "
                      "benefit of (UNKNOWN_BENEFIT), a quantity below 1 (OUT_OF_RANGE), more than remains "
                      "(QUOTA_EXHAUSTED, also under concurrent uses).", idempotent=True,
                      permissions=[ManagersOrOwnMembership])
    async def benefit_use(
        self, info: Info, membership_id: strawberry.ID,
        benefit: Annotated[str, strawberry.argument(description="The benefit's code (Tier.extraBenefits.code; "
                                                                 "`training` for training sessions).")],
        quantity: Annotated[int, strawberry.argument(description="Units to use, 1 to 10,000; default 1.")] = 1,
        note: Annotated[str | None, strawberry.argument(description="What it was used for, up to 500 characters.")] = None,
    ) -> MembershipPayload:
        async def action(session):
            pk = decode_id(membership_id, "Membership", "membership_id")
            if not await scoping.require_own_membership(session, info.context.principal, membership_id=pk):
                raise DomainError.one("membership_id", "No membership has this ID.", "not_found")
            return await benefits.use_benefit(session, pk, benefit=benefit, quantity=quantity, note=note, at=now(),
                                              actor_id=info.context.actor_id)
        return await _payload(info, *await mutate(info.context, action))

    @guarded_mutation(description="Cancel a booking before its session: the unit returns to the quota.", idempotent=True, permissions=[ManagersOrOwnMembership])
    async def training_cancel(self, info: Info, id: strawberry.ID) -> TrainingBookingPayload:
        async def action(session):
            pk = decode_id(id, "TrainingBooking", "id")
            if not await scoping.require_own_membership(session, info.context.principal, booking_id=pk):
                raise DomainError.one("id", "No booking has this ID.", "not_found")
            return await benefits.cancel_booking(session, pk, at=now())
        row, errors = await mutate(info.context, action)
        return TrainingBookingPayload(booking=TrainingBookingType.from_row(row) if row else None,
                                      errors=payload_errors(errors, MembershipError, MembershipErrorCode))
