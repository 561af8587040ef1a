"""Benefit quotas per benefit period: training and the other benefits of a tier, one
machinery; the benefit period is the programme's, never the qualification period."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from crm.auth import Principal, Role
from kernel.errors import DomainError
from models import BenefitGrant, BenefitUsage, FeePayment, Membership, Tier
from tiers import benefits, membership as service
from tiers.programmes import version_rules
from tiers.view import membership_view
from tests.helpers import gid, new_customer, ok, refused
from tests.programme_helpers import BENEFIT_TIERS as TIERS
from tests.programme_helpers import CO_MARKETING, enroll

SHANGHAI = ZoneInfo("Asia/Shanghai")
USE = """mutation($m: ID!, $b: String!, $q: Int!, $n: String, $k: String) {
  benefitUse(membershipId: $m, benefit: $b, quantity: $q, note: $n, idempotencyKey: $k) {
    membership { id benefits { code name granted used remaining periodStart periodEnd } } errors { field code message } } }"""
MINE = "{ myMembership { id benefits { code granted used remaining periodStart periodEnd } training { granted used remaining } } }"


def pk_of(global_id: str) -> int:
    return int(base64.b64decode(global_id).decode().split(":")[1])


def shanghai(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


async def programme(post_graphql, tiers=TIERS, **settings) -> str:
    created = await ok(post_graphql, """mutation($i: ProgrammeCreateInput!) { programmeCreate(input: $i) {
        programme { id benefitPeriod } errors { field code } } }""", {"i": {
        "name": "Agents", "kind": "AGENT", "currency": "CNY", "timeZone": "Asia/Shanghai", "windowKind": "CALENDAR_YEAR",
        **settings}}, "programmeCreate")
    programme_id = created["programme"]["id"]
    version = (await ok(post_graphql, """mutation($p: ID!, $t: [TierInput!]!) { ruleVersionCreate(programmeId: $p, tiers: $t) {
        version { id } errors { field code } } }""", {"p": programme_id, "t": tiers}, "ruleVersionCreate"))["version"]["id"]
    await ok(post_graphql, """mutation($v: ID!) { ruleVersionPublish(id: $v, effectiveFrom: "2020-01-01T00:00:00+08:00") {
        version { id } errors { field code } } }""", {"v": version}, "ruleVersionPublish")
    return programme_id


async def member(post_graphql, programme_id: str, paid_at: str, name: str = "Agent") -> tuple[str, int]:
    account = await new_customer(post_graphql, name, classification="PARTNER")
    enrolled = await enroll(post_graphql, account, programme_id, "B", "300000", paid_at)
    return account, pk_of(enrolled["membership"]["id"])


async def book(database, membership_id: int, at: str) -> None:
    instant = shanghai(at)
    async with database.session() as session, session.begin():
        await benefits.book_training(session, membership_id, title="Coaching", session_at=instant + timedelta(days=14),
                                     at=instant, actor_id=None)


async def use(database, membership_id: int, benefit: str, quantity: int, at: str) -> None:
    async with database.session() as session, session.begin():
        await benefits.use_benefit(session, membership_id, benefit=benefit, quantity=quantity, note=None,
                                   at=shanghai(at), actor_id=None)


async def refusal(action) -> str:
    with pytest.raises(DomainError) as refused_with:
        await action
    return refused_with.value.errors[0].code


async def quotas(database, membership_id: int, at: str) -> dict[str, tuple[int, int, int]]:
    async with database.session() as session:
        view = await membership_view(session, await session.get(Membership, membership_id), shanghai(at))
    return {q.code: (q.granted, q.used, q.remaining) for q in view.benefits}


async def period(database, membership_id: int, at: str) -> tuple[datetime, datetime]:
    async with database.session() as session:
        view = await membership_view(session, await session.get(Membership, membership_id), shanghai(at))
    return view.benefit_period.start, view.benefit_period.end


async def test_a_rolling_window_grants_the_training_quota_once_a_membership_year(post_graphql, database):
    """The defect: the quota period was the qualification period, a calendar month in a
    rolling-window programme, so B's 2 sessions a year were 2 every month."""
    programme_id = await programme(post_graphql, windowKind="ROLLING_MONTHS", windowMonths=12)
    _, m = await member(post_graphql, programme_id, "2025-01-10T10:00:00+08:00")
    await book(database, m, "2025-02-01T09:00:00")
    await book(database, m, "2025-02-20T09:00:00")
    assert await refusal(book(database, m, "2025-03-05T09:00:00")) == "quota_exhausted"  # a new month, the same year
    assert (await quotas(database, m, "2025-03-05T09:00:00"))["training"] == (2, 2, 0)
    assert await period(database, m, "2025-03-05T09:00:00") == (shanghai("2025-01-10T00:00:00"), shanghai("2026-01-10T00:00:00"))
    assert await refusal(book(database, m, "2026-01-09T23:59:00")) == "quota_exhausted"
    await book(database, m, "2026-01-10T05:00:00")  # the next membership year starts at local midnight
    assert (await quotas(database, m, "2026-01-10T06:00:00"))["training"] == (2, 1, 1)


