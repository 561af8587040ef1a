"""The database handle a process (or a test) shares: engine, sessions, readiness."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
from sqlalchemy import Executable, text
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import greenlet_spawn


def redact_url(url: str) -> str:
    """The URL with its password replaced by ***, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown by its scheme only
        return url.split(":", 1)[0] + "://…"


def create_engine(url: str, *, pool_size: int = 20, max_overflow: int = 10, work_mem: str = "32MB") -> AsyncEngine:
    return create_async_engine(
        url,
        # The pool must hold the connections a worker uses at once in steady load:
        # SQLAlchemy closes an overflow connection as soon as it is returned, so a load
        # above pool_size opens (PostgreSQL forks a backend) and closes a connection and
        # re-prepares its statements on nearly every request. With 16 clients on a pool
        # of 10 that halved the customer-detail throughput and tripled its p99.
        # Overflow is for bursts only.
        pool_size=pool_size,
        max_overflow=max_overflow,
        # No pre-ping: with asyncpg it costs three round trips (BEGIN, ping, ROLLBACK) on
        # every checkout, several per request. A connection found dead instead fails its
        # statement as a disconnect, which marks every connection older than it for
        # replacement, so the service still recovers by itself when the database returns
        # (tests/test_service_process.py takes PostgreSQL away under a running server).
        pool_pre_ping=False,
        pool_recycle=1800,
        # work_mem: the analytics sort and aggregate every customer; at PostgreSQL's 4 MB
        # default their sorts spill to disk on 100,000 customers (issue [5/6]'s figures).
        connect_args={"timeout": 5, "command_timeout": 30, "server_settings": {"work_mem": work_mem}},
    )


class DriverStatement:
    """A Core statement compiled once to asyncpg's SQL, run on the driver's connection
    itself: for the hottest reads, where SQLAlchemy's per-execution work (compiled-cache
    lookup, greenlet hop, cursor and result adaptation) cost more than PostgreSQL's.
    Only for statements whose columns need no result processing (plain numbers, text,
    timestamps, arrays); values bound at build time (literals) are kept."""

    _dialect = PGDialect_asyncpg()

    def __init__(self, statement: Executable) -> None:
        compiled = statement.compile(dialect=self._dialect)
        self.sql = compiled.string
        self._names = tuple(compiled.positiontup or ())
        self._defaults = dict(compiled.params)

    def arguments(self, values: dict[str, object]) -> list[object]:
        merged = {**self._defaults, **values}
        return [merged[name] for name in self._names]

    async def fetch(self, db: AsyncSession | AsyncConnection, values: dict[str, object]) -> list[asyncpg.Record]:
        """The rows, on the connection `db` works on (inside its transaction, if any)."""
        return await (await driver_of(db)).fetch(self.sql, *self.arguments(values))


async def driver_of(db: AsyncSession | AsyncConnection) -> asyncpg.Connection:
    connection = await db.connection() if isinstance(db, AsyncSession) else db
    return (await connection.get_raw_connection()).driver_connection


class Database:
    """Hands out short sessions. One per mutation, one per loader batch; never shared
    between fields that resolve concurrently."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        # Reads in autocommit: under READ COMMITTED every statement takes its own snapshot
        # anyway, and BEGIN and ROLLBACK are two round trips per loader batch saved.
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._read_sessions = async_sessionmaker(self._autocommit, expire_on_commit=False)
        self._serialise: contextlib.AbstractAsyncContextManager = contextlib.nullcontext()
        self._bound: AsyncConnection | None = None

    @classmethod
    def from_url(cls, url: str, *, pool_size: int = 20, max_overflow: int = 10, work_mem: str = "32MB") -> Database:
        return cls(create_engine(url, pool_size=pool_size, max_overflow=max_overflow, work_mem=work_mem))

    @classmethod
    def bound_to(cls, connection: AsyncConnection) -> Database:
        """Sessions that live inside an outer transaction on one connection (tests).

        Each session works in a SAVEPOINT of that transaction. Sessions are serialised:
        PostgreSQL releases later savepoints with an earlier one, so two sessions open at
        once on one connection would release each other's.
        """
        database = cls(connection.engine)
        database._sessions = async_sessionmaker(
            bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        database._read_sessions = database._sessions
        database._serialise = asyncio.Lock()
        database._bound = connection
        return database

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self._serialise, self._sessions() as session:
            yield session

    @contextlib.asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        """A session for reading only (loaders, list pages, counts): no transaction.
        Never write in it: each statement would commit on its own."""
        async with self._serialise, self._read_sessions() as session:
            yield session

    @contextlib.asynccontextmanager
    async def read_connection(self) -> AsyncIterator[AsyncConnection]:
        """A Core connection for reads only (a partner's tier screen runs its
        `DriverStatement`s on it, and reads a rule version's tiers the first time): no ORM
        session, no transaction, like `read_session`."""
        async with self._serialise:
            if self._bound is not None:  # tests: inside the outer transaction
                yield self._bound
                return
            async with self._autocommit.connect() as connection:
                yield connection

    @contextlib.asynccontextmanager
    async def driver_connection(self) -> AsyncIterator[asyncpg.Connection]:
        """The pool's asyncpg connection itself, for one read whose SQL text is complete
        (engine/sql/): SQLAlchemy's execution layer (greenlet hop, execution
        context, cursor adapter) cost more than the rest of a cached read's database
        work. No transaction is begun, so each statement is its own, as in
        `read_connection`. A connection that fails is discarded; a statement that fails
        leaves it in the pool."""
        async with self._serialise:
            if self._bound is not None:  # tests: inside the outer transaction
                yield (await self._bound.get_raw_connection()).driver_connection
                return
            fairy = await self._autocommit.raw_connection()
            try:
                yield fairy.driver_connection
            except asyncpg.PostgresError:
                if fairy.driver_connection.is_closed():  # e.g. the server shut down
                    fairy.invalidate()
                raise
            except BaseException:
                # Lost connection, cancelled request, anything else: the connection's state
                # is unknown, so the pool makes a new one.
                fairy.invalidate()
                raise
            finally:
                await greenlet_spawn(fairy.close)

    async def ping(self) -> bool:
        """True when the database answers a trivial query within a few seconds."""
        try:
            async with asyncio.timeout(3), self.session() as session:
                await session.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    async def dispose(self) -> None:
        await self.engine.dispose()
