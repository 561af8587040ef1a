"""Programme configuration, rule versions, enrolment, overrides, adjustments, preview."""

from __future__ import annotations

import copy

import pytest

from tests.helpers import gid, new_customer, new_product, ok, refused
from tests.programme_helpers import AGENT_TIERS, agents_programme, enroll

CREATE = """mutation($i: ProgrammeCreateInput!) { programmeCreate(input: $i) { programme { id name window { kind months } } errors { field code } } }"""
DRAFT = """mutation($p: ID!, $t: [TierInput!]!) { ruleVersionCreate(programmeId: $p, tiers: $t) { version { id number status } errors { field code } } }"""
UPDATE = """mutation($v: ID!, $t: [TierInput!]!) { ruleVersionUpdate(id: $v, tiers: $t) { version { id } errors { field code } } }"""
PUBLISH = """mutation($v: ID!, $at: DateTime!) { ruleVersionPublish(id: $v, effectiveFrom: $at) { version { id status effectiveFrom } errors { field code } } }"""
ENROLL = """mutation($i: MembershipEnrollInput!) { membershipEnroll(input: $i) { membership { id } errors { field code message } } }"""
BASE = {"name": "Members", "kind": "MEMBER", "currency": "EUR", "timeZone": "Europe/Berlin"}


@pytest.mark.parametrize(
    ("input", "field", "code"),
    [
        ({"name": ""}, "name", "REQUIRED"),
        ({"currency": "EURO"}, "currency", "UNKNOWN_CURRENCY"),
        ({"timeZone": "Mars/Olympus"}, "timeZone", "UNKNOWN_TIME_ZONE"),
        ({"timeZone": ""}, "timeZone", "UNKNOWN_TIME_ZONE"),
        ({"timeZone": "America"}, "timeZone", "UNKNOWN_TIME_ZONE"),  # a folder of zones, not a zone
        # Python knows it (a file of its zone data), PostgreSQL does not: windows are cut in both
        ({"timeZone": "localtime"}, "timeZone", "UNKNOWN_TIME_ZONE"),
        ({"windowKind": "ROLLING_MONTHS"}, "windowMonths", "REQUIRED"),
        ({"windowKind": "ROLLING_MONTHS", "windowMonths": 40}, "windowMonths", "OUT_OF_RANGE"),
        ({"windowMonths": 3}, "windowMonths", "INVALID"),
        ({"feeTermMonths": 0}, "feeTermMonths", "OUT_OF_RANGE"),
        ({"maxDrop": -1}, "maxDrop", "OUT_OF_RANGE"),
        ({"graceDays": 400}, "graceDays", "OUT_OF_RANGE"),
    ],
)
async def test_programme_refusals(post_graphql, input, field, code):
    assert await refused(post_graphql, CREATE, {"i": {**BASE, **input}}, "programmeCreate") == [(field, code)]
    assert (await post_graphql("{ programmes { id } }")).data["programmes"] == []


async def test_programme_names_are_unique_and_rolling_windows_keep_months(post_graphql):
    created = (await ok(post_graphql, CREATE, {"i": {**BASE, "windowKind": "ROLLING_MONTHS", "windowMonths": 6}}, "programmeCreate"))["programme"]
    assert created["window"] == {"kind": "ROLLING_MONTHS", "months": 6}
    assert await refused(post_graphql, CREATE, {"i": {**BASE, "name": "MEMBERS"}}, "programmeCreate") == [("name", "DUPLICATE")]


def tiers_with(index: int, **changes) -> list[dict]:
    tiers = copy.deepcopy(AGENT_TIERS)
    tiers[index].update(changes)
    return tiers


@pytest.mark.parametrize(
    ("tiers", "errors"),
    [
        ([], [("tiers", "REQUIRED")]),
        (tiers_with(1, rank=1), [("tiers.1.rank", "DUPLICATE_RANK")]),
        (tiers_with(1, code="b"), [("tiers.1.code", "DUPLICATE_CODE")]),
        (tiers_with(1, promotionThreshold="400000", retentionThreshold="350000"),
         [("tiers.1.promotionThreshold", "THRESHOLDS_NOT_INCREASING")]),
        (tiers_with(1, retentionThreshold="200000"), [("tiers.1.retentionThreshold", "THRESHOLDS_NOT_INCREASING")]),
        (tiers_with(0, retentionThreshold="600000"), [("tiers.0.retentionThreshold", "RETENTION_ABOVE_PROMOTION")]),
        (tiers_with(0, discountRate="1"), [("tiers.0.discountRate", "OUT_OF_RANGE")]),
        (tiers_with(0, discountRate="-0.1"), [("tiers.0.discountRate", "OUT_OF_RANGE")]),
        (tiers_with(0, discountRate="0.12345"), [("tiers.0.discountRate", "INVALID")]),
        (tiers_with(0, entryFee="-1"), [("tiers.0.entryFee", "OUT_OF_RANGE")]),
        (tiers_with(0, trainingQuota=-2), [("tiers.0.trainingQuota", "OUT_OF_RANGE")]),
        (tiers_with(0, rank=0), [("tiers.0.rank", "OUT_OF_RANGE")]),
        (tiers_with(0, code=""), [("tiers.0.code", "REQUIRED")]),
    ],
)
async def test_rule_validation_refuses_bad_tiers(post_graphql, tiers, errors):
    programme = (await ok(post_graphql, CREATE, {"i": BASE}, "programmeCreate"))["programme"]["id"]
    assert await refused(post_graphql, DRAFT, {"p": programme, "t": tiers}, "ruleVersionCreate") == errors
    versions = await post_graphql("query($id: ID!) { node(id: $id) { ... on Programme { versions { id } } } }", {"id": programme})
    assert versions.data["node"]["versions"] == []


