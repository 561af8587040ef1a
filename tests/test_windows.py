"""Period and window boundaries in the programme's time zone (pure functions)."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from tiers.windows import WindowRule, add_months, current_window, last_closed_period, next_period_end, period_containing, window_of_period

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
