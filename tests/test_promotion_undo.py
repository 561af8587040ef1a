"""Volume that is cancelled or returned earns nothing, over GraphQL: unpaid orders do not
count, a paid order counts at its payment, and a return or cancellation that takes a
promotion's window back below its threshold undoes the promotion at once.

The worked example's programme: B (10% off) from 500,000, A (20% off) from 1,000,000,
calendar years in Shanghai; every agent pays B's fee first."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from models import Membership, Order, Programme
from tests.helpers import new_customer, new_product, ok, refused
from tests.programme_helpers import agents_programme, enroll
from tests.test_worked_example import ASSESS, QUOTE, place, view
from tiers import ledger

CANCEL = "mutation($id: ID!) { orderCancel(id: $id) { order { id status } errors { field code } } }"
PAY = """mutation($id: ID!, $at: DateTime) { orderMarkPaid(id: $id, paidAt: $at) {
  order { id status paidAt } errors { field code } } }"""
RETURN = """mutation($id: ID!, $lines: [OrderReturnLineInput!], $at: DateTime) { orderReturn(id: $id, lines: $lines, returnedAt: $at) {
  orderReturn { id amount { amount } } errors { field code } } }"""
REPLAY = """mutation($a: ID!) { qualifyingReplay(accountId: $a) { membership { id } errors { code } } }"""
SHANGHAI = timezone(timedelta(hours=8))


def pk(global_id: str) -> int:
    return int(base64.b64decode(global_id).decode().split(":")[1])


async def agent_with_b(post_graphql, paid_at: str = "2021-01-10T10:00:00+08:00") -> dict:
    setup = await agents_programme(post_graphql, effective_from="2020-01-01T00:00:00+08:00")
    agent = await new_customer(post_graphql, "Agent Co", classification="PARTNER")
    membership = (await enroll(post_graphql, agent, setup["programme"], "B", "300000", paid_at))["membership"]["id"]
    return {**setup, "agent": agent, "membership": membership,
            "standard": await new_product(post_graphql, "STD", "100.00", currency="CNY"),
            "bulk": await new_product(post_graphql, "BULK", "10000.00", currency="CNY")}


async def quote(post_graphql, agent, product, at=None) -> tuple[str, str]:
    result = (await post_graphql(QUOTE, {"a": agent, "p": product, "at": at})).data["priceQuote"]
    return result["tierCode"], result["total"]["amount"]


async def give_back(post_graphql, order, quantity, at) -> str:
    lines = [{"lineId": order["lines"][0]["id"], "quantity": quantity}]
    payload = await ok(post_graphql, RETURN, {"id": order["id"], "lines": lines, "at": at}, "orderReturn")
    return payload["orderReturn"]["id"]


def earned_steps(history) -> list[tuple[str, int]]:
    return [(h["reason"], h["explanation"]["earned_rank"]) for h in history]


async def test_an_unpaid_order_buys_no_tier_and_its_cancellation_changes_nothing(post_graphql):
    """The defect: a large unpaid order promoted the agent to A at once, for two years, and
    cancelling it took the volume back to 0 but kept A and A's prices."""
    now = datetime.now(timezone.utc)
    world = await agent_with_b(post_graphql, paid_at=(now - timedelta(days=1)).isoformat())
    agent = world["agent"]
    order = await place(post_graphql, agent, world["bulk"], 112, None, paid=False)  # 1,008,000 at B's price
    assert order["total"]["amount"] == "1008000.00"
    m = await view(post_graphql, agent, None)
    assert (m["tier"]["code"], m["earnedRank"], m["qualifyingVolume"]["amount"]) == ("B", 0, "0.00")
    assert await quote(post_graphql, agent, world["standard"]) == ("B", "90.00")
    await ok(post_graphql, REPLAY, {"a": agent}, "qualifyingReplay")  # a replay follows the same rule
    assert (await view(post_graphql, agent, None))["qualifyingVolume"]["amount"] == "0.00"
    await ok(post_graphql, CANCEL, {"id": order["id"]}, "orderCancel")
    m = await view(post_graphql, agent, None)
    assert (m["tier"]["code"], m["earnedRank"], m["qualifyingVolume"]["amount"]) == ("B", 0, "0.00")
    assert [h["reason"] for h in m["history"]] == ["FEE_PAID"]
    assert await quote(post_graphql, agent, world["standard"]) == ("B", "90.00")