async def test_versions_draft_publish_and_immutable(post_graphql):
    programme = (await ok(post_graphql, CREATE, {"i": BASE}, "programmeCreate"))["programme"]["id"]
    first = (await ok(post_graphql, DRAFT, {"p": programme, "t": AGENT_TIERS}, "ruleVersionCreate"))["version"]
    assert (first["number"], first["status"]) == (1, "DRAFT")
    await ok(post_graphql, UPDATE, {"v": first["id"], "t": tiers_with(0, name="Bronze")}, "ruleVersionUpdate")
    published = (await ok(post_graphql, PUBLISH, {"v": first["id"], "at": "2026-01-01T00:00:00+01:00"}, "ruleVersionPublish"))["version"]
    assert published["status"] == "PUBLISHED" and published["effectiveFrom"] == "2025-12-31T23:00:00+00:00"
    assert await refused(post_graphql, UPDATE, {"v": first["id"], "t": AGENT_TIERS}, "ruleVersionUpdate") == [("id", "VERSION_PUBLISHED")]
    assert await refused(post_graphql, PUBLISH, {"v": first["id"], "at": "2027-01-01T00:00:00Z"}, "ruleVersionPublish") == [("id", "VERSION_PUBLISHED")]
    second = (await ok(post_graphql, DRAFT, {"p": programme, "t": AGENT_TIERS}, "ruleVersionCreate"))["version"]
    # effective dates never overlap: a new version starts after every published one
    for at in ("2026-01-01T00:00:00+01:00", "2025-06-01T00:00:00Z"):
        assert await refused(post_graphql, PUBLISH, {"v": second["id"], "at": at}, "ruleVersionPublish") == [
            ("effectiveFrom", "OVERLAPPING_EFFECTIVE_DATE")]
    assert await refused(post_graphql, PUBLISH, {"v": second["id"], "at": "2027-01-01T00:00:00"}, "ruleVersionPublish") == [
        ("effectiveFrom", "INVALID")]  # no UTC offset
    await ok(post_graphql, PUBLISH, {"v": second["id"], "at": "2027-01-01T00:00:00+01:00"}, "ruleVersionPublish")
    in_force = """query($id: ID!, $at: DateTime) { node(id: $id) { ... on Programme { rulesInForce(at: $at) { number tiers { name } } } } }"""
    expectations = {"2025-12-31T22:59:59Z": None, "2026-06-01T00:00:00Z": 1, "2027-06-01T00:00:00Z": 2}
    for at, number in expectations.items():
        rules = (await post_graphql(in_force, {"id": programme, "at": at})).data["node"]["rulesInForce"]
        assert (rules or {}).get("number") == number
    assert (await post_graphql(in_force, {"id": programme, "at": "2026-06-01T00:00:00Z"})).data["node"]["rulesInForce"]["tiers"][0]["name"] == "Bronze"


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"amount": "299999.99"}, "feePayment.amount", "FEE_TOO_LOW"),
        ({"amount": "-1"}, "feePayment.amount", "OUT_OF_RANGE"),
        ({"currency": "USD"}, "feePayment.currency", "CURRENCY_MISMATCH"),
        ({"tier": "Z"}, "tierCode", "UNKNOWN_TIER"),
        ({"paidAt": "2024-06-01T00:00:00+08:00"}, "programmeId", "NO_RULES_IN_FORCE"),
        ({"account": "plain"}, "accountId", "NOT_A_PARTNER"),
        ({"account": "missing"}, "accountId", "NOT_FOUND"),
        ({"programme": "garbage"}, "programmeId", "INVALID"),
    ],
)
async def test_enrolment_refusals(post_graphql, change, field, code):
    setup = await agents_programme(post_graphql)
    agent = await new_customer(post_graphql, "Agent", classification="PARTNER")
    plain = await new_customer(post_graphql, "Plain")
    accounts = {"plain": plain, "missing": gid("Customer", 999999)}
    variables = {"i": {
        "accountId": accounts.get(change.get("account"), agent),
        "programmeId": "garbage" if change.get("programme") else setup["programme"],
        "tierCode": change.get("tier", "B"),
        "feePayment": {"amount": {"amount": change.get("amount", "300000"), "currency": change.get("currency", "CNY")},
                       "paidAt": change.get("paidAt", "2025-02-01T00:00:00+08:00")}}}
    result = await post_graphql(ENROLL, variables)
    errors = result.data["membershipEnroll"]["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [(field, code)]
    if code == "FEE_TOO_LOW":
        assert "0.01 CNY is missing" in errors[0]["message"]
    assert (await post_graphql("query($a: ID!) { membership(accountId: $a) { id } }", {"a": agent})).data["membership"] is None


async def test_overrides_floor_lock_and_refund(post_graphql):
    setup = await agents_programme(post_graphql, effective_from="2020-01-01T00:00:00+08:00")
    agent = await new_customer(post_graphql, "Agent", classification="PARTNER")
    membership = (await enroll(post_graphql, agent, setup["programme"], "B", "300000", "2026-01-05T00:00:00+08:00"))["membership"]["id"]
    view = "query($a: ID!) { membership(accountId: $a) { tier { code } overrides { id kind } feePayments { id } history { reason } } }"
    override = """mutation($m: ID!, $k: OverrideKind!, $t: String!) { tierOverrideSet(membershipId: $m, kind: $k, tierCode: $t, reason: "Key account") {
        membership { tier { code } } errors { field code } } }"""
    assert (await ok(post_graphql, override, {"m": membership, "k": "FLOOR", "t": "A"}, "tierOverrideSet"))["membership"]["tier"]["code"] == "A"
    state = (await post_graphql(view, {"a": agent})).data["membership"]
    floor = state["overrides"][0]["id"]
    await ok(post_graphql, "mutation($id: ID!) { tierOverrideRevoke(id: $id) { membership { id } errors { code } } }", {"id": floor}, "tierOverrideRevoke")
    assert (await post_graphql(view, {"a": agent})).data["membership"]["tier"]["code"] == "B"
    assert await refused(post_graphql, "mutation($id: ID!) { tierOverrideRevoke(id: $id) { membership { id } errors { field code } } }",
                         {"id": floor}, "tierOverrideRevoke") == [("id", "NO_CHANGE")]
    assert await refused(post_graphql, override, {"m": membership, "k": "LOCK", "t": "Q"}, "tierOverrideSet") == [("tierCode", "UNKNOWN_TIER")]
    # a refund ends the fee term: no tier left
    fee = state["feePayments"][0]["id"]
    refund = "mutation($id: ID!) { feeRefund(id: $id, reason: \"Cancelled contract\") { membership { tier { code } } errors { field code } } }"
    assert (await ok(post_graphql, refund, {"id": fee}, "feeRefund"))["membership"]["tier"] is None
    assert await refused(post_graphql, refund, {"id": fee}, "feeRefund") == [("id", "ALREADY_REFUNDED")]
    assert [h["reason"] for h in (await post_graphql(view, {"a": agent})).data["membership"]["history"]] == [
        "FEE_PAID", "OVERRIDE", "OVERRIDE", "REFUND"]


async def test_adjustments_are_idempotent_by_key_and_can_promote(post_graphql):
    setup = await agents_programme(post_graphql, effective_from="2020-01-01T00:00:00+08:00")
    agent = await new_customer(post_graphql, "Agent", classification="PARTNER")
    membership = (await enroll(post_graphql, agent, setup["programme"], "B", "300000", "2026-01-05T00:00:00+08:00"))["membership"]["id"]
    adjust = """mutation($m: ID!, $a: Decimal!, $k: String) { qualifyingAdjust(membershipId: $m, amount: $a, reason: "Migrated volume", key: $k) {
        membership { tier { code } qualifyingVolume { amount } } errors { field code } } }"""
    first = await ok(post_graphql, adjust, {"m": membership, "a": "1000000", "k": "migration-1"}, "qualifyingAdjust")
    assert first["membership"]["tier"]["code"] == "A"
    again = await ok(post_graphql, adjust, {"m": membership, "a": "1000000", "k": "migration-1"}, "qualifyingAdjust")
    assert again["membership"]["qualifyingVolume"] == first["membership"]["qualifyingVolume"]
    for amount, code in (("0", "INVALID"), ("1.001", "INVALID")):
        assert await refused(post_graphql, adjust, {"m": membership, "a": amount}, "qualifyingAdjust") == [("amount", code)]
    for amount in ("NaN", "1e1000000000", "-1e1000000000"):  # not decimals at all: the scalar refuses them
        assert (await post_graphql(adjust, {"m": membership, "a": amount})).error_codes == ["BAD_USER_INPUT"]


async def test_preview_of_a_draft_writes_nothing(post_graphql):
    setup = await agents_programme(post_graphql)
    programme = setup["programme"]
    product = await new_product(post_graphql, "BULK", "10000.00", currency="CNY")
    agents = [await new_customer(post_graphql, f"Agent {i}", classification="PARTNER") for i in range(3)]
    for agent in agents:
        await enroll(post_graphql, agent, programme, "B", "300000", "2025-01-10T10:00:00+08:00")
    # agent 0 buys and pays 60 units at B (540,000): it earns B; agent 1 buys 10 (90,000); agent 2 nothing
    for agent, units in ((agents[0], 60), (agents[1], 10)):
        await ok(post_graphql, """mutation($i: OrderPlaceInput!) { orderPlace(input: $i) { order { id } errors { code } } }""",
                 {"i": {"customerId": agent, "placedAt": "2025-03-01T10:00:00+08:00", "paid": True,
                        "lines": [{"productId": product, "quantity": units}]}}, "orderPlace")
    # a draft where 500,000 earns the top tier (C, 30% off)
    tiers = copy.deepcopy(AGENT_TIERS) + [{"rank": 3, "code": "C", "name": "C", "entryFee": "900000", "discountRate": "0.30",
                                           "trainingQuota": 20, "promotionThreshold": "2000000", "retentionThreshold": "900000"}]
    tiers[1].update(promotionThreshold="520000", retentionThreshold="400000")
    tiers[2].update(promotionThreshold="530000", retentionThreshold="500000")
    draft = (await ok(post_graphql, DRAFT, {"p": programme, "t": tiers}, "ruleVersionCreate"))["version"]["id"]
    result = await post_graphql("""query($v: ID!, $at: DateTime) { programmePreview(versionId: $v, asOf: $at) {
        movingUp movingDown staying moves { fromRank toRank members } discountCostChange { amount currency } } }""",
                                {"v": draft, "at": "2026-01-01T01:00:00+08:00"})
    assert not result.errors, result.body
    preview = result.data["programmePreview"]
    # agent 0: 540,000 in 2025 reaches C's 530,000 -> rank 3; the others stay B (fees still in term)
    assert preview["moves"] == [{"fromRank": 1, "toRank": 1, "members": 2}, {"fromRank": 1, "toRank": 3, "members": 1}]
    assert (preview["movingUp"], preview["movingDown"], preview["staying"]) == (1, 0, 2)
    # agent 0's 600,000 list value would have had 30% instead of 10% off: 120,000 more discount
    assert preview["discountCostChange"] == {"amount": "120000.00", "currency": "CNY"}
    membership = await post_graphql("query($a: ID!) { membership(accountId: $a) { tier { code } earnedRank } }", {"a": agents[0]})
    assert membership.data["membership"] == {"tier": {"code": "B"}, "earnedRank": 1}


async def test_merge_moves_memberships_unless_both_are_members(post_graphql):
    setup = await agents_programme(post_graphql, effective_from="2020-01-01T00:00:00+08:00")
    survivor = await new_customer(post_graphql, "Agent", classification="PARTNER")
    merged = await new_customer(post_graphql, "Agent Ltd", classification="PARTNER")
    other = await new_customer(post_graphql, "Agent GmbH", classification="PARTNER")
    await enroll(post_graphql, merged, setup["programme"], "B", "300000", "2026-01-05T00:00:00+08:00")
    merge = """mutation($i: ID!, $f: ID!) { customerMerge(intoId: $i, fromId: $f) { merge { moved } errors { field code } } }"""
    result = await ok(post_graphql, merge, {"i": survivor, "f": merged}, "customerMerge")
    assert result["merge"]["moved"]["memberships"] == 1
    member = await post_graphql("query($a: ID!) { membership(accountId: $a) { tier { code } } }", {"a": survivor})
    assert member.data["membership"] == {"tier": {"code": "B"}}
    await enroll(post_graphql, other, setup["programme"], "B", "300000", "2026-01-05T00:00:00+08:00")
    assert await refused(post_graphql, merge, {"i": survivor, "f": other}, "customerMerge") == [("fromId", "MEMBERSHIP_CONFLICT")]


async def test_preview_refusals_are_typed(post_graphql):
    setup = await agents_programme(post_graphql)
    query = "query($v: ID!, $at: DateTime) { programmePreview(versionId: $v, asOf: $at) { staying } }"
    assert (await post_graphql(query, {"v": setup["version"], "at": "2026-01-01T00:00:00"})).error_codes == ["BAD_USER_INPUT"]
    assert (await post_graphql(query, {"v": gid("RuleVersion", 99999)})).error_codes == ["BAD_USER_INPUT"]
    assert (await post_graphql(query, {"v": "junk"})).error_codes == ["INVALID_ID"]
