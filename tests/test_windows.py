"""Period and window boundaries in the programme's time zone (pure functions)."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import calendar
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tiers.windows import (
    WindowRule, add_months, benefit_period, current_window, last_closed_period, next_period_end, period_containing,
    window_of_period,
)

UTC = timezone.utc
SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")


def local(zone, *args):
    return datetime(*args, tzinfo=zone)


def test_a_shanghai_year_ends_at_local_midnight():
    rule = WindowRule("calendar_year", "Asia/Shanghai")
    joined = local(SHANGHAI, 2025, 1, 10)
    late = local(SHANGHAI, 2025, 12, 31, 23, 30)  # 15:30 UTC on 31 December
    assert period_containing(rule, joined, late).end == local(SHANGHAI, 2026, 1, 1)
    assert period_containing(rule, joined, local(SHANGHAI, 2026, 1, 1)).start == local(SHANGHAI, 2026, 1, 1)
    # 16:00 UTC on 31 December is already the next year in Shanghai
    assert period_containing(rule, joined, datetime(2025, 12, 31, 16, tzinfo=UTC)).start == local(SHANGHAI, 2026, 1, 1)


def test_last_closed_period_waits_for_grace_days():
    rule = WindowRule("calendar_year", "America/New_York", grace_days=10)
    joined = local(NEW_YORK, 2024, 3, 1)
    assert last_closed_period(rule, joined, local(NEW_YORK, 2026, 1, 10, 23, 59)) == window_of_period(
        rule, period_containing(rule, joined, local(NEW_YORK, 2024, 6, 1)))
    assert last_closed_period(rule, joined, local(NEW_YORK, 2026, 1, 11)).start == local(NEW_YORK, 2025, 1, 1)
    # nothing closed before the member's first period ended
    assert last_closed_period(rule, joined, local(NEW_YORK, 2024, 12, 31)) is None


@pytest.mark.parametrize(
    ("at", "start", "end"),
    [
        ((2024, 3, 1), (2024, 2, 29), (2025, 2, 28)),
        ((2025, 2, 27), (2024, 2, 29), (2025, 2, 28)),
        ((2025, 2, 28), (2025, 2, 28), (2026, 2, 28)),
        ((2028, 3, 1), (2028, 2, 29), (2029, 2, 28)),  # back on the 29th in a leap year
    ],
)
def test_anniversary_periods_of_a_29_february_joiner(at, start, end):
    rule = WindowRule("anniversary", "UTC")
    joined = datetime(2024, 2, 29, 15, tzinfo=UTC)
    period = period_containing(rule, joined, datetime(*at, 12, tzinfo=UTC))
    assert (period.start, period.end) == (datetime(*start, tzinfo=ZoneInfo("UTC")), datetime(*end, tzinfo=ZoneInfo("UTC")))


def test_rolling_windows_look_back_n_months_from_each_month_end():
    rule = WindowRule("rolling_months", "Europe/Berlin", months=3)
    berlin = ZoneInfo("Europe/Berlin")
    joined = local(berlin, 2025, 1, 15)
    closed = last_closed_period(rule, joined, local(berlin, 2025, 7, 2))
    assert (closed.start, closed.end) == (local(berlin, 2025, 6, 1), local(berlin, 2025, 7, 1))  # June
    window = window_of_period(rule, closed)
    assert (window.start, window.end) == (local(berlin, 2025, 4, 1), local(berlin, 2025, 7, 1))  # April to June
    now = local(berlin, 2025, 7, 20, 12)
    assert current_window(rule, joined, now).start == local(berlin, 2025, 4, 20, 12)
    assert next_period_end(rule, joined, now) == local(berlin, 2025, 9, 1)


def test_add_months_clamps_to_month_end():
    assert add_months(datetime(2025, 1, 31, tzinfo=UTC), 1) == datetime(2025, 2, 28, tzinfo=UTC)
    assert add_months(datetime(2025, 3, 31, tzinfo=UTC), -1) == datetime(2025, 2, 28, tzinfo=UTC)
    assert add_months(datetime(2025, 11, 30, tzinfo=UTC), 3) == datetime(2026, 2, 28, tzinfo=UTC)
    assert add_months(datetime(2025, 5, 5, tzinfo=UTC), 0) == datetime(2025, 5, 5, tzinfo=UTC)


# --- benefit periods ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "start", "end"),
    [
        ((2024, 2, 29, 0, 0), (2024, 2, 29), (2025, 2, 28)),  # the joining day, from local midnight
        ((2025, 2, 27, 23, 59), (2024, 2, 29), (2025, 2, 28)),
        ((2025, 2, 28, 0, 0), (2025, 2, 28), (2026, 2, 28)),  # 29 February + 1 year = 28 February
        ((2028, 2, 28, 23, 59), (2027, 2, 28), (2028, 2, 29)),
        ((2028, 2, 29, 0, 0), (2028, 2, 29), (2029, 2, 28)),  # back on the 29th in a leap year
    ],
)
def test_membership_years_of_a_29_february_joiner_in_shanghai(at, start, end):
    joined = local(SHANGHAI, 2024, 2, 29, 10)
    period = benefit_period("membership_year", "Asia/Shanghai", joined, local(SHANGHAI, *at))
    assert (period.start, period.end) == (local(SHANGHAI, *start), local(SHANGHAI, *end))


def test_a_calendar_benefit_year_in_shanghai_ends_at_local_midnight():
    joined = local(SHANGHAI, 2025, 6, 1)
    late = local(SHANGHAI, 2025, 12, 31, 23, 30)  # 15:30 UTC: still 2025 in Shanghai
    period = benefit_period("calendar_year", "Asia/Shanghai", joined, late)
    assert (period.start, period.end) == (local(SHANGHAI, 2025, 1, 1), local(SHANGHAI, 2026, 1, 1))
    assert benefit_period("calendar_year", "Asia/Shanghai", joined, datetime(2025, 12, 31, 16, tzinfo=UTC)).start == \
        local(SHANGHAI, 2026, 1, 1)


def test_benefit_periods_are_years_whatever_the_qualification_window():
    """The defect: a rolling window's periods are months, and the quota was granted per
    qualification period; the benefit period of the same member is a year."""
    joined = local(SHANGHAI, 2025, 1, 10, 10)
    at = local(SHANGHAI, 2025, 3, 5)
    month = period_containing(WindowRule("rolling_months", "Asia/Shanghai", months=12), joined, at)
    assert (month.start, month.end) == (local(SHANGHAI, 2025, 3, 1), local(SHANGHAI, 2025, 4, 1))
    year = benefit_period("membership_year", "Asia/Shanghai", joined, at)
    assert (year.start, year.end) == (local(SHANGHAI, 2025, 1, 10), local(SHANGHAI, 2026, 1, 10))


def test_an_unknown_benefit_period_is_refused():
    with pytest.raises(ValueError):
        benefit_period("fortnight", "UTC", datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC))


ZONES = ("Asia/Shanghai", "America/New_York", "Europe/Berlin", "Pacific/Chatham", "UTC")
INSTANTS = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2060, 1, 1), timezones=st.just(UTC))


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(("membership_year", "calendar_year")), zone=st.sampled_from(ZONES), joined=INSTANTS,
       offset=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=365 * 30)))
def test_benefit_periods_tile_time_in_local_years(kind, zone, joined, offset):
    instant = joined + offset
    tz = ZoneInfo(zone)
    period = benefit_period(kind, zone, joined, instant)
    assert period.start <= instant < period.end  # half-open, and it contains the instant
    start, end = period.start.astimezone(tz), period.end.astimezone(tz)
    assert (start.hour, start.minute, end.hour, end.minute) == (0, 0, 0, 0)  # local midnights
    # the next period starts where this one ends, and the one before ends where it starts
    assert benefit_period(kind, zone, joined, period.end).start == period.end
    assert benefit_period(kind, zone, joined, period.start - timedelta(microseconds=1)).end == period.start
    if kind == "calendar_year":
        assert (start.month, start.day, end.year) == (1, 1, start.year + 1)
    else:
        local_join = joined.astimezone(tz)
        last_day = calendar.monthrange(start.year, local_join.month)[1]
        assert (start.month, start.day) == (local_join.month, min(local_join.day, last_day))
        assert end.year == start.year + 1
