"""A customer's timeline: activities, deal stage changes, orders and merges in one list."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from schema.fields import RowObject, column

if TYPE_CHECKING:
    from schema.activities import ActivityType
    from schema.customers import CustomerMergeType
    from schema.opportunities import StageChangeType
    from schema.orders import OrderType


@strawberry.type(description="One event of a customer's timeline.")
class TimelineEntry(RowObject):
    at: datetime = column("at", description="When it happened.")
    _row: strawberry.Private[Any]  # (at, kind, id) of the timeline's union

    @strawberry.field(description="What happened.")
    async def item(self, info: Info) -> Annotated[
        Annotated["ActivityType", strawberry.lazy("schema.activities")]
        | Annotated["StageChangeType", strawberry.lazy("schema.opportunities")]
        | Annotated["OrderType", strawberry.lazy("schema.orders")]
        | Annotated["CustomerMergeType", strawberry.lazy("schema.customers")],
        strawberry.union("TimelineItem", description="An activity, a deal's stage change, an order or a merge."),
    ]:
        from resolvers.timeline import timeline_item

        return await timeline_item(info, self._row)

