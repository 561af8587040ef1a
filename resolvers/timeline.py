"""A customer's timeline: the list (`Customer.timeline`) and what each entry is. The
types are in schema/timeline.py."""

from __future__ import annotations

from typing import Any

from strawberry.types import Info

from crm import customers as customer_service
from resolvers.loaders import ActivityByIdLoader, CustomerMergeByIdLoader, OrderByIdLoader, StageChangeByIdLoader
from schema.activities import ActivityType
from schema.common import list_connection
from schema.customers import CustomerMergeType
from schema.opportunities import StageChangeType
from schema.orders import OrderType
from schema.pagination import Connection
from schema.timeline import TimelineEntry

# An entry's kind -> the loader of its row and the type it becomes.
ITEMS = {
    "activity": (ActivityByIdLoader, ActivityType.from_row),
    "stage_change": (StageChangeByIdLoader, StageChangeType.from_row),
    "order": (OrderByIdLoader, OrderType.from_row),
    "merge": (CustomerMergeByIdLoader, CustomerMergeType.from_row),
}


async def customer_timeline(info: Info, customer_id: int, *, first: int | None, after: str | None, last: int | None,
                            before: str | None) -> Connection[TimelineEntry]:
    statement, ordering = customer_service.timeline(customer_id)
    return await list_connection(info, statement, ordering, TimelineEntry.from_row,
                                 first=first, after=after, last=last, before=before)


async def timeline_item(info: Info, row: Any) -> Any:
    """The object an entry (`(at, kind, id)` of the timeline's union) stands for."""
    loader, to_type = ITEMS[row.kind]
    return to_type(await info.context.loader(loader).load(row.id))
