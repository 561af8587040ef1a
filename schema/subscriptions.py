"""Subscriptions over GraphQL: what a partner's membership subscription pushes. The
events themselves are the feed's Event type (schema/events.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from events.catalogue import CATALOGUE
from events.memberships import TierChanged
from models import Event
from schema.events import EventType

if TYPE_CHECKING:
    from schema.memberships import MembershipType


@strawberry.type(name="MembershipChange", description="Something that changed in the caller's own membership: an "
                 "event of its membership (membership.*, tier.*, quota.*; docs/events.md), with what its payload says "
                 "of the tier. `membership` is the membership as it stands when the change is pushed.")
class MembershipChangeType:
    event: EventType = strawberry.field(description="The event; its `id` resumes the subscription after it "
                                        "(`after:`).")
    change: str = strawberry.field(description="What changed: the event type, e.g. tier.promoted.")
    from_tier: str | None = strawberry.field(description="The tier code before a tier change (null: none, or not a "
                                             "tier event).")
    to_tier: str | None = strawberry.field(description="The tier code in force after a tier change (null: none, or "
                                           "not a tier event).")
    from_rank: int | None = strawberry.field(description="The rank before a tier change (0: no tier).")
    to_rank: int | None = strawberry.field(description="The rank in force after a tier change (0: no tier).")
    explanation: JSON | None = strawberry.field(description="Why, as the tier event explains it (the entries that "
                                                "counted, the rule, the window); null for other events.")
    _programme: strawberry.Private[str | None]

    @strawberry.field(description="The membership now, with its tier in force (null once it is gone).")
    async def membership(self, info: Info) -> Annotated[
            MembershipType, strawberry.lazy("schema.memberships")] | None:
        from resolvers.subscriptions import membership_now

        return await membership_now(info, self._programme)

    @classmethod
    def of(cls, row: Event) -> MembershipChangeType:
        data = row.payload
        tier_event = issubclass(CATALOGUE[row.type].payload, TierChanged)
        return cls(event=EventType.from_row(row), change=row.type,
                   from_tier=data.get("fromTier") if tier_event else None,
                   to_tier=data.get("toTier") if tier_event else None,
                   from_rank=data.get("fromRank") if tier_event else None,
                   to_rank=data.get("toRank") if tier_event else None,
                   explanation=data.get("explanation") if tier_event else None,
                   _programme=data.get("programme"))
