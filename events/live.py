"""Live events for subscriptions: one hub per process fans the outbox out to the
process's subscribers. GraphQL-free: a subscriber is a filter and a bounded queue.

The hub holds one LISTEN connection (`crm_events`, NOTIFYed by every transaction that
writes events, at its commit). On a notification, and every `poll_seconds` as a safety
net for a lost one, it reads the new events once, in feed order
(events.outbox.advance, then page), and hands each to the subscribers whose filter takes it. The
outbox stays the source of truth: the hub only remembers the position it has read up
to, so after losing its connection (a database restart, a terminated backend) it
reconnects and reads on from there, and nothing committed meanwhile is missed.

A subscriber starts at a position (the event it last processed, or the end of the feed)
and reads what came since from the table itself, in pages, before it takes what the
hub pushes; it registers with the hub first, so an event is either in its catch-up or in
its queue, and it drops what it has passed already (positions only grow), so there is
no gap and no duplicate. A queue holds at most `queue_size` events: a subscriber that
falls that far behind is dropped (`on_overflow`) rather than buffered without end, and
can resume from its last event.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import asyncpg
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from events.outbox import CHANNEL, Position, advance, page, position_of
from models import Database, Event

log = logging.getLogger("crm.live")

__all__ = ["Hub", "Subscriber", "latest_position", "stopped"]

# The feed's end: the last position the sequencer gave (events.outbox.advance).
_LATEST = select(Event.position).where(Event.position.is_not(None)).order_by(Event.position.desc()).limit(1)
# What a lost or refused database connection raises, through SQLAlchemy or asyncpg.
LOST = (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, DBAPIError, InterfaceError,
        OperationalError)


async def latest_position(database: Database) -> Position | None:
    """The position of the feed's last event (None: no event yet): reading on after it
    gives exactly what is committed from now on."""
    await advance(database)
    async with database.read_session() as session:
        found = (await session.execute(_LATEST)).first()
    return Position(*found) if found is not None else None


async def stopped(task: asyncio.Task | None) -> None:
    """Cancels a background loop and waits for it; how it ended is no longer anyone's concern."""
    if task is not None:
        task.cancel()
        try:
            await task
        except (asyncio.CancelledError, Exception):
            pass


class Subscriber:
    """One subscription's filter, queue and position. Iterate `events()`."""

    def __init__(self, hub: Hub, *, after: Position | None, types: Sequence[str] | None, where: Any,
                 accepts: Callable[[Event], bool], on_overflow: Callable[[], None], resume: bool) -> None:
        self.hub = hub
        self.cursor = after
        self.types = frozenset(types or ())
        self.where = where  # the caller's row scope, for reading the table
        self.accepts = accepts  # the same scope over a row in memory, for what the hub pushes
        self.on_overflow = on_overflow
        self.resume = resume  # False: start at the end of the feed
        self.queue: deque[Event] = deque()
        self.ready = asyncio.Event()
        self.dropped = False

    def takes(self, row: Event) -> bool:
        return (not self.types or row.type in self.types) and self.accepts(row)

    def offer(self, rows: list[Event]) -> bool:
        """Queues what the filter takes; False (and dropped) when it does not fit."""
        taken = [row for row in rows if self.takes(row)]
        if not taken:
            return True
        if len(self.queue) + len(taken) > self.hub.queue_size:
            self.dropped = True
            self.queue.clear()
            self.ready.set()
            return False
        self.queue.extend(taken)
        self.ready.set()
        return True

    async def _catch_up(self) -> AsyncIterator[Event]:
        while True:
            await advance(self.hub.database)
            async with self.hub.database.read_session() as session:
                rows = await page(session, after=self.cursor, limit=self.hub.batch, types=sorted(self.types) or None,
                                  where=self.where)
            for row in rows:
                self.cursor = position_of(row)
                yield row
            if len(rows) < self.hub.batch:
                return

    async def events(self) -> AsyncIterator[Event]:
        """What the filter takes after the start, in feed order, until closed; stops
        (returns) when the subscriber was dropped for falling behind."""
        await self.hub.add(self)
        try:
            if not self.resume:
                self.cursor = await latest_position(self.hub.database)
            async for row in self._catch_up():
                yield row
            while not self.dropped:
                while self.queue and not self.dropped:
                    row = self.queue.popleft()
                    if self.cursor is None or position_of(row) > self.cursor:
                        self.cursor = position_of(row)
                        yield row
                if self.dropped:
                    break
                self.ready.clear()
                await self.ready.wait()
        finally:
            self.hub.remove(self)


