"""Tiers at risk: members whose open period's volume will not keep their earned tier, told
while there is still time to buy (`tier.at_risk`).

A member is at risk at `as_of` when the period that contains `as_of` ends at most
`RiskRule.days` later, it holds an earned tier (rank > 0) that the period's end can
demote (the programme demotes, no promotion hold runs past that end, and no fee term
holds that tier or a higher one past it), and the window's volume so far (the volume the period-end assessment will read) is below
`share` x the earned tier's retention threshold under the rules in force at `as_of`.
Defaults: 30 days, share 1 (below the threshold itself); a deployment sets both
(CRM_RISK_DAYS, CRM_RISK_SHARE). Said at most once per member and period: the check
skips a member whose `tier.at_risk` of the same period end is already in the outbox,
and checks of one programme run one at a time (an advisory lock), so two concurrent
checks cannot both say it.

Set-based per batch of members: one statement reads the batch, the windows are worked
out in Python (tiers.windows, as every other reader does), one statement sums the
batch's ledger and leaves out those told already, one writes the events.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from events.memberships import TierAtRisk
from events.outbox import Emission, emit_all
from kernel.errors import Code, DomainError
from kernel.money import round_money
from kernel.references import get_row, lock_key
from kernel.validation import Checker
from models import Membership, Programme
from tiers.membership import window_rule_of
from tiers.programmes import rules_in_force
from tiers.windows import period_containing, window_of_period

RISK_DAYS = 30
RISK_SHARE = Decimal("1")


@dataclass(frozen=True)
class RiskRule:
    days: int = RISK_DAYS  # tell when the period ends at most this many days after the check
    share: Decimal = RISK_SHARE  # at risk below this share of the retention threshold

    @classmethod
    def of_percent(cls, days: int, percent: int) -> RiskRule:
        """From a deployment's settings (CRM_RISK_DAYS, CRM_RISK_SHARE_PERCENT)."""
        return cls(days, Decimal(percent) / 100)


_VOLUMES = text("""
SELECT i.id, coalesce((SELECT sum(e.amount) FROM qualifying_entry e
                       WHERE e.membership_id = i.id AND e.occurred_at >= i.w_start AND e.occurred_at <= :as_of), 0) AS volume,
       coalesce((SELECT max(f.tier_rank) FROM fee_payment f
                 WHERE f.membership_id = i.id AND f.term_start <= :as_of AND f.term_end > i.p_end
                   AND (f.refunded_at IS NULL OR f.refunded_at > i.p_end)), 0) AS fee_rank
FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS i(id bigint, w_start timestamptz, p_end timestamptz)
WHERE NOT EXISTS (SELECT 1 FROM event v WHERE v.aggregate_type = 'Membership' AND v.aggregate_id = i.id
                  AND v.type = 'tier.at_risk' AND CAST(v.payload->>'periodEnd' AS timestamptz) = i.p_end)
ORDER BY i.id""")


async def check_batch(session: AsyncSession, programme: Programme, as_of: datetime, rule: RiskRule, *,
                      after: int, batch: int) -> tuple[int | None, int]:
    """Checks the next `batch` members (ids after `after`) in the caller's transaction;
    (the last id read, or None when there were none; how many were told)."""
    members = (await session.execute(
        select(Membership.id, Membership.account_id, Membership.joined_at, Membership.earned_rank,
               Membership.earned_until).where(Membership.programme_id == programme.id, Membership.id > after,
                                              Membership.joined_at <= as_of).order_by(Membership.id).limit(batch))).all()
    if not members:
        return None, 0
    rules = await rules_in_force(session, programme.id, as_of)
    window_rule = window_rule_of(programme)
    # Only anniversary periods depend on the member (its joining day).
    shared = None if window_rule.kind == "anniversary" else period_containing(window_rule, as_of, as_of)
    candidates: dict[int, tuple[Any, Any, Any]] = {}
    for m in members:
        period = shared or period_containing(window_rule, m.joined_at, as_of)
        tier = rules.tier(m.earned_rank) if rules else None
        if tier is None or programme.demotion_policy == "never" or period.end - as_of > timedelta(days=rule.days) \
                or (m.earned_until is not None and m.earned_until > period.end):
            continue
        candidates[m.id] = (m, tier, (period, window_of_period(window_rule, period)))
    if not candidates:
        return members[-1].id, 0
    rows = json.dumps([{"id": pk, "w_start": w.start.isoformat(), "p_end": p.end.isoformat()}
                       for pk, (_, _, (p, w)) in candidates.items()])
    emissions = []
    for pk, volume, fee_rank in await session.execute(_VOLUMES, {"rows": rows, "as_of": as_of}):
        m, tier, (period, window) = candidates[pk]
        volume = round_money(Decimal(volume))
        if volume >= tier.retention_threshold * rule.share or fee_rank >= tier.rank:
            continue
        emissions.append(Emission(TierAtRisk(
            membership=m.id, account=m.account_id, programme=programme.id, tier=tier.code, rank=tier.rank,
            volume=volume, retention_threshold=tier.retention_threshold,
            shortfall=max(tier.retention_threshold - volume, Decimal("0.00")), currency=programme.currency,
            period_start=period.start, period_end=period.end, as_of=as_of), m.id, as_of, m.account_id))
    await emit_all(session, emissions)
    return members[-1].id, len(emissions)


async def check_programme(session_factory: Callable[[], Any], programme_id: int, as_of: datetime,
                          rule: RiskRule = RiskRule(), *, batch: int = 5000) -> int:
    """Tells every member of the programme at risk at `as_of` (one transaction per batch);
    how many were told. Running it again tells nobody twice."""
    check = Checker()
    # A check ahead of time would tell members of a risk dated in the future, and then not
    # again when that instant comes (once per member and period): as for orders, refused.
    check.happened("as_of", as_of, datetime.now(timezone.utc), "asOf")
    check.integer("days", rule.days, 0, 366)
    if not (Decimal("0") < rule.share <= Decimal("10")):
        check.fail("share", "The share of the retention threshold is above 0 and at most 10.", Code.OUT_OF_RANGE)
    check.done()
    told, after = 0, 0
    while True:
        async with session_factory() as session, session.begin():
            programme = await get_row(session, Programme, programme_id)
            if programme is None:
                raise DomainError.one("programme_id", "No programme has this ID.", Code.NOT_FOUND)
            await lock_key(session, "tier.at_risk", str(programme_id))
            last, count = await check_batch(session, programme, as_of, rule, after=after, batch=batch)
        told += count
        if last is None:
            return told
        after = last
