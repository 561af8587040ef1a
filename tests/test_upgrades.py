"""Upgrades pay the difference: paying for a higher tier within a lower tier's fee term
is credited the unexpired part of the lower fee, pro rata to the exact time left."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import new_customer, ok
from tests.programme_helpers import agents_programme, enroll
from tiers.engine import unexpired_credit

ENROLL = """mutation($i: MembershipEnrollInput!) { membershipEnroll(input: $i) {
    membership { id tier { code } } errors { field code message amountDue } } }"""
FEES = """query($a: ID!) { membership(accountId: $a) { tier { code } feeRank
    feePayments { id tierRank amount { amount } creditAmount { amount } creditedPaymentId termStart termEnd refundedAt }
    history { reason toRank at explanation } } }"""


def payment(account: str, programme: str, tier: str, amount: str, paid_at: str) -> dict:
    return {"i": {"accountId": account, "programmeId": programme, "tierCode": tier,
                  "feePayment": {"amount": {"amount": amount, "currency": "CNY"}, "paidAt": paid_at}}}


starts = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(timezone.utc))


@given(value=st.decimals(min_value=0, max_value=Decimal("999999999999.99"), places=2), start=starts,
       length=st.integers(1, 10 * 366 * 86_400_000_000), position=st.fractions(0, 1))
def test_the_credit_is_the_exact_share_of_time_left_rounded_half_up(value, start, length, position):
    end = start + timedelta(microseconds=length)
    at = start + timedelta(microseconds=int(position * length))
    credit = unexpired_credit(value, start, end, at)
    if at >= end:
        assert credit == 0
        return
    exact = Fraction(value) * Fraction(length - int(position * length), length)
    # Exactly the rational share, rounded half-up to the cent.
    cents = exact * 100
    floor = cents.numerator // cents.denominator
    expected = floor + (1 if cents - floor >= Fraction(1, 2) else 0)
    assert credit == Decimal(expected) / 100
    assert 0 <= credit <= value
    assert unexpired_credit(value, start, end, start) == value.quantize(Decimal("0.01"))
    assert unexpired_credit(value, start, end, start - timedelta(microseconds=1)) == 0


def test_the_credit_counts_real_hours_over_a_dst_change_and_a_leap_day():
    """Times of one zone subtract by wall clock in Python; the credit must not."""
    berlin = ZoneInfo("Europe/Berlin")
    start, end = datetime(2023, 10, 15, 12, tzinfo=berlin), datetime(2024, 10, 15, 12, tzinfo=berlin)
    at = datetime(2024, 1, 15, 12, tzinfo=berlin)
    assert unexpired_credit(Decimal("300000"), start, end, at) == Decimal("224556.01")  # 300,000 x 6575/8784


async def test_an_upgrade_over_a_dst_change_and_a_leap_day_pays_the_difference(post_graphql):
    """Berlin: a B fee paid 15 October 2023 at noon holds until 15 October 2024 at noon,
    366 days (29 February 2024 inside). Upgrading on 15 January 2024 at noon (winter time)
    leaves 274 days less one hour (summer time is back by October): 6,575 of 8,784 hours,
    so 300,000 x 6575/8784 = 224,556.0109... is credited, 224,556.01 rounded half-up, and
    275,443.99 of A's 500,000 is due. Counting wall-clock days would say 274/366."""
    setup = await agents_programme(post_graphql, effective_from="2020-01-01T00:00:00+01:00", timeZone="Europe/Berlin")
    agent = await new_customer(post_graphql, "Agent", classification="PARTNER")
    await enroll(post_graphql, agent, setup["programme"], "B", "300000", "2023-10-15T12:00:00+02:00")
    lower = (await post_graphql(FEES, {"a": agent})).data["membership"]["feePayments"][0]

    upgrade_at = "2024-01-15T12:00:00+01:00"
    refused = await post_graphql(ENROLL, payment(agent, setup["programme"], "A", "275443.98", upgrade_at))
    [error] = refused.data["membershipEnroll"]["errors"]
    assert (error["field"], error["code"], error["amountDue"]) == ("feePayment.amount", "FEE_TOO_LOW", "275443.99")
    assert "275443.99 CNY is due" in error["message"] and "224556.01" in error["message"]
    assert "0.01 CNY is missing" in error["message"]
    assert refused.data["membershipEnroll"]["membership"] is None

    await ok(post_graphql, ENROLL, payment(agent, setup["programme"], "A", "275443.99", upgrade_at), "membershipEnroll")
    state = (await post_graphql(FEES, {"a": agent})).data["membership"]
    before, after = state["feePayments"]
    # The credited payment keeps its history: the same row, as it was.
    assert before == lower and before["refundedAt"] is None and before["creditAmount"] == {"amount": "0.00"}
    assert after["tierRank"] == 2 and after["amount"] == {"amount": "275443.99"}
    assert after["creditAmount"] == {"amount": "224556.01"} and after["creditedPaymentId"] == before["id"]
    upgrade = [h for h in state["history"] if h["reason"] == "FEE_PAID"][-1]
    assert upgrade["toRank"] == 2 and upgrade["explanation"]["credit"] == "224556.01"


