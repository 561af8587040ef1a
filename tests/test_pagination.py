"""Keyset paging under orderings with mixed directions, against PostgreSQL's own ORDER BY."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select

from kernel.pagination import Ordering, PaginationError, SortKey, fetch_page, page_request, parse_bigint
from models import Customer


NAME_DESC_ID_ASC = Ordering(
    name="name-desc",
    keys=[SortKey(Customer.name, descending=True, parse=str), SortKey(Customer.id, parse=parse_bigint)],
    values_of=lambda c: (c.name, c.id),
)
STAGE_ASC_ID_DESC = Ordering(
    name="stage-asc-id-desc",
    keys=[SortKey(Customer.lifecycle_stage, parse=str), SortKey(Customer.id, descending=True, parse=parse_bigint)],
    values_of=lambda c: (c.lifecycle_stage, c.id),
)


@pytest.fixture
async def customers(database):
    # Repeated names and stages, so ties are broken by id.
    rows = [
        {"name": name, "kind": "person", "lifecycle_stage": stage}
        for name, stage in [("b", "lead"), ("a", "loyal"), ("b", "lead"), ("c", "customer"), ("a", "lead"),
                            ("c", "loyal"), ("b", "customer"), ("a", "lead"), ("d", "churned")]
    ]
    async with database.session() as session, session.begin():
        await session.execute(insert(Customer), rows)
    return len(rows)


async def _walk(database, ordering, *, forward, size):
    seen, cursor = [], None
    while True:
        args = {"first": size, "after": cursor} if forward else {"last": size, "before": cursor}
        async with database.session() as session:
            page = await fetch_page(session, select(Customer), ordering, page_request(ordering, **args))
        ids = [c.id for c in page.rows]
        seen = seen + ids if forward else ids + seen
        more = page.has_next_page if forward else page.has_previous_page
        if not more:
            return seen
        cursor = page.cursor(len(page.rows) - 1) if forward else page.cursor(0)


@pytest.mark.parametrize("ordering", [NAME_DESC_ID_ASC, STAGE_ASC_ID_DESC], ids=lambda o: o.name)
@pytest.mark.parametrize("size", [1, 2, 4, 20])
async def test_walks_match_order_by(database, customers, ordering, size):
    order_by = [k.column.desc() if k.descending else k.column.asc() for k in ordering.keys]
    async with database.session() as session:
        expected = list((await session.execute(select(Customer.id).order_by(*order_by))).scalars())
    assert len(expected) == customers
    assert await _walk(database, ordering, forward=True, size=size) == expected
    assert await _walk(database, ordering, forward=False, size=size) == expected


def test_a_cursor_is_tied_to_its_ordering():
    cursor_row = Customer(id=5, name="x", lifecycle_stage="lead")
    from kernel.pagination import encode_cursor

    cursor = encode_cursor(NAME_DESC_ID_ASC, cursor_row)
    assert page_request(NAME_DESC_ID_ASC, after=cursor).after == ("x", 5)
    with pytest.raises(PaginationError) as refused:
        page_request(STAGE_ASC_ID_DESC, after=cursor)
    assert refused.value.argument == "after"
