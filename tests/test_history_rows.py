"""Regressions: a history row's fromRank, reason and instant agree with the one function of
the tier at an instant (tier_state_at), not with the membership's cached rank. (The outside
tester's s48, s45, s14 and s42 scripts, and the EXPIRED row dated at the assessment.)
Programme "Agents" of tests.programme_helpers: B fee 300,000, promotion 500,000; A fee
500,000, promotion 1,000,000; here in UTC with one-month fee terms unless said."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from models import OverrideKind
from resolvers.ids import from_global_id
from tests.helpers import new_customer, ok
from tests.programme_helpers import agents_programme, enroll
from tiers import membership as service

HISTORY = """query($a: ID!, $at: DateTime) { membership(accountId: $a, at: $at) { id tier { code } validUntil
  history { fromRank toRank reason at earnedRank explanation } } }"""
ADJUST = """mutation($m: ID!, $a: Decimal!, $at: DateTime) { qualifyingAdjust(membershipId: $m, amount: $a, reason: "Imported",
  occurredAt: $at) { membership { id } errors { code } } }"""
ASSESS = """mutation($p: ID!, $at: DateTime) { tierAssess(programmeId: $p, asOf: $at) { members expired errors { field code } } }"""
OVERRIDE = """mutation($m: ID!, $k: OverrideKind!, $t: String!, $e: DateTime) { tierOverrideSet(membershipId: $m, kind: $k,
  tierCode: $t, reason: "Launch", expiresAt: $e) { membership { id } errors { code } } }"""
DISTRIBUTION = """query($p: ID!, $from: DateTime!, $at: DateTime) { tierDistribution(programmeId: $p, from: $from, asOf: $at) {
  promotions } }"""


async def _data(post_graphql, query, variables, field):
    result = await post_graphql(query, variables)
    assert not result.errors, result.body
    return result.data[field]


async def _member(post_graphql, tier="B", paid_at="2026-01-10T00:00:00Z", **settings):
    setup = await agents_programme(post_graphql, effective_from="2025-01-01T00:00:00Z",
                                   **{"timeZone": "UTC", "feeTermMonths": 1, **settings})
    agent = await new_customer(post_graphql, "Agent Co", classification="PARTNER")
    fee = "300000" if tier == "B" else "500000"
    member = (await enroll(post_graphql, agent, setup["programme"], tier, fee, paid_at))["membership"]["id"]
    return setup, agent, member


async def _rows(post_graphql, agent, at=None):
    view = await _data(post_graphql, HISTORY, {"a": agent, "at": at}, "membership")
    return [(h["reason"], h["fromRank"], h["toRank"], h["at"]) for h in view["history"]]


async def test_a_promotion_after_an_unrecorded_lapse_is_from_the_tier_in_force(post_graphql):
    # s48: B's fee term [01-10, 02-10) lapsed, unrecorded; volume earns B on 06-01: the
    # tier in force went from none to B, a promotion, not "EARNED 1 -> 1".
    setup, agent, member = await _member(post_graphql)
    await ok(post_graphql, ADJUST, {"m": member, "a": "600000", "at": "2026-06-01T00:00:00Z"}, "qualifyingAdjust")
    assert await _rows(post_graphql, agent) == [
        ("FEE_PAID", 0, 1, "2026-01-10T00:00:00+00:00"), ("PROMOTED", 0, 1, "2026-06-01T00:00:00+00:00")]
    counts = await _data(post_graphql, DISTRIBUTION, {"p": setup["programme"], "from": "2026-03-01T00:00:00Z",
                                                    "at": "2026-07-01T00:00:00Z"}, "tierDistribution")
    assert counts["promotions"] == 1


async def test_a_back_dated_fee_row_is_true_at_its_instant_and_keeps_the_tier_now(post_graphql):
    # s45: B until 02-01; 1,120,000 on 06-01 promotes to A (from none); B paid again,
    # back-dated to 03-01 (before the promotion row): none -> B at 03-01, and A stays
    # the tier of the latest row (the cache), so a later write starts from A.
    setup, agent, member = await _member(post_graphql, paid_at="2026-01-01T00:00:00Z")
    await ok(post_graphql, ADJUST, {"m": member, "a": "1120000", "at": "2026-06-01T00:00:00Z"}, "qualifyingAdjust")
    await enroll(post_graphql, agent, setup["programme"], "B", "300000", "2026-03-01T00:00:00Z")
    assert await _rows(post_graphql, agent) == [
        ("FEE_PAID", 0, 1, "2026-01-01T00:00:00+00:00"), ("FEE_PAID", 0, 1, "2026-03-01T00:00:00+00:00"),
        ("PROMOTED", 0, 2, "2026-06-01T00:00:00+00:00")]
    await ok(post_graphql, OVERRIDE, {"m": member, "k": "LOCK", "t": "B", "e": None}, "tierOverrideSet")
    assert (await _rows(post_graphql, agent))[-1][:3] == ("OVERRIDE", 2, 1)


async def test_a_fee_back_dated_before_a_later_fee_row_changes_from_what_was_in_force(post_graphql):
    # s14: B paid 06-01, then A back-dated to 03-01: the A row is none -> A at 03-01.
    setup, agent, member = await _member(post_graphql, paid_at="2026-06-01T00:00:00Z", feeTermMonths=12)
    await enroll(post_graphql, agent, setup["programme"], "A", "500000", "2026-03-01T00:00:00Z")
    assert await _rows(post_graphql, agent) == [
        ("FEE_PAID", 0, 2, "2026-03-01T00:00:00+00:00"), ("FEE_PAID", 0, 1, "2026-06-01T00:00:00+00:00")]


async def test_an_override_after_a_lapse_is_from_the_tier_in_force(post_graphql):
    # s42: B's fee ended 02-01, unrecorded; a floor A set now changes none -> A.
    setup, agent, member = await _member(post_graphql, paid_at="2026-01-01T00:00:00Z")
    await ok(post_graphql, OVERRIDE, {"m": member, "k": "FLOOR", "t": "A", "e": "2099-03-01T00:00:00Z"}, "tierOverrideSet")
    assert (await _rows(post_graphql, agent))[-1][:3] == ("OVERRIDE", 0, 2)


async def test_an_expired_row_is_dated_at_the_lapse_not_at_the_assessment(post_graphql):
    # The tester: a fee term ending 2026-02-01 assessed on 2026-12-02 lapsed on 02-01.
    setup, agent, member = await _member(post_graphql, tier="A", paid_at="2026-01-01T00:00:00Z")
    result = await ok(post_graphql, ASSESS, {"p": setup["programme"], "at": "2026-12-02T00:00:00Z"}, "tierAssess")
    assert (result["errors"], result["expired"]) == ([], 1)
    assert await _rows(post_graphql, agent) == [
        ("FEE_PAID", 0, 2, "2026-01-01T00:00:00+00:00"), ("EXPIRED", 2, 0, "2026-02-01T00:00:00+00:00")]


async def test_an_expired_row_is_dated_at_the_lapse_that_dropped_the_tier(post_graphql, database):
    # B's fee lapses 02-01 while a floor A (from 01-15) holds the tier; the floor expires
    # 03-15: the tier dropped then, from A to none, and both are named as lapsed.
    setup, agent, member = await _member(post_graphql, paid_at="2026-01-01T00:00:00Z")
    async with database.session() as session, session.begin():
        await service.set_override(session, from_global_id(member)[1], kind=OverrideKind.FLOOR, tier_code="A",
                                   reason="Launch", expires_at=_utc(2026, 3, 15), at=_utc(2026, 1, 15), actor_id=None)
    result = await ok(post_graphql, ASSESS, {"p": setup["programme"], "at": "2026-12-02T00:00:00Z"}, "tierAssess")
    assert result["expired"] == 1
    view = await _data(post_graphql, HISTORY, {"a": agent, "at": None}, "membership")
    lapse = view["history"][-1]
    assert (lapse["reason"], lapse["fromRank"], lapse["toRank"], lapse["at"]) == ("EXPIRED", 2, 0, "2026-03-15T00:00:00+00:00")
    assert len(lapse["explanation"]["lapsed"]) == 2


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


PREVIEW = """query($v: ID!, $at: DateTime) { programmePreview(versionId: $v, asOf: $at) { movingUp movingDown staying
  moves { fromRank toRank members } movers(first: 10) { edges { node { fromRank toRank } } } } }"""
DRAFT = """mutation($p: ID!, $t: [TierInput!]!) { ruleVersionCreate(programmeId: $p, tiers: $t) { version { id } errors { code } } }"""


async def _draft(post_graphql, programme):
    from tests.programme_helpers import AGENT_TIERS
    return (await ok(post_graphql, DRAFT, {"p": programme, "t": AGENT_TIERS}, "ruleVersionCreate"))["version"]["id"]


async def test_a_draft_like_the_rules_moves_nobody_whose_fee_lapsed_unrecorded(post_graphql):
    # s23: A by fee from 2025-02-01 for 12 months, lapsed on 2026-02-01 (unrecorded): a
    # draft identical to the published rules keeps the member where it is, at no tier.
    setup, agent, member = await _member(post_graphql, tier="A", paid_at="2025-02-01T00:00:00Z", feeTermMonths=12)
    draft = await _draft(post_graphql, setup["programme"])
    preview = await _data(post_graphql, PREVIEW, {"v": draft, "at": "2026-06-01T00:00:00Z"}, "programmePreview")
    assert (preview["movingUp"], preview["movingDown"], preview["staying"]) == (0, 0, 1)
    assert preview["moves"] == [{"fromRank": 0, "toRank": 0, "members": 1}] and preview["movers"]["edges"] == []


async def test_a_preview_in_the_past_moves_from_the_tier_then_not_a_later_override(post_graphql, database):
    # s22: B by fee from 2025-01-10; a floor A set on 2026-03-01. At 2025-06-01 the
    # member held B, and a draft like the rules keeps it at B.
    setup, agent, member = await _member(post_graphql, paid_at="2025-01-10T00:00:00Z", feeTermMonths=12)
    async with database.session() as session, session.begin():
        await service.set_override(session, from_global_id(member)[1], kind=OverrideKind.FLOOR, tier_code="A",
                                   reason="Launch", expires_at=None, at=_utc(2026, 3, 1), actor_id=None)
    draft = await _draft(post_graphql, setup["programme"])
    preview = await _data(post_graphql, PREVIEW, {"v": draft, "at": "2025-06-01T00:00:00Z"}, "programmePreview")
    assert preview["moves"] == [{"fromRank": 1, "toRank": 1, "members": 1}] and preview["movers"]["edges"] == []
    now = await _data(post_graphql, PREVIEW, {"v": draft, "at": None}, "programmePreview")
    assert now["moves"] == [{"fromRank": 2, "toRank": 2, "members": 1}]


ENTRIES = """query($a: ID!, $at: DateTime) { membership(accountId: $a, at: $at) { qualifyingVolume { amount }
  qualifyingEntries(first: 50) { edges { node { occurredAt amount { amount } } } } } }"""


async def test_a_rolling_window_row_states_the_window_its_volume_was_counted_in(post_graphql):
    # s41: rolling 3 months in UTC; 1,100,000 on 06-01 and 20,000 at exactly 07-01: the
    # row of each promotion states a window that holds every entry its volume counts,
    # and the entries of that window up to the row's instant sum to it.
    setup = await agents_programme(post_graphql, effective_from="2025-01-01T00:00:00Z", timeZone="UTC",
                                   windowKind="ROLLING_MONTHS", windowMonths=3)
    agent = await new_customer(post_graphql, "Agent Co", classification="PARTNER")
    member = (await enroll(post_graphql, agent, setup["programme"], "B", "300000", "2026-02-01T00:00:00Z"))["membership"]["id"]
    await ok(post_graphql, ADJUST, {"m": member, "a": "490000", "at": "2026-06-01T00:00:00Z"}, "qualifyingAdjust")
    await ok(post_graphql, ADJUST, {"m": member, "a": "518000", "at": "2026-07-01T00:00:00Z"}, "qualifyingAdjust")
    view = await _data(post_graphql, """query($a: ID!) { membership(accountId: $a) { history { reason at windowStart
        windowEnd qualifyingVolume } } }""", {"a": agent}, "membership")
    [promotion] = [h for h in view["history"] if h["reason"] == "PROMOTED"]
    assert (promotion["at"], promotion["qualifyingVolume"]) == ("2026-07-01T00:00:00+00:00", "1008000.00")
    start, end = (datetime.fromisoformat(promotion[k]) for k in ("windowStart", "windowEnd"))
    statement = await _data(post_graphql, ENTRIES, {"a": agent, "at": promotion["at"]}, "membership")
    entries = [(datetime.fromisoformat(e["node"]["occurredAt"]), Decimal(e["node"]["amount"]["amount"]))
               for e in statement["qualifyingEntries"]["edges"]]
    assert all(start <= at < end for at, _ in entries) and len(entries) == 2
    assert sum(amount for _, amount in entries) == Decimal(promotion["qualifyingVolume"]) \
        == Decimal(statement["qualifyingVolume"]["amount"])


TRAINING = """query($a: ID!, $at: DateTime) { membership(accountId: $a, at: $at) { training { granted used remaining }
  benefits { code used } upcomingBookings { title } } }"""
BOOK = """mutation($m: ID!, $s: DateTime!) { trainingBook(membershipId: $m, title: "Onboarding", sessionAt: $s) {
  booking { id } errors { code } } }"""


async def test_figures_at_a_past_instant_count_only_what_had_happened(post_graphql):
    # s19: a session booked now does not show as used, or as upcoming, at an instant
    # before it was booked.
    before = datetime.now(timezone.utc) - timedelta(minutes=1)
    setup, agent, member = await _member(post_graphql, paid_at=(before - timedelta(days=30)).isoformat(), feeTermMonths=12)
    await ok(post_graphql, BOOK, {"m": member, "s": (before + timedelta(days=30)).isoformat()}, "trainingBook")
    then = await _data(post_graphql, TRAINING, {"a": agent, "at": before.isoformat()}, "membership")
    assert then["training"] == {"granted": 2, "used": 0, "remaining": 2} and then["upcomingBookings"] == []
    assert {b["code"]: b["used"] for b in then["benefits"]}["training"] == 0
    now = await _data(post_graphql, TRAINING, {"a": agent, "at": None}, "membership")
    assert now["training"] == {"granted": 2, "used": 1, "remaining": 1} and now["upcomingBookings"] == [{"title": "Onboarding"}]


VALID = """query($a: ID!, $at: DateTime) { membership(accountId: $a, at: $at) { tier { code } validUntil } }"""


async def test_valid_until_is_the_end_of_the_source_that_gives_the_tier(post_graphql):
    # s42: B's fee ended 02-01; A held only by a floor expiring 2099-03-01: that expiry
    # (it was null); a lock says its own expiry likewise.
    setup, agent, member = await _member(post_graphql, paid_at="2026-01-01T00:00:00Z")
    for kind in ("FLOOR", "LOCK"):
        await ok(post_graphql, OVERRIDE, {"m": member, "k": kind, "t": "A", "e": f"2099-0{3 if kind == 'FLOOR' else 2}-01T00:00:00Z"},
                 "tierOverrideSet")
        view = await _data(post_graphql, VALID, {"a": agent, "at": None}, "membership")
        assert view == {"tier": {"code": "A"}, "validUntil": "2099-03-01T00:00:00+00:00" if kind == "FLOOR"
                        else "2099-02-01T00:00:00+00:00"}, kind


async def test_valid_until_of_an_earned_tier_past_its_hold_is_not_a_year_nothing_grants(post_graphql):
    # s1: A earned on 2025-03-01, held to the end of 2026; on 2027-01-02, before any
    # assessment, the tier holds only until 2026's assessment may run (its end), not
    # to the end of 2027.
    setup, agent, member = await _member(post_graphql, paid_at="2025-01-10T00:00:00Z")
    await ok(post_graphql, ADJUST, {"m": member, "a": "1000000", "at": "2025-03-01T00:00:00Z"}, "qualifyingAdjust")
    for at in ("2025-03-02T00:00:00Z", "2027-01-02T00:00:00Z"):
        view = await _data(post_graphql, VALID, {"a": agent, "at": at}, "membership")
        assert view == {"tier": {"code": "A"}, "validUntil": "2027-01-01T00:00:00+00:00"}, at


async def test_valid_until_is_given_in_the_programme_time_zone(post_graphql):
    setup = await agents_programme(post_graphql, effective_from="2025-01-01T00:00:00+08:00")  # Asia/Shanghai
    agent = await new_customer(post_graphql, "Agent Co", classification="PARTNER")
    await enroll(post_graphql, agent, setup["programme"], "B", "300000", "2026-01-05T00:00:00+08:00")
    view = await _data(post_graphql, VALID, {"a": agent, "at": "2026-02-01T00:00:00+08:00"}, "membership")
    assert view["validUntil"] == "2027-01-05T00:00:00+08:00"
