"""Strict bounds on timestamps (`gt`, `lt`): half-open periods filter exactly, and the
normal and the single-statement paths agree on them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.helpers import new_customer, new_product, ok

BERLIN = ZoneInfo("Europe/Berlin")
PLACE = """mutation($i: OrderPlaceInput!) { orderPlace(input: $i) { order { id } errors { code } } }"""
LIST = """query($f: OrderFilter) { orders(filter: $f, first: 100) { totalCount edges { node { id placedAt } } } }"""
TICK = timedelta(microseconds=1)
# Local midnights in Berlin around the spring DST change, and instants a tick either side.
MIDNIGHTS = [datetime(2026, 3, 1, tzinfo=BERLIN), datetime(2026, 3, 29, tzinfo=BERLIN), datetime(2026, 3, 30, tzinfo=BERLIN),
             datetime(2026, 4, 1, tzinfo=BERLIN)]
INSTANTS = sorted({m + d for m in MIDNIGHTS for d in (-TICK, timedelta(0), TICK)} | {datetime(2026, 3, 29, 2, 30, tzinfo=timezone.utc)})


@pytest.fixture
async def placed(post_graphql):
    customer = await new_customer(post_graphql)
    product = await new_product(post_graphql)
    ids = {}
    for instant in INSTANTS:
        order = await ok(post_graphql, PLACE, {"i": {"customerId": customer, "placedAt": instant.isoformat(),
                                                     "lines": [{"productId": product, "quantity": 1}]}}, "orderPlace")
        ids[order["order"]["id"]] = instant
    return ids


async def _ids(post_graphql, spec: dict) -> set[str]:
    """The ids the filter keeps; asked twice, so the second answer may come from the single
    statement, and both answers must be the same."""
    first = await post_graphql(LIST, {"f": {"placedAt": spec}})
    second = await post_graphql(LIST, {"f": {"placedAt": spec}})
    assert not first.errors, first.body
    assert first.data == second.data
    assert first.data["orders"]["totalCount"] == len(first.data["orders"]["edges"])
    return {edge["node"]["id"] for edge in first.data["orders"]["edges"]}


async def test_adjacent_half_open_periods_split_the_orders_exactly(post_graphql, placed):
    """[1 March, 29 March) and [29 March, 1 April) in Berlin: every order of March in one
    of them, none in both; the order at exactly local midnight on 29 March falls in the
    second only. With `lte`, the only upper bound before, it was in both."""
    periods = [(MIDNIGHTS[0], MIDNIGHTS[1]), (MIDNIGHTS[1], MIDNIGHTS[3])]
    found = [await _ids(post_graphql, {"gte": a.isoformat(), "lt": b.isoformat()}) for a, b in periods]
    assert not found[0] & found[1]
    march = {pk for pk, at in placed.items() if MIDNIGHTS[0] <= at < MIDNIGHTS[3]}
    assert found[0] | found[1] == march
    at_midnight = next(pk for pk, at in placed.items() if at == MIDNIGHTS[1])
    assert at_midnight in found[1] and at_midnight not in found[0]
    # gt excludes the bound itself, too.
    after = await _ids(post_graphql, {"gt": MIDNIGHTS[1].isoformat(), "lte": MIDNIGHTS[2].isoformat()})
    assert after == {pk for pk, at in placed.items() if MIDNIGHTS[1] < at <= MIDNIGHTS[2]}


OPERATORS = {"gt": lambda a, b: a > b, "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b,
             "eq": lambda a, b: a == b}


@hypothesis_settings(max_examples=25, deadline=None, database=None, derandomize=True,
                     suppress_health_check=list(HealthCheck))
@given(conditions=st.dictionaries(st.sampled_from(sorted(OPERATORS)), st.sampled_from(INSTANTS), min_size=1, max_size=3),
       offset=st.sampled_from(["+00:00", "+01:00", "+02:00", "-05:00"]))
async def test_every_bound_keeps_exactly_what_it_says(post_graphql, placed, conditions, offset):
    zone = timezone(timedelta(hours=int(offset[:3]), minutes=int(offset[4:])))
    spec = {op: value.astimezone(zone).isoformat() for op, value in conditions.items()}
    expected = {pk for pk, at in placed.items() if all(OPERATORS[op](at, value) for op, value in conditions.items())}
    assert await _ids(post_graphql, spec) == expected