class Hub:
    """The process's LISTEN connection and its subscribers (module docstring)."""

    def __init__(self, database: Database, dsn: str, *, poll_seconds: float = 2.0, queue_size: int = 1000,
                 batch: int = 100) -> None:
        self.database = database
        self.dsn = dsn
        self.poll_seconds = poll_seconds
        self.queue_size = queue_size
        self.batch = batch
        self.subscribers: set[Subscriber] = set()
        self.head: Position | None = None  # read up to here (None: not yet known)
        self.reads = 0  # pages read, for the tests and the logs
        self.reconnects = 0
        self._wake = asyncio.Event()
        self._starting = asyncio.Lock()
        self._listener: asyncpg.Connection | None = None
        self._task: asyncio.Task | None = None

    def subscribe(self, **filters: Any) -> Subscriber:
        return Subscriber(self, **filters)

    async def add(self, subscriber: Subscriber) -> None:
        # The hub's start is known before anyone registers: an event placed in the feed
        # before it is in every later subscriber's catch-up, one placed after it reaches
        # their queues.
        async with self._starting:
            if self.head is None:
                self.head = await latest_position(self.database) or Position(0)
        self.subscribers.add(subscriber)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="crm-live-hub")

    def remove(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)

    async def stop(self) -> None:
        await stopped(self._task)
        await self._close_listener()

    async def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None and not listener.is_closed():
            try:
                await asyncio.wait_for(listener.close(), 2)
            except (*LOST, RuntimeError):
                listener.terminate()

    def _notified(self, *_: Any) -> None:
        self._wake.set()

    def _lost(self, *_: Any) -> None:
        self._wake.set()  # the loop sees the closed connection and reconnects

    async def _listen(self) -> None:
        listener = await asyncpg.connect(self.dsn, timeout=10, server_settings={"application_name": "crm-live-hub"})
        listener.add_termination_listener(self._lost)
        await listener.add_listener(CHANNEL, self._notified)
        self._listener = listener

    async def _run(self) -> None:
        backoff = 0.2
        while True:
            try:
                if self._listener is None or self._listener.is_closed():
                    if self._listener is not None:
                        self.reconnects += 1
                        log.warning("live events: the LISTEN connection was lost; reconnecting")
                    await self._close_listener()
                    await self._listen()
                # After (re)connecting a read is due anyway: what committed while nobody
                # listened has no notification left to wake us.
                await self._read()
                backoff = 0.2
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
                except asyncio.TimeoutError:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if isinstance(error, LOST):
                    log.warning("live events: database unavailable (%s); retrying in %.1fs", type(error).__name__, backoff)
                else:
                    log.exception("live events: the hub failed; retrying in %.1fs", backoff)
                await self._close_listener()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, max(self.poll_seconds, 0.2))

    async def _read(self) -> None:
        while True:
            await advance(self.database)
            async with self.database.read_session() as session:
                rows = await page(session, after=self.head, limit=self.batch, everyone=True)
            self.reads += 1
            if rows:
                self.head = position_of(rows[-1])
                for subscriber in list(self.subscribers):
                    if not subscriber.offer(rows):
                        self.subscribers.discard(subscriber)
                        log.warning("live events: dropped a subscriber more than %d events behind", self.queue_size)
                        subscriber.on_overflow()
            if len(rows) < self.batch:
                return
            await asyncio.sleep(0)  # let the subscribers send before the next page
