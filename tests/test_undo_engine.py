"""tiers.engine.undo_promotions, pure: volume that is returned or cancelled earns nothing.

The property: over random sequences of orders, partial returns and cancellations in one
window, promoting with promote_now and undoing with undo_promotions, the earned rank
after every step is the rank the remaining volume earns, floored at the rank (and hold)
the member had before the first promotion of the sequence."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from tiers.engine import (
    Entry, MemberState, Promotion, earned_by_volume, promote_now, undo_promotions, volume_through, window_rule,
)
from tiers.rules import ProgrammeRules, Rules, TierRule
from tiers.windows import current_window, next_period_end, period_containing

UTC = timezone.utc
JOINED = datetime(2024, 3, 10, tzinfo=UTC)


def tier(rank: int, promotion: int) -> TierRule:
    return TierRule(rank=rank, code=f"T{rank}", name=f"Tier {rank}", entry_fee=Decimal(0), discount_rate=Decimal("0.05") * rank,
                    training_quota=rank, promotion_threshold=Decimal(promotion), retention_threshold=Decimal(promotion) / 2)


AGENTS = Rules(1, (tier(1, 500_000), tier(2, 1_000_000)))  # B and A of the worked example
CALENDAR = ProgrammeRules("calendar_year", "Asia/Shanghai", None, "at_period_end", 1, 0)


def at(month: int, day: int = 1) -> datetime:
    return datetime(2025, month, day, 10, tzinfo=UTC)


class Member:
    """One member's earned state through a sequence, as tiers.ledger keeps it."""

    def __init__(self, programme: ProgrammeRules, rules: Rules, rank: int = 0, until: datetime | None = None):
        self.programme, self.rules, self.rank, self.until = programme, rules, rank, until
        self.entries: list[Entry] = []
        self.promotions: list[Promotion] = []
        self.counted: dict[str, datetime] = {}

    def order(self, name: str, instant: datetime, amount: int) -> None:
        self.entries.append(Entry(instant, Decimal(amount)))
        self.counted[name] = instant
        window = current_window(window_rule(self.programme), JOINED, instant)
        promoted = promote_now(MemberState(JOINED, self.rank, self.until, None), instant,
                               volume_through(self.entries, window.start, instant), self.programme, self.rules)
        if promoted is not None:
            self.promotions.append(Promotion(instant, promoted[0], promoted[1], self.rank, self.until, window.start, window.end))
            self.rank, self.until = promoted

    def reverse(self, name: str, instant: datetime, amount: int):
        self.entries.append(Entry(instant, -Decimal(amount)))
        undo = undo_promotions(self.rank, self.promotions, self.entries, instant, self.counted[name], self.rules)
        if undo is not None:
            self.rank, self.until = undo.earned_rank, undo.earned_until
        return undo


def test_a_return_below_the_threshold_undoes_the_promotion_it_caused():
    member = Member(CALENDAR, AGENTS)
    member.order("o1", at(5), 990_000)
    assert (member.rank, member.until) == (1, datetime(2026, 12, 31, 16, tzinfo=UTC))  # B, held to the end of 2026
    member.order("o2", at(6, 10), 18_000)
    assert member.rank == 2
    undo = member.reverse("o2", at(7), 18_000)
    # back to B, the tier and hold the member had earned before A
    assert (member.rank, member.until) == (1, datetime(2026, 12, 31, 16, tzinfo=UTC))
    assert (undo.promotion.rank, undo.volume) == (2, Decimal(990_000))


def test_a_partial_return_that_keeps_the_threshold_undoes_nothing():
    member = Member(CALENDAR, AGENTS)
    member.order("o1", at(5), 1_100_000)
    assert member.reverse("o1", at(6), 100_000) is None and member.rank == 2
    # the next one takes it below A's threshold: down to B, which 900,000 still earns,
    # with the promotion's hold (the member had earned nothing before it)
    undo = member.reverse("o1", at(7), 1)
    assert (member.rank, member.until) == (1, datetime(2026, 12, 31, 16, tzinfo=UTC)) and undo.promotion.rank_before == 0
    member.reverse("o1", at(8), 999_999)
    assert (member.rank, member.until) == (0, None)


