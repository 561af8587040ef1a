"""Segments over GraphQL: admins define them, managers use them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from crm import customers as customer_service
from crm import segments as service
from models import Segment as SegmentRow
from resolvers.context import DatabaseLoader
from resolvers.mutations import mutate
from resolvers.ids import decode_id, from_global_id
from schema.fields import column, global_id
from schema.common import given, list_connection, payload_errors
from schema.errors import error_codes, error_type
from schema.node import NODE_TYPES, Node
from schema.pagination import PAGE_ARGUMENTS_HELP, Connection
from schema.permissions import Admins, Managers, guarded_field, guarded_mutation

if TYPE_CHECKING:
    from schema.customers import CustomerFilter, CustomerType

SegmentErrorCode = error_codes(service.SegmentErrorCode, "segment")
SegmentError = error_type("SegmentError", SegmentErrorCode, "segment")


class PrimarySegmentByCustomerLoader(DatabaseLoader):
    async def batch_load_fn(self, customer_ids: list[int]) -> list[int | None]:
        async with self.database.session() as session:
            found = await service.primary_segments(session, list(customer_ids))
        return [found.get(pk) for pk in customer_ids]


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


def _values(input_object) -> dict:
    from schema.customers import CUSTOMER_ID_FILTERS, _attributes_spec
    from schema.filters import to_spec

    values = given(input_object)
    if "filter" in values:
        values["filter"] = _attributes_spec(to_spec(values["filter"], CUSTOMER_ID_FILTERS)) or {}
    return values


async def _payload(info: Info, row, errors) -> SegmentPayload:
    segment = (await _with_counts(info, [row]))[0] if row is not None else None
    return SegmentPayload(segment=segment, errors=payload_errors(errors, SegmentError, SegmentErrorCode))


@strawberry.type
class SegmentQueries:
    @guarded_field(description="Every segment, by priority, with member counts.", permissions=[Managers])
    async def segments(self, info: Info) -> list[SegmentType]:
        async with info.context.database.session() as session:
            rows = await service.all_segments(session)
        return await _with_counts(info, rows)

    @guarded_field(description=f"The live customers of a segment. {PAGE_ARGUMENTS_HELP}", permissions=[Managers])
    async def segment_members(self, info: Info, segment_id: strawberry.ID, first: int | None = None, after: str | None = None,
                              last: int | None = None, before: str | None = None
                              ) -> Connection[Annotated["CustomerType", strawberry.lazy("schema.customers")]]:
        from schema.customers import CustomerType

        pk = from_global_id(segment_id, expected_type="Segment")[1]
        async with info.context.database.session() as session:
            segment = await session.get(SegmentRow, pk)
        if segment is None:
            return Connection.count_only(_zero)
        return await list_connection(info, service.members_statement(segment), customer_service.CUSTOMER_ORDER_BY_ID,
                                     CustomerType.from_row, first=first, after=after, last=last, before=before)


async def _zero() -> int:
    return 0


@strawberry.type
class SegmentMutations:
    @guarded_mutation(description="Define a segment: a saved customers filter with a priority.", idempotent=True, permissions=[Admins])
    async def segment_create(self, info: Info, input: SegmentCreateInput) -> SegmentPayload:
        values = _values(input)
        return await _payload(info, *await mutate(info.context, lambda s: service.create_segment(s, **values)))

    @guarded_mutation(description="Change a segment.", permissions=[Admins])
    async def segment_update(self, info: Info, id: strawberry.ID, input: SegmentUpdateInput) -> SegmentPayload:
        async def action(session):
            return await service.update_segment(session, decode_id(id, "Segment", "id"), _values(input))
        return await _payload(info, *await mutate(info.context, action))

    @guarded_mutation(description="Delete a segment (its customers are untouched).", permissions=[Admins])
    async def segment_delete(self, info: Info, id: strawberry.ID) -> SegmentPayload:
        row, errors = await mutate(info.context, lambda s: service.delete_segment(s, decode_id(id, "Segment", "id")))
        return SegmentPayload(segment=SegmentType.from_row(row) if row else None,
                              errors=payload_errors(errors, SegmentError, SegmentErrorCode))
