"""Every event type of the catalogue, caused through the real app with real commits.

`STEPS` is a story in one world: each step is a GraphQL call, and says which event types
it causes and what each must be about (its aggregate, and the partner account it
concerns, or None for staff only). The test runs the story and checks, per step, that
each type it causes was emitted exactly once by that step, about the right object, for
the right account, and that every event the step emitted validates against its schema
(tests.event_helpers). The story must cause every type in `events.catalogue.CATALOGUE`:
a new event type fails here until a step causes it (a helper on another branch adding
types adds its step to STEPS, or the lead does at merge)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text

from events.catalogue import CATALOGUE
from tests.event_helpers import feed, pk_of, poster
from tests.helpers import new_customer, new_product, ok
from tests.programme_helpers import agents_programme, enroll

# (aggregate global ID, account global ID or None) per event type the step causes
Expect = dict[str, tuple[str, str | None]]


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[Any, dict[str, Any]], Awaitable[Expect]]


ADJUST = """mutation($m: ID!, $a: Decimal!, $at: DateTime!) { qualifyingAdjust(membershipId: $m, amount: $a,
  reason: "Imported", occurredAt: $at) { membership { id } errors { code } } }"""
BOOK = """mutation($m: ID!) { trainingBook(membershipId: $m, title: "Onboarding", sessionAt: "2099-01-01T00:00:00Z") {
  booking { id } errors { code } } }"""
PLACE = """mutation($i: OrderPlaceInput!) { orderPlace(input: $i) { order { id } errors { code } } }"""


async def _programme(post, w):
    w.update(await agents_programme(post, effective_from="2020-01-01T00:00:00+08:00"))
    w["product"] = await new_product(post, "STD", "1200000.00", currency="CNY")
    for name in ("p1", "p2", "p3", "p4", "p5", "q"):
        w[name] = await new_customer(post, f"Partner {name}", classification="PARTNER")
    return {}


async def _member(post, w, key: str, partner: str, tier: str, amount: str, at: str) -> str:
    w[key] = (await enroll(post, w[partner], w["programme"], tier, amount, at))["membership"]["id"]
    return w[key]


async def enrol(post, w):
    m = await _member(post, w, "m1", "p1", "B", "300000", "2026-01-10T10:00:00+08:00")
    return {t: (m, w["p1"]) for t in ("membership.enrolled", "membership.fee_paid", "tier.entered", "quota.granted")}


async def book_first(post, w):
    await ok(post, BOOK, {"m": w["m1"]}, "trainingBook")  # 1 of B's 2 sessions left: the low mark
    return {"quota.low": (w["m1"], w["p1"])}


async def book_last(post, w):
    await ok(post, BOOK, {"m": w["m1"]}, "trainingBook")
    return {"quota.exhausted": (w["m1"], w["p1"])}


async def promote_in_2024(post, w):
    """m2 joins in 2024 and is promoted by volume; m3 joins and buys nothing."""
    m2 = await _member(post, w, "m2", "p2", "B", "300000", "2024-03-01T00:00:00+08:00")
    await _member(post, w, "m3", "p3", "B", "300000", "2024-06-01T00:00:00+08:00")
    await ok(post, ADJUST, {"m": m2, "a": "1000000", "at": "2024-06-01T00:00:00+08:00"}, "qualifyingAdjust")
    return {"tier.promoted": (m2, w["p2"])}


async def risk_late_2025(post, w):
    """On 2025-12-15 m2 holds A earned in 2024, with nothing bought in 2025."""
    result = await ok(post, """mutation($p: ID!) { tierRiskCheck(programmeId: $p, asOf: "2025-12-15T00:00:00+08:00") {
        atRisk errors { code } } }""", {"p": w["programme"]}, "tierRiskCheck")
    assert result["atRisk"] == 1
    again = await ok(post, """mutation($p: ID!) { tierRiskCheck(programmeId: $p, asOf: "2025-12-20T00:00:00+08:00") {
        atRisk errors { code } } }""", {"p": w["programme"]}, "tierRiskCheck")
    assert again["atRisk"] == 0  # once per member and period
    return {"tier.at_risk": (w["m2"], w["p2"])}


async def earn_below_the_fee(post, w):
    m4 = await _member(post, w, "m4", "p4", "A", "500000", "2026-02-01T00:00:00+08:00")
    await ok(post, ADJUST, {"m": m4, "a": "500000", "at": "2026-02-15T00:00:00+08:00"}, "qualifyingAdjust")
    return {"tier.earned": (m4, w["p4"])}


async def assess_2025(post, w):
    """The bulk path: m2 is demoted (nothing bought in 2025), m3's fee term ended."""
    result = await ok(post, """mutation($p: ID!) { tierAssess(programmeId: $p, asOf: "2026-06-01T00:00:00+08:00") {
        demoted expired atRisk errors { code } } }""", {"p": w["programme"]}, "tierAssess")
    assert (result["demoted"], result["expired"], result["atRisk"]) == (1, 1, 0), result
    return {"tier.demoted": (w["m2"], w["p2"]), "tier.expired": (w["m3"], w["p3"]),
            "membership.lapsed": (w["m3"], w["p3"])}


