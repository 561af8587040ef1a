"""Subscriptions: the caller's own events pushed as they commit, over graphql-transport-ws
on /graphql (resolvers/websocket.py; docs/subscriptions.md). The events are the feed's
(resolvers/events.py): the same Event type, row scope (ROW_SCOPES["Event"]), type check
and `after:`; the process's hub (events/live.py) hands them over."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated

import strawberry
from strawberry.types import Info

from events.catalogue import CATALOGUE
from models import Event
from resolvers.errors import ApiError, ErrorCode
from resolvers.events import check_types, resume_after
from resolvers.ids import parse_global_id
from resolvers.scoping import row_scope, row_visible
from schema.events import EventType
from schema.memberships import MembershipType
from schema.permissions import AnyRole, Partners, guarded_subscription
from schema.subscriptions import MembershipChangeType

# The events of a membership: its tier, its fees, its benefit quotas (docs/events.md).
MEMBERSHIP_TYPES = sorted(kind.name for kind in CATALOGUE.values() if kind.aggregate == "Membership")
CLOSE_BEHIND = 4413  # the subscriber fell more than CRM_SUBSCRIPTION_QUEUE events behind


async def _stream(info: Info, *, types: list[str] | None, after: str | None) -> AsyncIterator[Event]:
    """The caller's events as the hub hands them over. Checked here, before the stream
    starts, so a bad argument is the operation's `error` message, not a pushed result."""
    live = info.context.live
    if live is None:
        raise ApiError(ErrorCode.BAD_REQUEST, "Subscriptions are served over a WebSocket on /graphql "
                       "(graphql-transport-ws; docs/subscriptions.md).")
    principal = info.context.principal
    scope = row_scope("Event", principal)
    async with info.context.database.read_session() as session:
        start = await resume_after(info.context.database, session, after, scope)
    subscriber = live.hub.subscribe(
        after=start, types=types, where=scope, accepts=lambda row: row_visible("Event", principal, row),
        on_overflow=lambda: live.close(CLOSE_BEHIND, "Too slow: more events waiting than the queue holds; "
                                       "resume with after: the last event's id"),
        resume=after is not None)

    async def rows() -> AsyncIterator[Event]:
        async for row in subscriber.events():
            info.context.fresh_loaders()  # each push is resolved like a request of its own
            yield row

    return rows()


async def membership_now(info: Info, programme: str | None) -> MembershipType | None:
    """The caller's membership of the programme as it stands now (myMembership's view)."""
    from resolvers.memberships import _view_of

    parsed = parse_global_id(programme) if programme else None
    account = info.context.principal.account_id
    if parsed is None or parsed[0] != "Programme" or account is None:
        return None
    return await _view_of(info, account, parsed[1], None)


@strawberry.type
class EventSubscriptions:
    @guarded_subscription(description="The event feed, live: the events after `after` (the `id` of the last event "
                          "processed, or a feed cursor: what committed since is pushed first, with no gap and no "
                          "duplicate; omitted: from now on), of the given `types` (all when omitted; an unknown type is "
                          "refused, docs/events.md lists them), each pushed once committed and given its place in the feed, "
                          "in feed order. Staff receive every event; a partner those of its own account. "
                          "Over graphql-transport-ws only (docs/subscriptions.md).", permissions=[AnyRole])
    async def events(
        self, info: Info,
        types: Annotated[list[str] | None, strawberry.argument(
            description="Only events of these types (docs/events.md); an unknown name is refused.")] = None,
        after: Annotated[str | None, strawberry.argument(
            description="Resume after this event (its `id`) or feed cursor.")] = None,
    ) -> AsyncGenerator[EventType, None]:
        check_types(types)
        rows = await _stream(info, types=types, after=after)
        return (EventType.from_row(row) async for row in rows)

    @guarded_subscription(description="The caller's own membership, live: every event of its memberships (tier "
                          "changes with their explanation, fees, lapses, benefit quotas), after `after` (an event's "
                          "`id`, as for `events`) or from now on.", permissions=[Partners])
    async def my_membership_changed(
        self, info: Info,
        after: Annotated[str | None, strawberry.argument(
            description="Resume after this event (its `id`) or feed cursor.")] = None,
    ) -> AsyncGenerator[MembershipChangeType, None]:
        if info.context.principal.account_id is None:
            raise ApiError(ErrorCode.FORBIDDEN, "Only partner users have a membership of their own.")
        rows = await _stream(info, types=MEMBERSHIP_TYPES, after=after)
        return (MembershipChangeType.of(row) async for row in rows)
