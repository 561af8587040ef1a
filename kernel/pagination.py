"""Keyset pagination in SQL: a page is `WHERE key > cursor ORDER BY key LIMIT n + 1`.

The cursor is opaque to clients: URL-safe base64 of JSON holding the name of the
ordering it belongs to and the sort-key values of the row it points at. A cursor made
under one ordering is refused under another rather than silently misplacing the page.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Select, and_, bindparam, func, or_, select, true, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

T = TypeVar("T")

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20


class PaginationError(ValueError):
    """Arguments that do not describe one page. `argument` names the offending one."""

    def __init__(self, argument: str, message: str) -> None:
        super().__init__(message)
        self.argument = argument
        self.message = message


BIGINT_MAX = 2**63 - 1


def parse_bigint(value: Any) -> int:
    """A bigint key read from a client-supplied token; anything else is a ValueError."""
    if type(value) is not int or not -BIGINT_MAX - 1 <= value <= BIGINT_MAX:
        raise ValueError(f"{value!r} is not a bigint")
    return value


def parse_datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("not a timestamp")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("naive timestamp")
    return parsed


def parse_date(value: Any) -> date:
    if not isinstance(value, str):
        raise ValueError("not a date")
    return date.fromisoformat(value)


def parse_decimal(value: Any) -> Decimal:
    if not isinstance(value, str):
        raise ValueError("not a decimal")
    number = Decimal(value)
    if not number.is_finite():
        raise ValueError("not finite")
    return number


def parse_text(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 1000:
        raise ValueError("not text")
    return value


def _iso(value: Any) -> Any:
    return value.isoformat()


@dataclass(frozen=True)
class SortKey:
    """One column of an ordering. Columns must be NOT NULL: keyset comparison skips NULLs."""

    column: ColumnElement[Any]
    descending: bool = False
    # Turns the JSON form of a value back into the Python value (e.g. an ISO date string).
    parse: Callable[[Any], Any] = lambda value: value
    # Turns a row's value into JSON.
    dump: Callable[[Any], Any] = lambda value: value


TEXT_KEY = {"parse": parse_text}
TIME_KEY = {"parse": parse_datetime, "dump": _iso}
DATE_KEY = {"parse": parse_date, "dump": _iso}
DECIMAL_KEY = {"parse": parse_decimal, "dump": str}
BIGINT_KEY = {"parse": parse_bigint}


@dataclass(frozen=True)
class Ordering:
    """A named ordering whose last key is unique (the primary key), so it is total."""

    name: str
    keys: Sequence[SortKey]
    # Reads the sort-key values off a result row, in key order.
    values_of: Callable[[Any], Sequence[Any]]


@dataclass(frozen=True)
class Sortable:
    """A column a list may be ordered by: `attribute` is its name on the result rows."""

    column: ColumnElement[Any]
    attribute: str
    options: dict[str, Any]


def build_ordering(sortables: dict[str, Sortable], requested: Sequence[tuple[str, bool]], id_column,
                   *, default: Sequence[tuple[str, bool]] = ()) -> Ordering:
    """An ordering from (field, descending) pairs, the primary key last as tie-breaker
    (in the direction of the first key, so `created_at DESC` lists newest ids first)."""
    requested = list(requested) or list(default)
    seen: list[tuple[str, bool]] = []
    for field_name, descending in requested:
        if field_name in sortables and all(field_name != f for f, _ in seen):
            seen.append((field_name, descending))
    keys = [SortKey(sortables[f].column, descending=d, **sortables[f].options) for f, d in seen]
    attributes = [sortables[f].attribute for f, _ in seen]
    tie_descending = seen[0][1] if seen else False
    keys.append(SortKey(id_column, descending=tie_descending, parse=parse_bigint))
    attributes.append("id")
    name = ",".join(f"{f}:{'d' if d else 'a'}" for f, d in seen) or "id"
    return Ordering(name=name, keys=keys, values_of=lambda row: [getattr(row, a) for a in attributes])


@dataclass(frozen=True)
class PageRequest:
    """One page to fetch; hashable, so per-request loaders can be keyed by it."""

    size: int
    forward: bool
    after: tuple[Any, ...] | None
    before: tuple[Any, ...] | None


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    ordering: Ordering
    has_next_page: bool
    has_previous_page: bool

    def cursor(self, index: int) -> str:
        """The cursor of one row; encoded only when a client asks for it."""
        return encode_cursor(self.ordering, self.rows[index])


def encode_cursor(ordering: Ordering, row: Any) -> str:
    values = [key.dump(value) for key, value in zip(ordering.keys, ordering.values_of(row), strict=True)]
    return encode_cursor_values(ordering.name, values)


def encode_cursor_values(ordering_name: str, values: Sequence[Any]) -> str:
    """The cursor of a row whose sort-key values are already in their JSON form."""
    raw = json.dumps([ordering_name, list(values)], separators=(",", ":"), default=str)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(ordering: Ordering, cursor: str, argument: str) -> tuple[Any, ...]:
    invalid = PaginationError(argument, f"`{argument}` is not a cursor of this list.")
    if not isinstance(cursor, str) or len(cursor) > 1024:
        raise invalid
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        name, values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise invalid from None
    if name != ordering.name or not isinstance(values, list) or len(values) != len(ordering.keys):
        raise invalid
    try:
        return tuple(key.parse(value) for key, value in zip(ordering.keys, values, strict=True))
    except (TypeError, ValueError, ArithmeticError):
        raise invalid from None


def page_request(
    ordering: Ordering,
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> PageRequest:
    """Checks Relay arguments and turns them into one page to fetch."""
    if first is not None and last is not None:
        raise PaginationError("last", "Pass either `first` or `last`, not both.")
    for name, value in (("first", first), ("last", last)):
        if value is not None and value < 0:
            raise PaginationError(name, f"`{name}` must not be negative.")
        if value is not None and value > MAX_PAGE_SIZE:
            raise PaginationError(name, f"`{name}` is {value}; at most {MAX_PAGE_SIZE} items come in one page.")
    forward = last is None
    size = first if forward else last
    return PageRequest(
        size=DEFAULT_PAGE_SIZE if size is None else size,
        forward=forward,
        after=decode_cursor(ordering, after, "after") if after is not None else None,
        before=decode_cursor(ordering, before, "before") if before is not None else None,
    )


def _beyond(ordering: Ordering, values: Sequence[Any], *, after: bool) -> ColumnElement[bool]:
    """Rows strictly after (or before) the row whose sort-key values are `values`."""
    keys = ordering.keys
    if all(key.descending == keys[0].descending for key in keys):
        # One row-value comparison, which PostgreSQL answers from a composite index.
        left = tuple_(*(key.column for key in keys))
        right = tuple_(*values)
        return left > right if after != keys[0].descending else left < right
    # Mixed directions: (k1 beyond v1) OR (k1 = v1 AND k2 beyond v2) OR ...
    clauses = []
    for i, key in enumerate(keys):
        beyond = key.column > values[i] if after != key.descending else key.column < values[i]
        clauses.append(and_(*(keys[j].column == values[j] for j in range(i)), beyond))
    return or_(*clauses)


def bounded_statement(statement: Select, ordering: Ordering, request: PageRequest) -> tuple[Select, list[Any]]:
    """The statement with the cursor bounds, and the ORDER BY of the fetch."""
    if request.after is not None:
        statement = statement.where(_beyond(ordering, request.after, after=True))
    if request.before is not None:
        statement = statement.where(_beyond(ordering, request.before, after=False))
    order_by = []
    for key in ordering.keys:
        ascending = key.descending != request.forward  # flip every key when paging backwards
        order_by.append(key.column.asc() if ascending else key.column.desc())
    return statement, order_by


def page_from_rows(rows: list[Any], ordering: Ordering, request: PageRequest) -> Page[Any]:
    more = len(rows) > request.size
    rows = rows[: request.size]
    if not request.forward:
        rows.reverse()
    return Page(
        rows=rows,
        ordering=ordering,
        has_next_page=more if request.forward else request.before is not None,
        has_previous_page=request.after is not None if request.forward else more,
    )


async def fetch_page(
    session: AsyncSession, statement: Select, ordering: Ordering, request: PageRequest
) -> Page[Any]:
    """One SELECT for one page, whatever its size: LIMIT size + 1 tells if there is more."""
    bounded, order_by = bounded_statement(statement, ordering, request)
    result = await session.execute(bounded.order_by(*order_by).limit(request.size + 1))
    rows = list(result.scalars().all()) if _single_entity(statement) else list(result.all())
    return page_from_rows(rows, ordering, request)


async def fetch_pages_by_parent(
    session: AsyncSession,
    statement: Select,
    parent_column: ColumnElement[Any],
    parent_ids: Sequence[Any],
    ordering: Ordering,
    request: PageRequest,
) -> dict[Any, Page[Any]]:
    """The same page of a nested list for many parents in ONE statement:

        SELECT x.* FROM unnest(:parents) AS p(id)
        CROSS JOIN LATERAL (SELECT ... WHERE parent = p.id AND <cursor> ORDER BY ... LIMIT n + 1) x

    so the (parent, sort key) index is walked once per parent and no parent's children
    are read beyond its page. `statement` selects one entity."""
    entity = statement.column_descriptions[0]["entity"]
    parent_type = parent_column.type
    parents = select(
        func.unnest(bindparam("parent_ids", list(parent_ids), type_=ARRAY(parent_type))).label("parent_id")
    ).subquery("parents")
    bounded, order_by = bounded_statement(statement, ordering, request)
    ranked = bounded.add_columns(func.row_number().over(order_by=order_by).label("_rank"))
    inner = ranked.where(parent_column == parents.c.parent_id).order_by(*order_by).limit(request.size + 1).lateral("page")
    # Plain rows of the entity's columns (read by attribute name, like the entity), not
    # ORM instances through aliased(): building that alias and its instances was most of
    # a customer detail page's time (docs/performance.md).
    columns = [inner.c[column.key] for column in entity.__table__.columns]
    query = select(parents.c.parent_id.label("pagination_parent_id"), *columns).select_from(parents).join(
        inner, true()).order_by(parents.c.parent_id, inner.c._rank)
    grouped: dict[Any, list[Any]] = {parent: [] for parent in parent_ids}
    for row in (await session.execute(query)).all():
        grouped[row.pagination_parent_id].append(row)
    return {parent: page_from_rows(rows, ordering, request) for parent, rows in grouped.items()}


async def count_by_parent(
    session: AsyncSession, statement: Select, parent_column: ColumnElement[Any], parent_ids: Sequence[Any]
) -> dict[Any, int]:
    """totalCount of a nested list for many parents in one GROUP BY."""
    query = (
        statement.with_only_columns(parent_column, func.count())
        .where(parent_column.in_(list(parent_ids)))
        .group_by(parent_column)
        .order_by(None)
    )
    counts = {parent: 0 for parent in parent_ids}
    counts.update({parent: count for parent, count in (await session.execute(query)).all()})
    return counts


def count_statement(statement: Select) -> Select:
    """COUNT of the unpaged statement's rows (totalCount)."""
    return select(func.count()).select_from(statement.order_by(None).limit(None).subquery())


async def count_rows(session: AsyncSession, statement: Select) -> int:
    """How many rows the unpaged statement has (totalCount): one COUNT over it."""
    return (await session.execute(count_statement(statement))).scalar_one()


def _single_entity(statement: Select) -> bool:
    return len(statement.column_descriptions) == 1 and statement.column_descriptions[0].get("entity") is not None