async def test_a_calendar_benefit_year_counts_23_30_on_31_december_in_that_year(post_graphql, database):
    programme_id = await programme(post_graphql, windowKind="ROLLING_MONTHS", windowMonths=3, benefitPeriod="CALENDAR_YEAR")
    _, m = await member(post_graphql, programme_id, "2025-06-01T10:00:00+08:00")
    await book(database, m, "2025-07-01T09:00:00")
    await book(database, m, "2025-12-31T23:30:00")  # 15:30 UTC: still 2025 in Shanghai
    assert await refusal(book(database, m, "2025-12-31T23:45:00")) == "quota_exhausted"
    assert await period(database, m, "2025-12-31T23:45:00") == (shanghai("2025-01-01T00:00:00"), shanghai("2026-01-01T00:00:00"))
    await book(database, m, "2026-01-01T00:00:00")
    assert (await quotas(database, m, "2026-01-01T00:01:00"))["training"] == (2, 1, 1)


async def test_other_benefits_are_granted_topped_up_and_never_clawed_back(post_graphql, database):
    programme_id = await programme(post_graphql)
    account, m = await member(post_graphql, programme_id, "2025-01-10T10:00:00+08:00")
    assert await quotas(database, m, "2025-01-20T00:00:00") == {"training": (2, 0, 2), "co_marketing_days": (1, 0, 1)}
    await use(database, m, "co_marketing_days", 1, "2025-02-01T09:00:00")
    assert await refusal(use(database, m, "co_marketing_days", 1, "2025-02-02T09:00:00")) == "quota_exhausted"
    assert await refusal(use(database, m, "lounge_passes", 1, "2025-02-02T09:00:00")) == "unknown_benefit"  # A's only

    # Paying A's fee upgrades: every benefit is topped up by the difference.
    await enroll(post_graphql, account, programme_id, "A", "500000", "2025-03-01T10:00:00+08:00")
    assert await quotas(database, m, "2025-03-01T11:00:00") == {
        "training": (10, 0, 10), "co_marketing_days": (4, 1, 3), "lounge_passes": (2, 0, 2)}
    async with database.session() as session:
        grants = (await session.execute(select(BenefitGrant.benefit, BenefitGrant.quantity, BenefitGrant.tier_rank)
                                        .where(BenefitGrant.membership_id == m).order_by(BenefitGrant.id))).all()
    assert [tuple(g) for g in grants if g.benefit == "co_marketing_days"] == [("co_marketing_days", 1, 1), ("co_marketing_days", 3, 2)]
    await use(database, m, "co_marketing_days", 3, "2025-03-02T09:00:00")
    await use(database, m, "lounge_passes", 1, "2025-03-02T09:00:00")

    # The A fee refunded: back to B, and what was granted this period stays granted.
    async with database.session() as session, session.begin():
        fee = (await session.execute(select(FeePayment.id).where(FeePayment.membership_id == m, FeePayment.tier_rank == 2))).scalar_one()
        await service.refund_fee(session, fee, reason="test", at=shanghai("2025-04-01T09:00:00"), actor_id=None)
    assert await quotas(database, m, "2025-04-02T00:00:00") == {
        "training": (10, 0, 10), "co_marketing_days": (4, 4, 0), "lounge_passes": (2, 1, 1)}
    assert await refusal(use(database, m, "co_marketing_days", 1, "2025-04-02T09:00:00")) == "quota_exhausted"
    await use(database, m, "lounge_passes", 1, "2025-04-02T09:00:00")  # granted earlier this period: still usable

    # The next membership year starts with B's quotas only.
    assert await quotas(database, m, "2026-01-10T05:00:00") == {"training": (2, 0, 2), "co_marketing_days": (1, 0, 1)}
    assert await refusal(use(database, m, "lounge_passes", 1, "2026-01-10T05:00:00")) == "unknown_benefit"


