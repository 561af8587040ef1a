"""The event feed: `events(after:, types:, first:)`, the outbox's events in feed order
(events.outbox: `advance` numbers what committed, `page` reads by number), through the caller's row scope
(resolvers/scoping.py: a partner reads the events of its own account)."""

from __future__ import annotations

from typing import Annotated

import strawberry
from sqlalchemy import select
from strawberry.types import Info

from events.catalogue import CATALOGUE
from events.outbox import Position, advance, page, position_of
from kernel.pagination import BIGINT_KEY, Ordering, PaginationError, SortKey, decode_cursor, encode_cursor
from models import Event
from resolvers.errors import ApiError, ErrorCode
from resolvers.ids import parse_global_id
from resolvers.scoping import row_scope
from schema.events import EventPage, EventType
from schema.permissions import AnyRole, guarded_field

MAX_PAGE, DEFAULT_PAGE = 100, 20
# The feed's position (transaction, id) as a cursor of the project's kind.
FEED = Ordering(name="events", keys=[SortKey(Event.position, **BIGINT_KEY)], values_of=lambda p: (p.value,))  # of a Position


def _cursor(position: Position) -> str:
    return encode_cursor(FEED, position)


def _bad(message: str, argument: str) -> ApiError:
    return ApiError(ErrorCode.BAD_USER_INPUT, message, argument=argument)


def check_types(types: list[str] | None) -> None:
    """An empty list or an unknown event type is refused (BAD_USER_INPUT), never silently
    read as all or matched by none."""
    if types is not None and not types:
        raise _bad("`types` is empty: name at least one type, or leave it out for every type.", "types")
    unknown = sorted(set(types or ()) - set(CATALOGUE))
    if unknown:
        raise _bad(f"Unknown event types: {', '.join(unknown)[:300]} (docs/events.md lists the types).", "types")


async def resume_after(database, session, after: str | None, scope) -> Position | None:
    """A page's cursor, or the global ID of an event the caller reads (resume after the
    last one processed); anything else is BAD_USER_INPUT."""
    if after is None:
        return None
    parsed = parse_global_id(after)
    if parsed is not None and parsed[0] == "Event":
        lookup = select(Event.position).where(Event.id == parsed[1], scope)
        found = (await session.execute(lookup)).first()
        if found is None:
            raise _bad("`after` names no event you can read.", "after")
        if found[0] is None:  # it committed after this request numbered the feed
            await advance(database)
            found = (await session.execute(lookup)).first()
        return Position(found[0])
    try:
        return Position(*decode_cursor(FEED, after, "after"))
    except PaginationError:
        raise _bad("`after` is neither a cursor of the event feed nor an event's ID.", "after") from None


@strawberry.type
class EventQueries:
    @guarded_field(description="The event feed, oldest first: the events after `after` (a page's `endCursor`, or the "
                   "`id` of the last event processed), of the given `types` (all when omitted; an empty list or an unknown type is "
                   "refused, docs/events.md lists them), `first` at a time (0..100, default 20). An event appears once "
                   "its transaction has committed, after every event already in the feed, so paging never skips one "
                   "and one object's events come in the order they happened (their `sequence`). Staff read every "
                   "event; a partner those of its own account.", permissions=[AnyRole])
    async def events(
        self, info: Info, after: str | None = None,
        types: Annotated[list[str] | None, strawberry.argument(
            description="Only events of these types (docs/events.md); an unknown name is refused.")] = None,
        first: int | None = None,
    ) -> EventPage:
        size = DEFAULT_PAGE if first is None else first
        if not 0 <= size <= MAX_PAGE:
            raise _bad(f"`first` is 0..{MAX_PAGE}.", "first")
        check_types(types)
        scope = row_scope("Event", info.context.principal)
        await advance(info.context.database)
        async with info.context.database.read_session() as session:
            start = await resume_after(info.context.database, session, after, scope)
            rows = await page(session, after=start, limit=size + 1, types=types, where=scope)
        shown = rows[:size]
        end = position_of(shown[-1]) if shown else start
        return EventPage(events=[EventType.from_row(row) for row in shown],
                         end_cursor=_cursor(end) if end is not None else None, has_next_page=len(rows) > size)