async def test_an_order_counts_when_it_is_paid_at_its_payment_instant(post_graphql):
    world = await agent_with_b(post_graphql)
    agent = world["agent"]
    order = await place(post_graphql, agent, world["bulk"], 112, "2021-03-01T10:00:00+08:00", paid=False)
    assert (await view(post_graphql, agent, "2021-03-02T00:00:00+08:00"))["qualifyingVolume"]["amount"] == "0.00"
    for at in ("2021-02-28T10:00:00+08:00", "2999-01-01T00:00:00+00:00"):  # before it was placed; in the future
        assert await refused(post_graphql, PAY, {"id": order["id"], "at": at}, "orderMarkPaid") == [("paidAt", "OUT_OF_RANGE")]
    paid = (await ok(post_graphql, PAY, {"id": order["id"], "at": "2021-04-01T10:00:00+08:00"}, "orderMarkPaid"))["order"]
    assert paid["status"] == "PAID" and paid["paidAt"].startswith("2021-04-01T02:00:00")
    assert (await view(post_graphql, agent, "2021-03-31T00:00:00+08:00"))["qualifyingVolume"]["amount"] == "0.00"
    m = await view(post_graphql, agent, "2021-04-02T00:00:00+08:00")
    assert (m["tier"]["code"], m["earnedRank"], m["qualifyingVolume"]["amount"]) == ("A", 2, "1008000.00")
    promotion = m["history"][-1]
    assert promotion["reason"] == "PROMOTED" and promotion["at"].startswith("2021-04-01T02:00:00")
    assert promotion["explanation"]["source"] == order["id"]  # the API's ID, never the internal one
    # paying again, or replaying, counts nothing twice
    assert await refused(post_graphql, PAY, {"id": order["id"]}, "orderMarkPaid") == [("id", "INVALID_STATUS")]
    await ok(post_graphql, REPLAY, {"a": agent}, "qualifyingReplay")
    assert await view(post_graphql, agent, "2021-04-02T00:00:00+08:00") == m


async def test_returning_the_order_that_crossed_the_threshold_undoes_the_promotion(post_graphql):
    """The worked example's year 1, with the crossing order returned: A is undone at the
    return's instant, back to the B the agent had earned before, and priced as B."""
    world = await agent_with_b(post_graphql)
    agent = world["agent"]
    await place(post_graphql, agent, world["bulk"], 110, "2021-05-01T10:00:00+08:00")  # 990,000: earns B
    crossing = await place(post_graphql, agent, world["bulk"], 2, "2021-06-10T10:00:00+08:00")  # 18,000 more: A
    assert (await view(post_graphql, agent, "2021-06-11T00:00:00+08:00"))["tier"]["code"] == "A"
    assert await quote(post_graphql, agent, world["standard"], "2021-06-11T00:00:00+08:00") == ("A", "80.00")
    returned = await give_back(post_graphql, crossing, 2, "2021-07-01T10:00:00+08:00")
    m = await view(post_graphql, agent, "2021-07-02T00:00:00+08:00")
    assert (m["tier"]["code"], m["earnedRank"], m["qualifyingVolume"]["amount"]) == ("B", 1, "990000.00")
    undo = m["history"][-1]
    assert (undo["fromRank"], undo["toRank"], undo["reason"]) == (2, 1, "PROMOTION_UNDONE")
    assert undo["at"].startswith("2021-07-01T02:00:00") and undo["qualifyingVolume"] == "990000.00"
    assert undo["windowStart"].startswith("2020-12-31T16:00:00") and undo["windowEnd"].startswith("2021-12-31T16:00:00")
    explanation = undo["explanation"]
    assert (explanation["source"], explanation["order"]) == (returned, crossing["id"])
    assert (explanation["undone_tier"], explanation["threshold"], explanation["volume"]) == ("A", "1000000.00", "990000.00")
    assert (explanation["restored_rank"], explanation["restored_tier"], explanation["earned_before"]) == (1, "B", 2)
    # B keeps the hold it was earned with in May: to the end of 2022
    assert datetime.fromisoformat(explanation["held_until"]) == datetime(2023, 1, 1, tzinfo=SHANGHAI)
    assert earned_steps(m["history"]) == [("FEE_PAID", 0), ("EARNED", 1), ("PROMOTED", 2), ("PROMOTION_UNDONE", 1)]
    assert await quote(post_graphql, agent, world["standard"], "2021-07-02T00:00:00+08:00") == ("B", "90.00")
    # buying it again earns A again
    await place(post_graphql, agent, world["bulk"], 2, "2021-08-01T10:00:00+08:00")
    assert (await view(post_graphql, agent, "2021-08-02T00:00:00+08:00"))["earnedRank"] == 2