async def test_benefit_use_over_graphql_refuses_bad_uses_and_changes_nothing(post_graphql, database):
    programme_id = await programme(post_graphql)
    paid_at = (datetime.now(timezone.utc) - timedelta(days=10)).isoformat()
    _, m = await member(post_graphql, programme_id, paid_at)
    membership_id = gid("Membership", m)
    used = await ok(post_graphql, USE, {"m": membership_id, "b": "co_marketing_days", "q": 1, "n": "Spring fair"}, "benefitUse")
    quota = next(b for b in used["membership"]["benefits"] if b["code"] == "co_marketing_days")
    assert (quota["name"], quota["granted"], quota["used"], quota["remaining"]) == ("Co-marketing fund days", 1, 1, 0)
    assert [b["code"] for b in used["membership"]["benefits"]] == ["training", "co_marketing_days"]

    async def rows() -> tuple[int, int]:
        async with database.session() as session:
            return ((await session.execute(select(func.count()).select_from(BenefitUsage))).scalar_one(),
                    (await session.execute(select(func.count()).select_from(BenefitGrant))).scalar_one())

    before = await rows()
    for benefit, quantity, expected in (
        ("co_marketing_days", 1, [("membershipId", "QUOTA_EXHAUSTED")]),
        ("training", 3, [("membershipId", "QUOTA_EXHAUSTED")]),
        ("lounge_passes", 1, [("benefit", "UNKNOWN_BENEFIT")]),
        ("no_such_benefit", 1, [("benefit", "UNKNOWN_BENEFIT")]),
        ("co_marketing_days", 0, [("quantity", "OUT_OF_RANGE")]),
        ("co_marketing_days", -2, [("quantity", "OUT_OF_RANGE")]),
        ("   ", 1, [("benefit", "REQUIRED")]),
    ):
        assert await refused(post_graphql, USE, {"m": membership_id, "b": benefit, "q": quantity}, "benefitUse") == expected
    assert await rows() == before
    async with database.session() as session:
        usage = (await session.execute(select(BenefitUsage).where(BenefitUsage.benefit == "co_marketing_days"))).scalar_one()
    assert (usage.quantity, usage.note) == (1, "Spring fair")


async def test_a_retried_benefit_use_with_its_key_uses_once(post_graphql, database):
    programme_id = await programme(post_graphql)
    _, m = await member(post_graphql, programme_id, (datetime.now(timezone.utc) - timedelta(days=1)).isoformat())
    membership_id = gid("Membership", m)
    for _ in range(3):
        used = await ok(post_graphql, USE, {"m": membership_id, "b": "training", "q": 2, "k": "use-1"}, "benefitUse")
        assert used["membership"]["benefits"][0] == {**used["membership"]["benefits"][0], "used": 2, "remaining": 0}
    async with database.session() as session:
        assert (await session.execute(select(func.count()).select_from(BenefitUsage))).scalar_one() == 1


async def test_a_partner_sees_and_uses_its_own_benefits_only(post_graphql):
    programme_id = await programme(post_graphql)
    paid_at = (datetime.now(timezone.utc) - timedelta(days=10)).isoformat()
    mine, m = await member(post_graphql, programme_id, paid_at, "Own agent")
    other_account, other = await member(post_graphql, programme_id, paid_at, "Other agent")
    me = Principal("partner-own", Role.PARTNER, account_id=pk_of(mine))
    own_id = gid("Membership", m)
    other_id = gid("Membership", other)

    await ok(post_graphql, USE, {"m": own_id, "b": "co_marketing_days", "q": 1}, "benefitUse", as_=me)
    seen = (await post_graphql(MINE, as_=me)).data["myMembership"]
    assert seen["id"] == own_id and seen["training"] == {"granted": 2, "used": 0, "remaining": 2}
    assert [(b["code"], b["granted"], b["used"], b["remaining"]) for b in seen["benefits"]] == [
        ("training", 2, 0, 2), ("co_marketing_days", 1, 1, 0)]
    joined_local = datetime.fromisoformat(paid_at).astimezone(SHANGHAI)
    start = datetime(joined_local.year, joined_local.month, joined_local.day, tzinfo=SHANGHAI)
    assert datetime.fromisoformat(seen["benefits"][1]["periodStart"]) == start

    # another partner's membership: NOT_FOUND, as for one that does not exist, and nothing used
    assert await refused(post_graphql, USE, {"m": other_id, "b": "co_marketing_days", "q": 1}, "benefitUse", as_=me) == [
        ("membershipId", "NOT_FOUND")]
    missing = gid("Membership", 987654321)
    assert await refused(post_graphql, USE, {"m": missing, "b": "co_marketing_days", "q": 1}, "benefitUse", as_=me) == [
        ("membershipId", "NOT_FOUND")]
    theirs = (await post_graphql("query($a: ID!) { membership(accountId: $a) { benefits { code used } } }",
                                 {"a": other_account})).data["membership"]
    assert theirs["benefits"] == [{"code": "training", "used": 0}, {"code": "co_marketing_days", "used": 0}]
    # sales may not use benefits (the rule of trainingBook)
    sales = Principal("sales", Role.SALES, user_id=None)
    assert (await post_graphql(USE, {"m": own_id, "b": "training", "q": 1}, as_=sales)).error_codes == ["FORBIDDEN"]