async def test_a_credit_is_given_once_and_only_on_an_upgrade(post_graphql):
    setup = await agents_programme(post_graphql, effective_from="2020-01-01T00:00:00+08:00")
    agent = await new_customer(post_graphql, "Agent", classification="PARTNER")
    programme = setup["programme"]
    await enroll(post_graphql, agent, programme, "B", "300000", "2025-01-01T00:00:00+08:00")
    # Renewing B within B's term is no upgrade: the whole fee is due.
    renewal = await post_graphql(ENROLL, payment(agent, programme, "B", "299999.99", "2025-07-02T12:00:00+08:00"))
    assert renewal.data["membershipEnroll"]["errors"][0]["amountDue"] == "300000.00"
    # Upgrading half way through B's term (182.5 of 365 days) is credited half of B's fee.
    await ok(post_graphql, ENROLL, payment(agent, programme, "A", "350000", "2025-07-02T12:00:00+08:00"), "membershipEnroll")
    state = (await post_graphql(FEES, {"a": agent})).data["membership"]
    b_fee, a_fee = state["feePayments"]
    assert a_fee["creditAmount"] == {"amount": "150000.00"} and a_fee["creditedPaymentId"] == b_fee["id"]
    # Paying A again while A holds by fee: a renewal, no credit; and B's credit is used.
    again = await post_graphql(ENROLL, payment(agent, programme, "A", "1", "2025-08-01T00:00:00+08:00"))
    assert again.data["membershipEnroll"]["errors"][0]["amountDue"] == "500000.00"
    # Refunding B would pay its unexpired part twice: refused while the upgrade stands.
    refund = """mutation($id: ID!) { feeRefund(id: $id) { membership { id } errors { field code relatedId } } }"""
    result = await post_graphql(refund, {"id": b_fee["id"]})
    assert result.data["feeRefund"]["errors"] == [{"field": "id", "code": "CREDITED", "relatedId": a_fee["id"]}]
    await ok(post_graphql, refund, {"id": a_fee["id"]}, "feeRefund")
    await ok(post_graphql, refund, {"id": b_fee["id"]}, "feeRefund")


async def test_no_credit_without_a_live_lower_fee(post_graphql):
    """A lapsed or refunded lower fee gives nothing; neither does a tier held by volume."""
    setup = await agents_programme(post_graphql, effective_from="2020-01-01T00:00:00+08:00")
    agent = await new_customer(post_graphql, "Agent", classification="PARTNER")
    await enroll(post_graphql, agent, setup["programme"], "B", "300000", "2024-01-01T00:00:00+08:00")
    late = await post_graphql(ENROLL, payment(agent, setup["programme"], "A", "499999.99", "2025-01-01T00:00:00+08:00"))
    assert late.data["membershipEnroll"]["errors"][0]["amountDue"] == "500000.00"