def test_promotions_in_a_row_undo_from_the_earliest_the_volume_no_longer_carries():
    member = Member(CALENDAR, AGENTS, rank=0)
    member.order("o1", at(2), 600_000)  # B
    member.order("o2", at(3), 500_000)  # A
    assert [p.rank for p in member.promotions] == [1, 2]
    member.reverse("o1", at(4), 600_000)  # 500,000 left: B still, A undone
    assert member.rank == 1
    member.reverse("o2", at(5), 1)  # 499,999: B undone as well
    assert (member.rank, member.until) == (0, None)


def test_never_below_what_the_member_had_earned_before():
    held = datetime(2025, 12, 31, 16, tzinfo=UTC)  # B from last year's promotion, held to the end of this year
    member = Member(CALENDAR, AGENTS, rank=1, until=held)
    member.order("o1", at(3), 1_000_000)
    assert member.rank == 2
    member.reverse("o1", at(4), 1_000_000)
    assert (member.rank, member.until) == (1, held)


def test_volume_of_an_earlier_window_never_made_the_promotion():
    member = Member(CALENDAR, AGENTS)
    member.counted["december"] = datetime(2024, 12, 20, tzinfo=UTC)  # counted in last year's window
    member.order("o1", at(3), 1_000_000)
    # returned this year, it lowers this year's volume, but it did not make this promotion:
    # the assessment of this year decides
    assert member.reverse("december", at(4), 300_000) is None and member.rank == 2
    assert member.reverse("o1", at(5), 1) is not None and member.rank == 1


def test_no_promotion_in_the_period_nothing_to_undo():
    assert undo_promotions(2, [], [Entry(at(3), Decimal(-5))], at(3), at(1), AGENTS) is None


@st.composite
def tier_sets(draw) -> Rules:
    count = draw(st.integers(1, 4))
    thresholds = sorted(draw(st.lists(st.integers(1, 40), min_size=count, max_size=count, unique=True)))
    return Rules(1, tuple(tier(rank, threshold * 1000) for rank, threshold in enumerate(thresholds, start=1)))


@st.composite
def sequences(draw):
    """Steps in one window: ("order", amount) or ("return", order index, share in
    per mille of what the order still counts) - a share of 1000 is a cancellation."""
    steps = []
    for _ in range(draw(st.integers(1, 25))):
        if steps and draw(st.booleans()):
            steps.append(("return", draw(st.integers(0, 30)), draw(st.sampled_from([1000, draw(st.integers(1, 1000))]))))
        else:
            steps.append(("order", draw(st.integers(1, 25)) * 1000))
    return steps


@settings(max_examples=300, deadline=None)
@given(rules=tier_sets(), steps=sequences(), zone=st.sampled_from(["UTC", "Asia/Shanghai", "America/New_York"]),
       kind=st.sampled_from(["calendar_year", "anniversary"]), start_rank=st.integers(0, 4), held=st.booleans())
def test_the_earned_rank_is_what_the_remaining_volume_earns(rules, steps, zone, kind, start_rank, held):
    programme = ProgrammeRules(kind, zone, None, "at_period_end", 1, 0)
    rule = window_rule(programme)
    first = datetime(2025, 6, 1, tzinfo=UTC)
    period = period_containing(rule, JOINED, first)
    start_rank = min(start_rank, rules.top_rank)
    until = period.end if held and start_rank else None
    member = Member(programme, rules, start_rank, until)
    hold = next_period_end(rule, JOINED, first)
    left: list[int] = []  # what each order still counts
    instant = period.start
    for step in steps:
        instant += timedelta(hours=7)
        assert period.start <= instant < period.end
        if step[0] == "order":
            member.order(str(len(left)), instant, step[1])
            left.append(step[1])
        else:
            index = step[1] % len(left)
            amount = left[index] if step[2] == 1000 else left[index] * step[2] // 1000
            if amount == 0:
                continue
            left[index] -= amount
            member.reverse(str(index), instant, amount)
        volume = volume_through(member.entries, period.start, instant)
        assert volume == sum(left)
        earned = earned_by_volume(volume, rules)
        if earned > start_rank:
            assert (member.rank, member.until) == (earned, hold), (step, volume)
        else:
            assert (member.rank, member.until) == (start_rank, until), (step, volume)
