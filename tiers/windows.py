"""Qualification windows, computed in the programme's time zone. Pure functions.

A programme's year is divided into *periods*; volume is counted over the *window* that
belongs to a period:
- calendar_year: periods are calendar years; the window is the period itself.
- anniversary: periods are years from the member's joining date; window = period.
- rolling_months(N): periods are calendar months; the window of a period ending at E is
  the N months before E, so every month looks back over the last N months.
Benefit quotas have periods of their own (`benefit_period`), independent of the window.
All bounds are half-open [start, end) instants; a local midnight in the programme's time
zone is the boundary, so an order at 23:30 on 31 December in Shanghai counts in that year.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class WindowRule:
    kind: str  # calendar_year | anniversary | rolling_months
    time_zone: str
    months: int | None = None  # rolling_months only
    grace_days: int = 0


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    def contains(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


def add_months(local: datetime, months: int) -> datetime:
    """Same day-of-month and wall time `months` later, clamped to the month's last day
    (29 February + 12 months = 28 February)."""
    month_index = local.year * 12 + (local.month - 1) + months
    year, month = divmod(month_index, 12)
    day = min(local.day, calendar.monthrange(year, month + 1)[1])
    return local.replace(year=year, month=month + 1, day=day)


def _local_midnight(year: int, month: int, day: int, zone: ZoneInfo) -> datetime:
    return datetime(year, month, day, tzinfo=zone)


def _calendar_year(local: datetime, zone: ZoneInfo) -> Window:
    return Window(_local_midnight(local.year, 1, 1, zone), _local_midnight(local.year + 1, 1, 1, zone))


def _year_from(joined_at: datetime, local: datetime, zone: ZoneInfo) -> Window:
    """The year from the local joining date that contains `local` (a member who joined
    on 29 February has its years start on 28 February in common years, like add_months)."""
    joined = joined_at.astimezone(zone)
    anchor = _local_midnight(joined.year, joined.month, joined.day, zone)
    years = local.year - anchor.year
    for k in (years - 1, years, years + 1):
        start, end = add_months(anchor, 12 * k), add_months(anchor, 12 * (k + 1))
        if start <= local < end:
            return Window(start, end)
    raise AssertionError("unreachable: one of three consecutive years contains the instant")


def period_containing(rule: WindowRule, joined_at: datetime, instant: datetime) -> Window:
    """The period (year or month) that contains `instant`."""
    zone = ZoneInfo(rule.time_zone)
    local = instant.astimezone(zone)
    if rule.kind == "calendar_year":
        return _calendar_year(local, zone)
    if rule.kind == "rolling_months":
        start = _local_midnight(local.year, local.month, 1, zone)
        return Window(start, add_months(start, 1))
    return _year_from(joined_at, local, zone)  # anniversary


def benefit_period(kind: str, time_zone: str, joined_at: datetime, instant: datetime) -> Window:
    """The benefit period containing `instant`: the span a benefit quota is granted for,
    whatever the qualification window is (a rolling window's periods are months, yet its
    training quota is yearly). `kind`: membership_year (years from the local joining
    date) or calendar_year, both in the programme's time zone."""
    zone = ZoneInfo(time_zone)
    local = instant.astimezone(zone)
    if kind == "calendar_year":
        return _calendar_year(local, zone)
    if kind == "membership_year":
        return _year_from(joined_at, local, zone)
    raise ValueError(f"unknown benefit period {kind!r}")


def window_of_period(rule: WindowRule, period: Window) -> Window:
    """The span whose volume counts for a period."""
    if rule.kind == "rolling_months":
        end_local = period.end
        return Window(add_months(end_local, -int(rule.months or 1)), period.end)
    return period


# The smallest step of a timestamptz: [start, t + TICK) is "from start up to and including t".
TICK = timedelta(microseconds=1)


def current_window(rule: WindowRule, joined_at: datetime, instant: datetime) -> Window:
    """The span whose volume counts at `instant` for an immediate promotion: the current
    period (its volume so far), or for rolling windows the N months up to and including
    `instant` - [instant - N months, instant + 1 microsecond), so that the window a history
    row states holds the entry at `instant` its volume counts."""
    if rule.kind == "rolling_months":
        zone = ZoneInfo(rule.time_zone)
        return Window(add_months(instant.astimezone(zone), -int(rule.months or 1)), instant + TICK)
    period = period_containing(rule, joined_at, instant)
    return Window(period.start, period.end)


def next_period_end(rule: WindowRule, joined_at: datetime, instant: datetime) -> datetime:
    """End of the period after the one containing `instant`: how long a promotion holds."""
    period = period_containing(rule, joined_at, instant)
    return period_containing(rule, joined_at, period.end).end


def last_closed_period(rule: WindowRule, joined_at: datetime, as_of: datetime) -> Window | None:
    """The latest period that ended, grace days included, at or before `as_of`; None if
    the member has not yet completed one."""
    candidate = period_containing(rule, joined_at, as_of - timedelta(days=rule.grace_days))
    previous = period_containing(rule, joined_at, candidate.start - timedelta(microseconds=1))
    if previous.end + timedelta(days=rule.grace_days) > as_of:
        return None
    if previous.end <= joined_at:
        return None
    return previous
