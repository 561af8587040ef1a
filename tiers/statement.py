"""A member's statement: the ledger entries that make up the qualifying volume of a
window, so a partner can reconcile its volume entry by entry.

The entries of the current window are those `tiers.view` sums for the qualifying
volume at the same instant (from the window's start up to and including that instant);
a past window's are those of [start, end). The window chosen by an instant inside it
is that instant's period (calendar year, membership year), or for rolling windows the
N months assessed at the end of the month containing it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select

from kernel.pagination import TIME_KEY, Ordering, Sortable, build_ordering
from kernel.references import ref
from models import Membership, Programme, QualifyingEntry
from tiers.membership import window_rule_of
from tiers.windows import current_window, period_containing, window_of_period


class EntryKind(enum.StrEnum):
    ORDER = "order"
    RETURN = "return"
    CANCELLATION = "cancel"
    ADJUSTMENT = "adjustment"
    OTHER = "other"  # a source this code does not know (written by a later version)


# The record behind each kind of entry, by the type name of its global ID.
SOURCE_TYPES = {EntryKind.ORDER: "Order", EntryKind.RETURN: "OrderReturn", EntryKind.CANCELLATION: "Order"}


def entry_kind(source: str) -> EntryKind:
    prefix = source.partition(":")[0]
    return EntryKind(prefix) if prefix in EntryKind._value2member_map_ else EntryKind.OTHER


def source_record(source: str) -> tuple[str, int] | None:
    """(type name, primary key) of the record an entry came from; None for adjustments."""
    _, _, key = source.partition(":")
    type_name = SOURCE_TYPES.get(entry_kind(source))
    return (type_name, int(key)) if type_name and key.isdigit() else None


def source_ref(source: str) -> dict | str:
    """An entry's source as explanations store it: a typed reference to its order or
    return (the API shows its global ID), or an adjustment's own key as given."""
    record = source_record(source)
    return ref(*record) if record else source


@dataclass(frozen=True)
class StatementWindow:
    """Entries with start <= occurred_at <= through and, for a chosen window, < end."""

    start: datetime
    end: datetime | None
    through: datetime


def statement_window(membership: Membership, programme: Programme, as_of: datetime,
                     window_at: datetime | None = None) -> StatementWindow:
    """The window whose entries a statement lists, seen at `as_of`: the current one
    (default), or the one `window_at` falls in; never past `as_of`."""
    rule = window_rule_of(programme)
    if window_at is None:
        # Exactly what the qualifying volume at `as_of` sums (tiers.view).
        return StatementWindow(current_window(rule, membership.joined_at, as_of).start, None, as_of)
    window = window_of_period(rule, period_containing(rule, membership.joined_at, window_at))
    return StatementWindow(window.start, window.end, as_of)


ORDERING: Ordering = build_ordering({"occurred_at": Sortable(QualifyingEntry.occurred_at, "occurred_at", TIME_KEY)},
                                    [("occurred_at", False)], QualifyingEntry.id)


def entries_statement(membership_id: int, window: StatementWindow) -> Select:
    """The entries of one window, oldest first (ORDERING); ix_qualifying_entry_membership_id_occurred_at."""
    statement = select(QualifyingEntry).where(
        QualifyingEntry.membership_id == membership_id, QualifyingEntry.occurred_at >= window.start,
        QualifyingEntry.occurred_at <= window.through)
    return statement if window.end is None else statement.where(QualifyingEntry.occurred_at < window.end)
