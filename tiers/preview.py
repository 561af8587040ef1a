"""Previews: what a rule version (a draft, or any) would do to every member at an
instant, without writing. The decisions are the bulk assessment's statement
(tiers.assessment.decide_sql); each member moves from the tier in force at that instant
by the rule of tier_state_at (the statement's `now_effective`), never from the cached
rank, which is "as last written" and may miss a lapse or show an override set later."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.errors import Code, DomainError
from kernel.references import get_row
from kernel.validation import Checker
from models import Programme, RuleVersion
from tiers.assessment import decision_statement
from tiers.programmes import rules_in_force, version_rules
from tiers.rules import Rules


@dataclass(frozen=True)
class Preview:
    moves: list[tuple[int, int, int]]  # (tier in force now, tier after, members)
    discount_cost_change: Decimal
    currency: str


async def _previewed(session: AsyncSession, version_id: int, as_of: datetime) -> tuple[Programme, str, dict]:
    """The programme of a version to preview and the decisions' SQL, after checking both."""
    check = Checker()
    check.aware("as_of", as_of)
    check.done()
    version = await get_row(session, RuleVersion, version_id)
    if version is None:
        raise DomainError.one("version_id", "No rule version has this ID.", Code.NOT_FOUND)
    programme = await get_row(session, Programme, version.programme_id)
    decide, parameters = await decision_statement(session, programme.id, version_id)
    return programme, decide, parameters


async def preview(session: AsyncSession, version_id: int, as_of: datetime) -> Preview:
    """What a draft (or any) rule version would do to every member at `as_of`, without
    writing: members per (tier now, tier after), and how the discount given on the orders
    of each member's last closed window would change under the tier it would have."""
    programme, decide, parameters = await _previewed(session, version_id, as_of)
    rows = await session.execute(text(decide + """,
        moves AS (SELECT now_effective AS now_rank, new_effective AS new_rank, count(*) AS members FROM final GROUP BY 1, 2),
        cost AS (
            SELECT coalesce(sum(l.list_unit_price * (l.quantity - l.returned_quantity)
                                * (coalesce((SELECT t.discount_rate FROM tiers t WHERE t.rank = f.new_effective), 0) - l.discount_rate)), 0) AS change
            FROM final f
            JOIN membership m ON m.id = f.id
            JOIN sales_order o ON o.customer_id = m.account_id AND o.placed_at >= f.w_start AND o.placed_at < f.w_end
                 AND o.status <> 'cancelled' AND o.currency = (SELECT currency FROM programme WHERE id = :programme)
            JOIN order_line l ON l.order_id = o.id
        )
        SELECT 'move' AS kind, now_rank, new_rank, members, NULL::numeric AS change FROM moves
        UNION ALL SELECT 'cost', NULL, NULL, NULL, change FROM cost"""),
        {**parameters, "programme": programme.id, "version": version_id, "as_of": as_of, "after": 0, "upto": 2**63 - 1,
         "batch": 2_000_000_000})
    moves, change = [], Decimal("0")
    for row in rows.mappings():
        if row["kind"] == "move":
            moves.append((row["now_rank"], row["new_rank"], row["members"]))
        else:
            change = Decimal(row["change"]).quantize(Decimal("0.01"))
    return Preview(sorted(moves), change, programme.currency)



@dataclass(frozen=True)
class Mover:
    """A member a rule version would move: its tier in force now and after, and the
    volume of the closed window the decision read."""

    membership_id: int
    account_id: int
    from_rank: int
    to_rank: int
    volume: Decimal


@dataclass(frozen=True)
class Movers:
    movers: list[Mover]  # in the order asked for (ascending ids forwards, descending backwards)
    rules_now: Rules | None  # the rules in force at as_of: what the from ranks are
    rules_after: Rules  # the version's: what the to ranks are
    currency: str


async def preview_movers(session: AsyncSession, version_id: int, as_of: datetime, *, after: int | None,
                         before: int | None, limit: int, forward: bool = True) -> Movers:
    """One page of the members `preview` counts as moving up or down, by membership id
    (keyset: ids after `after` and before `before`, `limit` of them), in one statement
    whatever the page size; the decisions are `preview`'s."""
    programme, decide, parameters = await _previewed(session, version_id, as_of)
    bounds = "".join([" AND f.id > :mover_after" if after is not None else "",
                      " AND f.id < :mover_before" if before is not None else ""])
    rows = await session.execute(text(decide + f"""
        SELECT f.id, m.account_id, f.now_effective, f.new_effective, f.volume
        FROM final f JOIN membership m ON m.id = f.id
        WHERE f.new_effective <> f.now_effective{bounds}
        ORDER BY f.id {'ASC' if forward else 'DESC'} LIMIT :mover_limit"""),
        {**parameters, "programme": programme.id, "version": version_id, "as_of": as_of, "after": 0, "upto": 2**63 - 1,
         "batch": 2_000_000_000, "mover_limit": limit,
         **({"mover_after": after} if after is not None else {}), **({"mover_before": before} if before is not None else {})})
    movers = [Mover(r.id, r.account_id, r.now_effective, r.new_effective, Decimal(r.volume)) for r in rows]
    return Movers(movers, await rules_in_force(session, programme.id, as_of), await version_rules(session, version_id),
                  programme.currency)
