"""The worked example's programme, built through GraphQL as an admin would."""

from __future__ import annotations

from tests.helpers import ok

AGENT_TIERS = [
    {"rank": 1, "code": "B", "name": "B-level agent", "entryFee": "300000", "discountRate": "0.10", "trainingQuota": 2,
     "promotionThreshold": "500000", "retentionThreshold": "300000"},
    {"rank": 2, "code": "A", "name": "A-level agent", "entryFee": "500000", "discountRate": "0.20", "trainingQuota": 10,
     "promotionThreshold": "1000000", "retentionThreshold": "800000"},
]

# The worked example's tiers with benefits besides training.
CO_MARKETING = {"code": "co_marketing_days", "name": "Co-marketing fund days"}
BENEFIT_TIERS = [
    {**AGENT_TIERS[0], "extraBenefits": [{**CO_MARKETING, "quantity": 1}]},
    # a benefit declared by name only: its code comes from the name (lounge_passes)
    {**AGENT_TIERS[1], "extraBenefits": [{**CO_MARKETING, "quantity": 4}, {"name": "Lounge passes", "quantity": 2}]},
]


async def agents_programme(post_graphql, *, effective_from: str = "2025-01-01T00:00:00+08:00", tiers: list | None = None,
                           **settings) -> dict:
    programme = (await ok(post_graphql, """mutation($i: ProgrammeCreateInput!) { programmeCreate(input: $i) {
        programme { id } errors { field code } } }""", {"i": {
        "name": "Agents", "kind": "AGENT", "currency": "CNY", "timeZone": "Asia/Shanghai", "windowKind": "CALENDAR_YEAR",
        "feeTermMonths": 12, "maxDrop": 1, **settings}}, "programmeCreate"))["programme"]["id"]
    version = (await ok(post_graphql, """mutation($p: ID!, $t: [TierInput!]!) { ruleVersionCreate(programmeId: $p, tiers: $t) {
        version { id status } errors { field code } } }""", {"p": programme, "t": tiers or AGENT_TIERS}, "ruleVersionCreate"))["version"]["id"]
    await ok(post_graphql, """mutation($v: ID!, $at: DateTime!) { ruleVersionPublish(id: $v, effectiveFrom: $at) {
        version { id status } errors { field code } } }""", {"v": version, "at": effective_from}, "ruleVersionPublish")
    return {"programme": programme, "version": version}


async def enroll(post_graphql, account: str, programme: str, tier: str, amount: str, paid_at: str) -> dict:
    return await ok(post_graphql, """mutation($i: MembershipEnrollInput!) { membershipEnroll(input: $i) {
        membership { id tier { code } } errors { field code message } } }""", {"i": {
        "accountId": account, "programmeId": programme, "tierCode": tier,
        "feePayment": {"amount": {"amount": amount, "currency": "CNY"}, "paidAt": paid_at}}}, "membershipEnroll")
