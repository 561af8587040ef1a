"""Regressions of a second outside attack: concurrent tier writers that decided from a
state or an instant read before the membership lock (F2), concurrent first enrolments
(F4), a risk check dated in the future (F5), and re-registrations of a deal that moved
the exclusivity later (F7). Real concurrent requests on real connections."""

from __future__ import annotations

import asyncio
import base64
from datetime import datetime, timedelta, timezone

from sqlalchemy import text

from crm.auth import Principal, Role
from tests.conftest import GraphQLResult, token_for
from tests.helpers import new_customer, new_product
from tests.programme_helpers import agents_programme, enroll
from tests.test_worked_example import PLACE

OVERRIDE = """mutation($m: ID!, $t: String!) { tierOverrideSet(membershipId: $m, kind: LOCK, tierCode: $t,
  reason: "Race") { membership { id } errors { field code } } }"""
ENROLL = """mutation($i: MembershipEnrollInput!) { membershipEnroll(input: $i) { membership { id } errors { field code } } }"""
RISK = """mutation($p: ID!, $at: DateTime) { tierRiskCheck(programmeId: $p, asOf: $at) { atRisk errors { field code } } }"""
REGISTER = """mutation($c: ID!) { dealRegister(customerId: $c) { registration { id expiresAt } errors { field code } } }"""


def _pk(global_id: str) -> int:
    return int(base64.b64decode(global_id).decode().split(":")[1])


def _poster(client):
    async def post(query, variables=None, as_: Principal | None = None, **_):
        headers = {"Authorization": f"Bearer {token_for(as_)}"} if as_ is not None else {}
        response = await client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
        return GraphQLResult(response.status_code, response.json(), response.headers)
    return post


def _ago(**delta) -> str:
    return (datetime.now(timezone.utc) - timedelta(**delta)).isoformat()


async def _rows(database, sql: str, **params):
    async with database.session() as session:
        return (await session.execute(text(sql), params)).all()


async def _assert_consistent(database, membership: int) -> None:
    """The history chains (each row's from is the previous row's to) with instants that
    never go back, its last row is the tier in force, and the membership's tier events,
    in sequence order, chain the same way."""
    history = await _rows(database, "SELECT from_rank, to_rank, at FROM tier_change WHERE membership_id = :m ORDER BY id",
                          m=membership)
    assert len(history) >= 2
    for before, after in zip(history, history[1:]):
        assert after.from_rank == before.to_rank and after.at >= before.at, history
    (cached, effective), = await _rows(database, "SELECT m.tier_rank, s.effective FROM membership m, "
                                                 "tier_state_at(m.id, clock_timestamp()) s WHERE m.id = :m", m=membership)
    assert history[-1].to_rank == cached == effective
    events = await _rows(database, "SELECT payload, occurred_at FROM event WHERE aggregate_type = 'Membership' AND "
                                   "aggregate_id = :m AND type LIKE 'tier.%' ORDER BY sequence", m=membership)
    ranks = [(e.payload.get("from_rank", e.payload.get("fromRank")), e.payload.get("to_rank", e.payload.get("toRank")))
             for e in events]
    assert len(ranks) == len(history)
    for (before, after), (e0, e1) in zip(zip(ranks, ranks[1:]), zip(events, events[1:])):
        assert after[0] == before[1] and e1.occurred_at >= e0.occurred_at, ranks
    assert ranks[-1][1] == effective


async def _agent(post, name: str) -> tuple[dict, str, int]:
    setup = await agents_programme(post, effective_from="2020-01-01T00:00:00+08:00")
    agent = await new_customer(post, name, classification="PARTNER")
    membership = (await enroll(post, agent, setup["programme"], "B", "300000", _ago(days=30)))["membership"]["id"]
    return setup, agent, _pk(membership)


async def test_concurrent_overrides_keep_history_and_events_consistent(committed_client, committed_database):
    post = _poster(committed_client)
    _, agent, membership = await _agent(post, "Override racer")
    m = base64.b64encode(f"Membership:{membership}".encode()).decode()
    results = await asyncio.gather(*(post(OVERRIDE, {"m": m, "t": "AB"[i % 2]}) for i in range(24)))
    assert all(not r.errors and r.data["tierOverrideSet"]["errors"] == [] for r in results), [r.body for r in results]
    await _assert_consistent(committed_database, membership)


async def test_concurrent_overrides_and_orders_keep_history_consistent(committed_client, committed_database):
    post = _poster(committed_client)
    _, agent, membership = await _agent(post, "Mixed racer")
    m = base64.b64encode(f"Membership:{membership}".encode()).decode()
    product = await new_product(post, "STD", "100.00", currency="CNY")
    order = {"i": {"customerId": agent, "paid": True, "lines": [{"productId": product, "quantity": 2000}]}}  # 180,000 at B
    calls = [post(OVERRIDE, {"m": m, "t": "AB"[i % 2]}) if i % 3 else post(PLACE, order) for i in range(18)]
    results = await asyncio.gather(*calls)
    assert all(not r.errors and all(v["errors"] == [] for v in r.data.values()) for r in results), [r.body for r in results]
    await _assert_consistent(committed_database, membership)


