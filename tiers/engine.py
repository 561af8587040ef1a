"""The tier engine: pure functions over plain values (no database, no GraphQL).

Ranks: 0 is "no tier", 1 the lowest tier, higher is better.

- The tier in force = a lock if one is active, else the highest of: the tier bought by a
  fee within its term, the tier earned by volume, a manual floor.
- Earned by volume: promotion is immediate when the current window's volume reaches a
  higher tier's promotion threshold, and holds until the end of the next period.
  Demotion happens only when a period has closed (plus grace days): to the best tier
  whose retention threshold the closed window met, never more than `max_drop` ranks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal, localcontext
from typing import Any

from kernel.money import round_money
from tiers.rules import ProgrammeRules, Rules
from tiers.windows import Window, WindowRule, last_closed_period, next_period_end, window_of_period

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Entry:
    occurred_at: datetime
    amount: Decimal


@dataclass(frozen=True)
class MemberState:
    joined_at: datetime
    earned_rank: int
    earned_until: datetime | None
    assessed_through: datetime | None
    entries: tuple[Entry, ...] = ()


@dataclass(frozen=True)
class Assessment:
    """What an assessment decided, and why."""

    earned_rank: int  # after the assessment
    earned_until: datetime | None
    assessed_through: datetime | None
    reason: str | None  # promoted | demoted | None (no change)
    window: Window | None
    volume: Decimal | None
    explanation: dict[str, Any] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return self.reason is not None


def window_rule(programme: ProgrammeRules) -> WindowRule:
    return WindowRule(programme.window_kind, programme.time_zone, programme.window_months, programme.grace_days)


def volume_in(entries: tuple[Entry, ...] | list[Entry], start: datetime, end: datetime) -> Decimal:
    """Qualifying volume over [start, end)."""
    return sum((e.amount for e in entries if start <= e.occurred_at < end), ZERO)


def earned_by_volume(volume: Decimal, rules: Rules) -> int:
    """The highest rank whose promotion threshold the volume reaches (0: none)."""
    return max((t.rank for t in rules.tiers if volume >= t.promotion_threshold), default=0)


def retained_by_volume(volume: Decimal, rules: Rules, at_most: int) -> int:
    """The highest rank up to `at_most` whose retention threshold the volume meets."""
    return max((t.rank for t in rules.tiers if t.rank <= at_most and volume >= t.retention_threshold), default=0)


def effective_rank(earned: int, fee_rank: int = 0, floor: int = 0, lock: int | None = None) -> int:
    if lock is not None:
        return lock
    return max(earned, fee_rank, floor)


def promote_now(state: MemberState, at: datetime, volume: Decimal, programme: ProgrammeRules,
                rules: Rules) -> tuple[int, datetime] | None:
    """(new earned rank, held until) when `volume` in the current window earns a higher
    tier than the member has earned; None otherwise."""
    rank = earned_by_volume(volume, rules)
    if rank <= state.earned_rank:
        return None
    return rank, next_period_end(window_rule(programme), state.joined_at, at)


def assess(state: MemberState, as_of: datetime, programme: ProgrammeRules, rules: Rules) -> Assessment:
    """Assessment of one member at `as_of` over the last closed period.

    Idempotent: a period already assessed (assessed_through) changes nothing."""
    rule = window_rule(programme)
    period = last_closed_period(rule, state.joined_at, as_of)
    unchanged = Assessment(state.earned_rank, state.earned_until, state.assessed_through, None, None, None)
    if period is None or (state.assessed_through is not None and state.assessed_through >= period.end):
        return unchanged
    window = window_of_period(rule, period)
    volume = volume_in(state.entries, window.start, window.end)
    earned = min(state.earned_rank, rules.top_rank)
    explanation: dict[str, Any] = {
        "rule_version": rules.version_id,
        "window": [window.start.isoformat(), window.end.isoformat()],
        "volume": str(volume),
        "earned_before": state.earned_rank,
    }
    promoted = earned_by_volume(volume, rules)
    if promoted > earned:
        tier = rules.tier(promoted)
        explanation.update(rule="promotion", threshold=str(tier.promotion_threshold), tier=tier.code)
        return Assessment(promoted, next_period_end(rule, state.joined_at, period.start), period.end, "promoted",
                          window, volume, explanation)
    if earned == 0:
        return Assessment(0, state.earned_until, period.end, None, window, volume, explanation)
    current = rules.tier(earned)
    if volume >= current.retention_threshold:
        explanation.update(rule="retained", threshold=str(current.retention_threshold), tier=current.code)
        return Assessment(earned, state.earned_until, period.end, None, window, volume, explanation)
    if programme.demotion_policy == "never":
        explanation.update(rule="never_demoted")
        return Assessment(earned, state.earned_until, period.end, None, window, volume, explanation)
    if state.earned_until is not None and state.earned_until > period.end:
        explanation.update(rule="held_after_promotion", held_until=state.earned_until.isoformat())
        return Assessment(earned, state.earned_until, period.end, None, window, volume, explanation)
    kept = retained_by_volume(volume, rules, earned)
    target = max(kept, earned - programme.max_drop)
    explanation.update(
        rule="demotion", missed_threshold=str(current.retention_threshold), retained_rank=kept,
        max_drop=programme.max_drop, tier_before=current.code,
    )
    if target == earned:
        return Assessment(earned, state.earned_until, period.end, None, window, volume, explanation)
    return Assessment(target, None, period.end, "demoted", window, volume, explanation)


def unexpired_credit(value: Decimal, term_start: datetime, term_end: datetime, at: datetime) -> Decimal:
    """The part of a fee term's value not yet used at `at`: pro rata to the exact time
    left (microseconds, so a term over a DST change or a leap day is measured as it
    runs), rounded half-up to the cent like every computed amount; 0 outside the term."""
    if not term_start <= at < term_end:
        return ZERO
    # In UTC: Python subtracts two times of one zone by their wall clocks.
    start, end, now = (t.astimezone(timezone.utc) for t in (term_start, term_end, at))
    tick = timedelta(microseconds=1)
    left, whole = (end - now) // tick, (end - start) // tick
    # Enough digits that the quotient is exact to far below the cent before it is rounded.
    with localcontext(prec=60):
        share = Decimal(value) * Decimal(left) / Decimal(whole)
    return round_money(share)


# -- undoing a promotion -----------------------------------------------------------------

@dataclass(frozen=True)
class Promotion:
    """An immediate promotion, as its history row tells it: decided at `at` over the
    window [window_start, window_end] to `rank`, held until `held_until`; just before it
    the member had earned `rank_before`, held until `until_before`."""

    at: datetime
    rank: int
    held_until: datetime | None
    rank_before: int
    until_before: datetime | None
    window_start: datetime
    window_end: datetime


@dataclass(frozen=True)
class Undo:
    """What a reversal undoes: the earned rank and hold restored, the earliest promotion
    it undid and the volume left in that promotion's window."""

    earned_rank: int
    earned_until: datetime | None
    promotion: Promotion
    volume: Decimal


