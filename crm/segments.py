"""Segments: named, saved customer filters with a priority; overlapping by design."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Select, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm import customers as customer_service
from kernel.errors import Code, DomainError, domain_codes
from kernel.filtering import FilterError, where
from kernel.references import ensure_unique, get_row
from kernel.validation import Checker
from models import Customer, Segment

SegmentErrorCode = domain_codes("SegmentErrorCode", "duplicate", "invalid_filter")


def condition_of(spec: Mapping[str, Any] | None) -> Any:
    """The WHERE clause of a saved customers filter (live customers only)."""
    return where(spec, customer_service.FILTER_FIELDS, customer_service.FILTER_SPECIAL) & Customer.archived_at.is_(None)


def _checked(values: Mapping[str, Any]) -> dict[str, Any]:
    check = Checker()
    clean: dict[str, Any] = {}
    if "name" in values:
        clean["name"] = check.text("name", values["name"], max_len=100, required=True)
    if "priority" in values:
        clean["priority"] = check.integer("priority", values["priority"], 0, 1_000_000)
        if values["priority"] is None:
            check.fail("priority", "A segment needs a priority.", Code.REQUIRED)
    if "filter" in values:
        try:
            condition_of(values["filter"])
            clean["filter"] = values["filter"] or {}
        except FilterError as error:
            check.fail("filter", error.message, SegmentErrorCode.INVALID_FILTER)
    check.done()
    return clean


async def create_segment(session: AsyncSession, *, name: str, priority: int, filter: Mapping[str, Any]) -> Segment:
    values = _checked({"name": name, "priority": priority, "filter": filter})
    await ensure_unique(session, Segment, func.lower(Segment.name), values["name"].lower(), None, field="name",
                        message="Another segment has this name.", code=SegmentErrorCode.DUPLICATE)
    segment = Segment(**values)
    session.add(segment)
    await session.flush()
    return segment


async def update_segment(session: AsyncSession, segment_id: int, changes: Mapping[str, Any]) -> Segment:
    segment = await get_row(session, Segment, segment_id, lock=True)
    if segment is None:
        raise DomainError.one("id", "No segment has this ID.", Code.NOT_FOUND)
    values = _checked(changes)
    if "name" in values:
        await ensure_unique(session, Segment, func.lower(Segment.name), values["name"].lower(), segment_id, field="name",
                            message="Another segment has this name.", code=SegmentErrorCode.DUPLICATE)
    for name, value in values.items():
        setattr(segment, name, value)
    await session.flush()
    return segment


async def delete_segment(session: AsyncSession, segment_id: int) -> Segment:
    segment = await get_row(session, Segment, segment_id, lock=True)
    if segment is None:
        raise DomainError.one("id", "No segment has this ID.", Code.NOT_FOUND)
    await session.delete(segment)
    await session.flush()
    return segment


async def all_segments(session: AsyncSession) -> list[Segment]:
    return list((await session.execute(select(Segment).order_by(Segment.priority, Segment.id))).scalars())


def members_statement(segment: Segment) -> Select:
    return customer_service.customers_statement(condition_of(segment.filter))


def primary_segment_expression(segments: list[Segment]) -> Any:
    """CASE WHEN <first segment's filter> THEN its id WHEN ... END, by priority."""
    if not segments:
        return literal(None)
    return case(*((condition_of(s.filter), s.id) for s in segments), else_=None)


async def counts(session: AsyncSession, segments: list[Segment]) -> dict[int, tuple[int, int]]:
    """Per segment: (members, members for whom it is the primary segment), in one pass."""
    if not segments:
        return {}
    primary = primary_segment_expression(segments)
    columns = []
    for s in segments:
        columns.append(func.count().filter(condition_of(s.filter)).label(f"m{s.id}"))
        columns.append(func.count().filter(primary == s.id).label(f"p{s.id}"))
    row = (await session.execute(select(*columns).select_from(Customer).where(Customer.archived_at.is_(None)))).mappings().one()
    return {s.id: (row[f"m{s.id}"], row[f"p{s.id}"]) for s in segments}


async def primary_segments(session: AsyncSession, customer_ids: list[int]) -> dict[int, int | None]:
    """The primary segment of each customer, in one statement."""
    segments = await all_segments(session)
    rows = await session.execute(select(Customer.id, primary_segment_expression(segments).label("segment"))
                                 .where(Customer.id.in_(customer_ids)))
    return {r.id: r.segment for r in rows}