async def test_concurrent_first_enrolments_answer_as_one_after_the_other(committed_client, committed_database):
    """No INTERNAL_SERVER_ERROR from the unique membership: each payment is what it would
    be alone after the other (a second payment renews), so one membership, all fees."""
    post = _poster(committed_client)
    setup = await agents_programme(post, effective_from="2020-01-01T00:00:00+08:00")
    agent = await new_customer(post, "Enrol racer", classification="PARTNER")
    payment = {"i": {"accountId": agent, "programmeId": setup["programme"], "tierCode": "B",
                     "feePayment": {"amount": {"amount": "300000", "currency": "CNY"}}}}
    results = await asyncio.gather(*(post(ENROLL, payment) for _ in range(6)))
    assert all(not r.errors and r.data["membershipEnroll"]["errors"] == [] for r in results), [r.body for r in results]
    assert len({r.data["membershipEnroll"]["membership"]["id"] for r in results}) == 1
    (memberships, fees, enrolled), = await _rows(committed_database, """SELECT
        (SELECT count(*) FROM membership), (SELECT count(*) FROM fee_payment),
        (SELECT count(*) FROM event WHERE type = 'membership.enrolled')""")
    assert (memberships, fees, enrolled) == (1, 6, 1)


async def test_a_risk_check_is_never_dated_in_the_future(committed_client, committed_database, database_url):
    post = _poster(committed_client)
    setup, _, _ = await _agent(post, "Risk")
    ahead = (datetime.now(timezone.utc) + timedelta(days=400)).isoformat()
    result = await post(RISK, {"p": setup["programme"], "at": ahead})
    assert result.data["tierRiskCheck"] == {"atRisk": 0, "errors": [{"field": "asOf", "code": "OUT_OF_RANGE"}]}
    # `crm check-risk --as-of <future>`: the same rule, said as the command's error
    from core.cli import LaunchError, _check_risk
    from tiers.risk import RiskRule

    try:
        await _check_risk(database_url, "Agents", datetime.fromisoformat(ahead), RiskRule())
        raise AssertionError("check-risk ran ahead of time")
    except LaunchError as error:
        assert "asOf is for what already happened" in str(error), error
    (written,), = await _rows(committed_database, "SELECT count(*) FROM event WHERE type = 'tier.at_risk'")
    assert written == 0


async def test_concurrent_re_registrations_answer_the_one_registration(committed_client, committed_database):
    post = _poster(committed_client)
    partner = await new_customer(post, "Partner P", classification="PARTNER")
    customer = await new_customer(post, "Prospect", referringPartnerId=partner)
    as_partner = Principal("p", Role.PARTNER, account_id=_pk(partner))
    first = (await post(REGISTER, {"c": customer}, as_=as_partner)).data["dealRegister"]
    assert first["errors"] == []
    results = await asyncio.gather(*(post(REGISTER, {"c": customer}, as_=as_partner) for _ in range(8)))
    assert [r.data["dealRegister"] for r in results] == [first] * 8, [r.body for r in results]
    (registrations, events), = await _rows(committed_database, """SELECT (SELECT count(*) FROM deal_registration),
        (SELECT count(*) FROM event WHERE type = 'deal.registered')""")
    assert (registrations, events) == (1, 1)


async def test_a_unique_violation_of_a_known_key_is_a_typed_duplicate(connection):
    """The safety net behind the locked checks: the driver's violation of a declared key
    becomes DUPLICATE on its field; any other integrity error stays what it is."""
    from sqlalchemy.exc import IntegrityError

    from kernel.errors import duplicate_of

    await connection.execute(text("INSERT INTO channel (name, kind) VALUES ('Web', 'web')"))
    savepoint = await connection.begin_nested()
    try:
        await connection.execute(text("INSERT INTO channel (name, kind) VALUES ('WEB', 'web')"))
        raise AssertionError("the unique index let a duplicate in")
    except IntegrityError as error:
        duplicate = duplicate_of(error)
    await savepoint.rollback()
    assert duplicate is not None and [(e.field, e.code) for e in duplicate.errors] == [("name", "duplicate")]
    savepoint = await connection.begin_nested()
    try:
        await connection.execute(text("INSERT INTO channel (name, kind) VALUES (NULL, 'web')"))
        raise AssertionError("a NULL name went in")
    except IntegrityError as error:
        assert duplicate_of(error) is None
    await savepoint.rollback()