def volume_through(entries: tuple[Entry, ...] | list[Entry], start: datetime, at: datetime) -> Decimal:
    """Qualifying volume over [start, at]: the window so far, the entry at `at` included."""
    return sum((e.amount for e in entries if start <= e.occurred_at <= at), ZERO)


def undo_promotions(earned_rank: int, promotions: tuple[Promotion, ...] | list[Promotion],
                    entries: tuple[Entry, ...] | list[Entry], at: datetime, counted_at: datetime,
                    rules: Rules) -> Undo | None:
    """The earned rank after a return or cancellation at `at` of volume that counted at
    `counted_at`; None when it undoes nothing.

    `promotions` are the immediate promotions decided, in order, in the period that
    contains `at` (a period already closed is the assessment's to judge, so the caller
    gives none of it) and `entries` the ledger through `at`, the reversal included.

    A promotion is undone when the volume its window still holds at `at` no longer
    reaches its threshold and the reversed volume counted in that window (volume of an
    earlier window never made it). Undone down to what the volume still earns, keeping
    the promotion's hold if that is above the tier the member had earned before it,
    never below that tier and hold. Promotions in a row (B, then A) are undone from the
    earliest one the volume no longer carries: every later one stood on it."""
    for promotion in promotions:
        if counted_at < promotion.window_start:
            continue
        volume = volume_through(entries, promotion.window_start, at)
        reached = earned_by_volume(volume, rules)
        if reached >= promotion.rank:
            continue
        if reached > promotion.rank_before:
            rank, until = reached, promotion.held_until
        else:
            rank, until = promotion.rank_before, promotion.until_before
        if rank >= earned_rank:
            return None
        return Undo(rank, until, promotion, volume)
    return None