async def refund(post, w):
    fee = (await post("""query($m: ID!) { node(id: $m) { ... on Membership { feePayments { id } } } }""",
                      {"m": w["m4"]})).data["node"]["feePayments"][0]["id"]
    await ok(post, """mutation($f: ID!) { feeRefund(id: $f, reason: "Goodwill") { membership { id } errors { code } } }""",
             {"f": fee}, "feeRefund")
    return {"membership.fee_refunded": (w["m4"], w["p4"]), "tier.refunded": (w["m4"], w["p4"])}


async def lock(post, w):
    await ok(post, """mutation($m: ID!) { tierOverrideSet(membershipId: $m, kind: LOCK, tierCode: "A", reason: "Pilot") {
        membership { id } errors { code } } }""", {"m": w["m1"]}, "tierOverrideSet")
    return {"tier.overridden": (w["m1"], w["p1"])}


async def order_promotes(post, w):
    w["m5"] = await _member(post, w, "m5", "p5", "B", "300000", "2026-01-05T00:00:00+08:00")
    order = (await ok(post, PLACE, {"i": {"customerId": w["p5"], "lines": [{"productId": w["product"], "quantity": 1}],
                                          "paid": True}}, "orderPlace"))["order"]["id"]
    w["order"] = order
    return {"order.placed": (order, w["p5"]), "order.paid": (order, w["p5"])}


async def order_returned(post, w):
    await ok(post, """mutation($o: ID!) { orderReturn(id: $o, reason: "Damaged") { order { id } errors { code } } }""",
             {"o": w["order"]}, "orderReturn")
    return {"order.returned": (w["order"], w["p5"]), "tier.promotion_undone": (w["m5"], w["p5"])}


async def order_cancelled(post, w):
    buyer = await new_customer(post, "Walk-in buyer")
    order = (await ok(post, PLACE, {"i": {"customerId": buyer, "lines": [{"productId": w["product"], "quantity": 1}]}},
                      "orderPlace"))["order"]["id"]
    await ok(post, """mutation($o: ID!) { orderCancel(id: $o) { order { id } errors { code } } }""", {"o": order}, "orderCancel")
    return {"order.cancelled": (order, None)}  # not a partner's order: staff only


async def _deal_for(post, customer: str, partner: str) -> str:
    return (await ok(post, """mutation($i: OpportunityCreateInput!) { opportunityCreate(input: $i) { opportunity { id }
        errors { code } } }""", {"i": {"customerId": customer, "name": "Fit-out", "amount": {"amount": "10", "currency": "CNY"},
                                       "registeringPartnerId": partner}}, "opportunityCreate"))["opportunity"]["id"]


async def register(post, w):
    customer = await new_customer(post, "Referred by p1", referringPartnerId=w["p1"])
    registration = await _register(post, w, customer, None)
    return {"deal.registered": (registration, w["p1"])}


async def register_contested(post, w):
    """q referred the customer; p1 registers the deal it was given on it."""
    customer = await new_customer(post, "Referred by q", referringPartnerId=w["q"])
    deal = await _deal_for(post, customer, w["p1"])
    registration = await _register(post, w, customer, deal)
    return {"deal.registered": (registration, w["p1"]), "deal.contested": (registration, w["p1"])}


