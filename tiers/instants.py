"""The tier in force for a membership at an instant, as a pure function of its stored
history (no database, no GraphQL).

The same rule is the SQL function `tier_state_at` (migration 0008), which every reader
uses: the membership view, tierAt, prices and quotes, analytics. This module is its
reference, for the tests that compare the two over random histories:

- fee terms: paid, not refunded at t, term_start <= t < term_end (the highest rank);
- the earned tier at t: the earned_rank of the latest history row at or before t (ties by
  id; 0 before any), never the membership's cached earned rank, which is "now";
- floors and locks live at t (started, not expired, not revoked; the latest lock wins);
- combined (a lock pins, else the highest) and clamped to the tiers of the rule version
  in force at t (none in force: no tier).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from tiers.engine import effective_rank


@dataclass(frozen=True)
class TierState:
    """How the tier in force at an instant is made up."""

    effective: int
    earned: int
    fee: int
    floor: int
    lock: int | None


@dataclass(frozen=True)
class FeeTerm:
    tier_rank: int
    term_start: datetime
    term_end: datetime
    refunded_at: datetime | None = None

    def live(self, at: datetime) -> bool:
        return self.term_start <= at < self.term_end and (self.refunded_at is None or self.refunded_at > at)


@dataclass(frozen=True)
class Override:
    id: int
    kind: str  # floor | lock
    tier_rank: int
    starts_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    def live(self, at: datetime) -> bool:
        return (self.starts_at <= at and (self.expires_at is None or self.expires_at > at)
                and (self.revoked_at is None or self.revoked_at > at))


@dataclass(frozen=True)
class EarnedMark:
    """One history row's earned state: from `at` on, until the next row."""

    id: int
    at: datetime
    earned_rank: int
    earned_until: datetime | None = None


@dataclass(frozen=True)
class VersionSpan:
    """A published rule version: in force from `effective_from` until the next one's."""

    id: int
    effective_from: datetime
    top_rank: int  # its highest tier's rank


@dataclass(frozen=True)
class History:
    fees: tuple[FeeTerm, ...] = ()
    overrides: tuple[Override, ...] = ()
    marks: tuple[EarnedMark, ...] = ()
    versions: tuple[VersionSpan, ...] = field(default=())


def latest_mark(marks: Iterable[EarnedMark], at: datetime) -> EarnedMark | None:
    """The history row in force at `at` (the one that explains the tier then)."""
    return max((m for m in marks if m.at <= at), key=lambda m: (m.at, m.id), default=None)


def version_at(versions: Iterable[VersionSpan], at: datetime) -> VersionSpan | None:
    return max((v for v in versions if v.effective_from <= at), key=lambda v: v.effective_from, default=None)


def combine(earned: int, fee: int, floor: int, lock: int | None, top: int) -> TierState:
    """The tier in force from its sources, clamped to the `top` rank the rules have."""
    effective = min(effective_rank(min(earned, top), fee, floor, lock), top)
    return TierState(effective, min(earned, top), min(fee, top), min(floor, top), None if lock is None else min(lock, top))


def tier_in_force(history: History, at: datetime) -> TierState:
    mark = latest_mark(history.marks, at)
    version = version_at(history.versions, at)
    fee = max((f.tier_rank for f in history.fees if f.live(at)), default=0)
    live = [o for o in history.overrides if o.live(at)]
    floor = max((o.tier_rank for o in live if o.kind == "floor"), default=0)
    locks = sorted((o for o in live if o.kind == "lock"), key=lambda o: (o.starts_at, o.id))
    return combine(mark.earned_rank if mark else 0, fee, floor, locks[-1].tier_rank if locks else None,
                   version.top_rank if version else 0)
