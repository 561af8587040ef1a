"""Segments over GraphQL: admins define them, managers use them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from crm import segments as service
from models import Segment as SegmentRow
from schema.fields import column, global_id
from schema.errors import error_codes, error_type
from schema.node import NODE_TYPES, Node

if TYPE_CHECKING:
    from schema.customers import CustomerFilter

SegmentErrorCode = error_codes(service.SegmentErrorCode, "segment")
SegmentError = error_type("SegmentError", SegmentErrorCode, "segment")


@strawberry.type(name="Segment", description="A named customer filter with a priority; a customer's primary segment "
                 "is the matching one with the lowest priority number.")
class SegmentType(Node):
    id: strawberry.ID = global_id("Segment")
    name: str = column("name", description="Unique name.")
    priority: int = column("priority", description="Lower wins when a customer is in several segments.")
    filter: JSON = column("filter", description="The saved filter, as stored (field names in snake_case, IDs as keys).")
    _row: strawberry.Private[SegmentRow]
    # (members, primary): counted for all segments at once when the objects are made.
    _counts: strawberry.Private[tuple[int, int]]

    @strawberry.field(description="Live customers matching the filter.")
    def member_count(self) -> int:
        return self._counts[0]

    @strawberry.field(description="Of those, customers for whom this is the primary segment.")
    def primary_count(self) -> int:
        return self._counts[1]

    @classmethod
    def from_row(cls, row: SegmentRow, counts: tuple[int, int] = (0, 0)) -> SegmentType:
        return cls(_row=row, _counts=counts)


async def _with_counts(info: Info, rows: list[SegmentRow]) -> list[SegmentType]:
    async with info.context.database.session() as session:
        figures = await service.counts(session, await service.all_segments(session))
    return [SegmentType.from_row(r, figures.get(r.id, (0, 0))) for r in rows]


async def _segment_node(info: Info, row: SegmentRow) -> SegmentType:
    return (await _with_counts(info, [row]))[0]


NODE_TYPES["Segment"] = _segment_node


@strawberry.input(description="A new segment.")
class SegmentCreateInput:
    name: str = strawberry.field(description="Unique, 1 to 100 characters.")
    priority: int = strawberry.field(description="0 to 1,000,000; lower wins.")
    filter: Annotated["CustomerFilter", strawberry.lazy("schema.customers")] = strawberry.field(
        description="The same filter as the customers query.")


@strawberry.input(description="Changes to a segment; only the fields sent change.")
class SegmentUpdateInput:
    name: str | None = strawberry.field(default=strawberry.UNSET, description="Name.")
    priority: int | None = strawberry.field(default=strawberry.UNSET, description="Priority.")
    filter: Annotated["CustomerFilter", strawberry.lazy("schema.customers")] | None = strawberry.field(
        default=strawberry.UNSET, description="The filter.")


@strawberry.type(description="Result of a segment mutation.")
class SegmentPayload:
    segment: SegmentType | None = strawberry.field(description="The segment; null on errors.")
    errors: list[SegmentError] = strawberry.field(description="Empty on success.")