async def _register(post, w, customer: str, deal: str | None) -> str:
    from crm.auth import Principal, Role

    partner = Principal("p1@test", Role.PARTNER, account_id=pk_of(w["p1"]))
    result = await post("""mutation($c: ID!, $o: ID) { dealRegister(customerId: $c, opportunityId: $o) {
        registration { id } errors { code } } }""", {"c": customer, "o": deal}, as_principal=partner)
    assert not result.errors and result.data["dealRegister"]["errors"] == [], result.body
    return result.data["dealRegister"]["registration"]["id"]


async def merge(post, w):
    into = await new_customer(post, "Acme Ltd", email="a@acme.example")
    duplicate = await new_customer(post, "Acme Limited", email="b@acme.example")
    await ok(post, """mutation($i: ID!, $f: ID!) { customerMerge(intoId: $i, fromId: $f) { merge { id } errors { code } } }""",
             {"i": into, "f": duplicate}, "customerMerge")
    return {"customer.merged": (into, None)}


async def webhook_disabled(post, w):
    """p1's endpoint, on a port where nothing listens, fails its first attempt (the worker
    disables after one failure here): disabled, and told once."""
    from dataclasses import replace

    from crm.auth import Principal, Role
    from events.worker import Worker
    from tests.process import free_port
    from tests.webhook_helpers import CREATE, FAST, work_until

    partner = Principal("p1@test", Role.PARTNER, account_id=pk_of(w["p1"]))
    endpoint = (await ok(post, CREATE, {"i": {"url": f"http://127.0.0.1:{free_port()}/hook"}}, "webhookEndpointCreate",
                         as_principal=partner))["endpoint"]["id"]
    customer = await new_customer(post, "Referred by p1 again", referringPartnerId=w["p1"])
    registration = await _register(post, w, customer, None)  # an event for p1's endpoint
    worker = Worker(w["database"], replace(FAST, max_attempts=1, disable_after=1))

    async def disabled() -> bool:
        found = await post("query($id: ID!) { node(id: $id) { ... on WebhookEndpoint { active } } }", {"id": endpoint},
                           as_principal=partner)
        return found.data["node"]["active"] is False

    await work_until(worker, disabled)
    return {"deal.registered": (registration, w["p1"]), "webhook.endpoint_disabled": (endpoint, w["p1"])}


STEPS = [Step(f.__name__.strip("_"), f) for f in (
    _programme, enrol, book_first, book_last, promote_in_2024, risk_late_2025, earn_below_the_fee, assess_2025, refund,
    lock, order_promotes, order_returned, order_cancelled, register, register_contested, merge, webhook_disabled)]


@pytest.fixture
def settings():
    """Webhook receivers of the story are on 127.0.0.1."""
    from tests.webhook_helpers import private_allowed_settings

    return private_allowed_settings()


async def test_every_event_type_is_caused_once_by_its_step_about_the_right_object(committed_client, committed_database):
    post = poster(committed_client)
    world: dict[str, Any] = {"database": committed_database}
    caused: set[str] = set()
    after = None
    problems: list[str] = []
    for step in STEPS:
        expected = await step.run(post, world)
        events, after = await feed(post, after)  # validated against their schemas
        counts = Counter(e["type"] for e in events)
        async with committed_database.session() as session:
            accounts = dict((await session.execute(text("SELECT id, account_id FROM event WHERE id = ANY(:ids)"),
                                                   {"ids": [pk_of(e["id"]) for e in events]})).all())
        for kind, (aggregate, account) in expected.items():
            caused.add(kind)
            if counts[kind] != 1:
                problems.append(f"{step.name}: {kind} emitted {counts[kind]} times ({sorted(counts)})")
                continue
            emitted = next(e for e in events if e["type"] == kind)
            if emitted["aggregateId"] != aggregate:
                problems.append(f"{step.name}: {kind} is about {emitted['aggregateId']}, not {aggregate}")
            if accounts[pk_of(emitted["id"])] != (pk_of(account) if account else None):
                problems.append(f"{step.name}: {kind} is for account {accounts[pk_of(emitted['id'])]}, not {account}")
    assert problems == []
    assert caused == set(CATALOGUE), f"event types no step causes: {sorted(set(CATALOGUE) - caused)}"
