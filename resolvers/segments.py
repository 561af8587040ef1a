"""The segments domain's primary-segment loader and Query/Mutation bodies; its types are in schema/segments.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from crm import customers as customer_service
from crm import segments as service
from models import Segment as SegmentRow
from resolvers.context import DatabaseLoader
from resolvers.mutations import mutate
from resolvers.ids import decode_id, from_global_id
from schema.common import given, list_connection, payload_errors
from schema.pagination import PAGE_ARGUMENTS_HELP, Connection
from schema.permissions import Admins, Managers, guarded_field, guarded_mutation
from schema.segments import (
    SegmentCreateInput, SegmentError, SegmentErrorCode, SegmentPayload, SegmentType, SegmentUpdateInput, _with_counts,
)

if TYPE_CHECKING:
    from schema.customers import CustomerType


class PrimarySegmentByCustomerLoader(DatabaseLoader):
    """Keys: customer ids. Values: the id of each one's primary segment, or None."""

    async def batch_load_fn(self, customer_ids: list[int]) -> list[int | None]:
        async with self.database.session() as session:
            found = await service.primary_segments(session, list(customer_ids))
        return [found.get(pk) for pk in customer_ids]


def _values(input_object) -> dict:
    from resolvers.customers import CUSTOMER_ID_FILTERS, _attributes_spec
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
