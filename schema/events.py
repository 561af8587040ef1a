"""Events over GraphQL: one event of the outbox as the feed publishes it (events.catalogue
declares each type's payload; docs/events.md lists them)."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from kernel.references import global_id as to_global_id
from models import Event
from schema.fields import column, global_id
from schema.node import NODE_TYPES, Node


@strawberry.type(name="Event", description="Something that happened, written in the transaction that made it happen. "
                 "`data` is the payload of its type (docs/events/<type>.json); the same event, with the same `id`, "
                 "is what webhooks deliver (webhook-id) and subscriptions push.")
class EventType(Node):
    id: strawberry.ID = global_id("Event", description="The event's stable ID; pass it as `events(after:)` to resume "
                                  "after it.")
    type: str = column("type", description="The event type, e.g. tier.promoted (docs/events.md).")
    version: int = column("version", description="The version of the type's payload.")
    occurred_at: datetime = column("occurred_at", description="When it happened in the domain.")
    recorded_at: datetime = column("recorded_at", description="When it was written.")
    sequence: int = column("sequence", description="1, 2, ... per aggregate, in commit order.")
    data: JSON = column("payload", description="The payload: IDs as global IDs, money as exact decimal strings beside "
                        "their currency, instants with their offset.")
    _row: strawberry.Private[Event]

    @strawberry.field(description="The global ID of the object the event is about (its aggregate).")
    def aggregate_id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id(self._row.aggregate_type, self._row.aggregate_id))


NODE_TYPES["Event"] = EventType.from_row


@strawberry.type(description="A page of the event feed, oldest first.")
class EventPage:
    events: list[EventType] = strawberry.field(description="The events of this page, in feed order.")
    end_cursor: str | None = strawberry.field(description="Pass as `after` for the events that follow (also when this "
                                              "page is empty: the position to poll from); null when the page is empty and no `after` was given.")
    has_next_page: bool = strawberry.field(description="More events follow this page now.")