async def test_programmes_declare_their_benefit_period(post_graphql):
    created = await ok(post_graphql, """mutation { programmeCreate(input: {name: "P", kind: MEMBER, currency: "EUR",
        timeZone: "Europe/Berlin"}) { programme { benefitPeriod } errors { field code } } }""", {}, "programmeCreate")
    assert created["programme"]["benefitPeriod"] == "MEMBERSHIP_YEAR"
    created = await ok(post_graphql, """mutation { programmeCreate(input: {name: "Q", kind: MEMBER, currency: "EUR",
        timeZone: "Europe/Berlin", benefitPeriod: CALENDAR_YEAR}) { programme { benefitPeriod } errors { field code } } }""",
                       {}, "programmeCreate")
    assert created["programme"]["benefitPeriod"] == "CALENDAR_YEAR"


def tiers_with(**extra_benefits) -> list[dict]:
    tiers = [dict(t) for t in TIERS]
    tiers[0] = {**tiers[0], "extraBenefits": extra_benefits["benefits"]}
    return tiers


@pytest.mark.parametrize(("benefits", "expected"), [
    ([{"code": "training", "name": "More training", "quantity": 1}], ("tiers.0.extraBenefits.0.code", "DUPLICATE_CODE")),
    ([{"code": "days", "name": "Days", "quantity": 1}, {"code": "DAYS", "name": "Days again", "quantity": 1}],
     ("tiers.0.extraBenefits.1.code", "DUPLICATE_CODE")),
    ([{"code": "9lives", "name": "Lives", "quantity": 1}], ("tiers.0.extraBenefits.0.code", "INVALID")),
    ([{"name": "!!!", "quantity": 1}], ("tiers.0.extraBenefits.0.code", "INVALID")),
    ([{"code": "days", "name": " ", "quantity": 1}], ("tiers.0.extraBenefits.0.name", "REQUIRED")),
    ([{"code": "days", "name": "Days", "quantity": -1}], ("tiers.0.extraBenefits.0.quantity", "OUT_OF_RANGE")),
])
async def test_tier_benefits_are_validated(post_graphql, benefits, expected):
    created = await ok(post_graphql, """mutation { programmeCreate(input: {name: "P", kind: AGENT, currency: "CNY",
        timeZone: "Asia/Shanghai"}) { programme { id } errors { field code } } }""", {}, "programmeCreate")
    errors = await refused(post_graphql, """mutation($p: ID!, $t: [TierInput!]!) { ruleVersionCreate(programmeId: $p, tiers: $t) {
        version { id } errors { field code } } }""", {"p": created["programme"]["id"], "t": tiers_with(benefits=benefits)},
                           "ruleVersionCreate")
    assert errors == [expected]


async def test_tiers_show_their_benefit_codes_and_labels_stored_without_codes_stay_readable(post_graphql, database):
    programme_id = await programme(post_graphql)
    shown = await post_graphql("query($id: ID!) { node(id: $id) { ... on Programme { versions { tiers { code extraBenefits { code name quantity } } } } } }",
                               {"id": programme_id})
    assert shown.data["node"]["versions"][0]["tiers"] == [
        {"code": "B", "extraBenefits": [{**CO_MARKETING, "quantity": 1}]},
        {"code": "A", "extraBenefits": [{**CO_MARKETING, "quantity": 4}, {"code": "lounge_passes", "name": "Lounge passes", "quantity": 2}]}]
    async with database.session() as session, session.begin():
        tier = (await session.execute(select(Tier).where(Tier.code == "B"))).scalar_one()
        tier.extra_benefits = [{"name": "Co-marketing fund days: spring", "quantity": 4}]  # a row from before codes
        await session.flush()
        rules = await version_rules(session, tier.rule_version_id)
    assert [(b.code, b.name, b.quantity) for b in rules.tier(1).benefits] == [
        ("training", "Training sessions", 2), ("co_marketing_fund_days_spring", "Co-marketing fund days: spring", 4)]