async def test_promotions_in_a_row_and_partial_returns(post_graphql):
    world = await agent_with_b(post_graphql)
    agent, bulk = world["agent"], world["bulk"]
    first = await place(post_graphql, agent, bulk, 67, "2021-02-01T10:00:00+08:00")  # 603,000: B
    second = await place(post_graphql, agent, bulk, 60, "2021-03-01T10:00:00+08:00")  # 540,000 more: A
    expected = [("FEE_PAID", 0), ("EARNED", 1), ("PROMOTED", 2)]
    assert earned_steps((await view(post_graphql, agent, "2021-03-02T00:00:00+08:00"))["history"]) == expected
    steps = [  # (order, units back, when, volume left, earned rank after, a promotion undone)
        (first, 20, "2021-04-01", "963000.00", 1, True),  # below A: A undone, B stays
        (first, 10, "2021-05-01", "873000.00", 1, False),  # B still earned: nothing more
        (second, 41, "2021-06-01", "504000.00", 1, False),
        (second, 1, "2021-06-02", "495000.00", 0, True),  # below B: B undone too; the fee still gives B
    ]
    for order, units, day, volume, earned, undone in steps:
        await give_back(post_graphql, order, units, f"{day}T10:00:00+08:00")
        m = await view(post_graphql, agent, f"{day}T11:00:00+08:00")
        assert (m["qualifyingVolume"]["amount"], m["earnedRank"], m["tier"]["code"]) == (volume, earned, "B"), day
        expected += [("PROMOTION_UNDONE", earned)] if undone else []
        assert earned_steps(m["history"]) == expected, day
    # replaying every order and return changes nothing
    await ok(post_graphql, REPLAY, {"a": agent}, "qualifyingReplay")
    assert await view(post_graphql, agent, "2021-06-02T11:00:00+08:00") == m


async def test_a_return_after_the_window_closed_is_the_assessments_to_judge(post_graphql):
    world = await agent_with_b(post_graphql)
    agent = world["agent"]
    order = await place(post_graphql, agent, world["bulk"], 112, "2021-12-20T10:00:00+08:00")  # 1,008,000: A
    # returned in January: the entry counts in 2022; 2021 held 1,008,000 and earned A
    await give_back(post_graphql, order, 2, "2022-01-15T10:00:00+08:00")
    m = await view(post_graphql, agent, "2022-01-16T00:00:00+08:00")
    assert (m["tier"]["code"], m["earnedRank"], m["qualifyingVolume"]["amount"]) == ("A", 2, "-18000.00")
    assert m["history"][-1]["reason"] == "PROMOTED"
    assessed = (await post_graphql(ASSESS, {"p": world["programme"], "at": "2022-02-01T00:00:00+08:00"})).data["tierAssess"]
    assert (assessed["promoted"], assessed["demoted"]) == (0, 0)
    assert (await view(post_graphql, agent, "2022-02-02T00:00:00+08:00"))["tier"]["code"] == "A"


async def test_cancelling_an_order_counted_while_unpaid_undoes_its_promotion(post_graphql, database):
    """Orders counted at placement, before payment counted, are taken back by their
    cancellation, and the promotion they made is undone."""
    now = datetime.now(timezone.utc)
    world = await agent_with_b(post_graphql, paid_at=(now - timedelta(days=1)).isoformat())
    agent = world["agent"]
    order = await place(post_graphql, agent, world["bulk"], 112, None, paid=False)
    async with database.session() as session, session.begin():  # the ledger as placing an order wrote it before
        membership, programme = (await session.execute(select(Membership, Programme).join(
            Programme, Programme.id == Membership.programme_id).where(Membership.id == pk(world["membership"])))).one()
        row = await session.get(Order, pk(order["id"]))
        await ledger.record_entry(session, membership, programme, source=f"order:{row.id}", amount=row.total,
                                  occurred_at=row.placed_at)
    assert (await view(post_graphql, agent, None))["tier"]["code"] == "A"
    await ok(post_graphql, CANCEL, {"id": order["id"]}, "orderCancel")
    m = await view(post_graphql, agent, None)
    assert (m["tier"]["code"], m["earnedRank"], m["qualifyingVolume"]["amount"]) == ("B", 0, "0.00")
    undo = m["history"][-1]
    assert (undo["fromRank"], undo["toRank"], undo["reason"]) == (2, 1, "PROMOTION_UNDONE")
    assert (undo["explanation"]["source"], undo["explanation"]["order"]) == (order["id"], order["id"])
    assert await quote(post_graphql, agent, world["standard"]) == ("B", "90.00")
