"""A PostgreSQL that goes away under load, or refuses for a while, is DATABASE_UNAVAILABLE.

A fast shutdown first refuses new connections with 57P03 ("the database system is shutting
down"), then ends the open ones with 57P01 or by closing their sockets; a restart or a
failover refuses with 57P03 until it accepts again. None of that is a fault of ours, so a
client must never see INTERNAL_SERVER_ERROR for it: it sees DATABASE_UNAVAILABLE and
tries again."""

from __future__ import annotations

import asyncio
import collections
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from models import Database
from models.migrations import upgrade
from schema.extensions import _database_down
from server import create_app
from tests.conftest import ADMIN, token_for
from tests.test_compiled import engine_of


def _raise(sqlstate: str) -> str:
    return f"DO $$ BEGIN RAISE EXCEPTION 'raised' USING ERRCODE = '{sqlstate}'; END $$"


@pytest.mark.parametrize("sqlstate, down", [
    ("08006", True),  # connection_failure
    ("08003", True),  # connection_does_not_exist
    ("57P01", True),  # admin_shutdown: a fast shutdown ending our session
    ("57P02", True),  # crash_shutdown
    ("57P03", True),  # cannot_connect_now: shutting down, starting up, a standby promoting
    ("53300", True),  # too_many_connections
    ("40001", False),  # serialization_failure: the transaction's, not the server's
    ("40P01", False),  # deadlock_detected
    ("57014", False),  # query_canceled: a statement timeout is the query's cost
    ("23505", False),  # unique_violation
    ("22023", False),  # invalid_parameter_value
])
async def test_errors_are_classified_by_their_sqlstate(engine, sqlstate, down):
    # The exceptions as the application meets them: raised by a real server, through
    # asyncpg and SQLAlchemy, each wrapping the one before.
    async with engine.connect() as connection:
        with pytest.raises(DBAPIError) as raised:
            await connection.execute(text(_raise(sqlstate)))
    assert getattr(raised.value.orig, "sqlstate", None) == sqlstate
    assert _database_down(raised.value) is down


def test_a_wrapped_sqlstate_decides_and_a_misused_connection_is_not_an_outage():
    import asyncpg

    closed = asyncpg.InterfaceError("cannot call Connection.fetchval(): connection is closed")
    busy = asyncpg.InterfaceError("cannot perform operation: another operation is in progress")
    assert _database_down(closed)
    assert not _database_down(busy)
    assert not _database_down(_wrapped(busy, InterfaceError))  # as SQLAlchemy raises it
    assert _database_down(_wrapped(closed, InterfaceError))
    try:
        try:
            raise asyncpg.exceptions.CannotConnectNowError("the database system is shutting down")
        except Exception as error:
            raise RuntimeError("connecting failed") from error
    except RuntimeError as wrapped:
        assert _database_down(wrapped)
    # The pool's own error for a dead socket (an OSError) has no SQLSTATE and is an outage;
    # a serialisation failure inside an OperationalError (as psycopg raises it) is not.
    assert _database_down(ConnectionRefusedError(111, "Connection refused"))
    serialisation = asyncpg.exceptions.SerializationError("could not serialize access")
    assert not _database_down(_wrapped(serialisation, OperationalError))


def _wrapped(orig: BaseException, kind: type[DBAPIError]) -> DBAPIError:
    return kind("SELECT 1", {}, orig)


# --- a real PostgreSQL stopped under load -------------------------------------------------

FAST_READ = "{ customers(first: 5) { totalCount edges { node { id name } } } }"
# No root field with a SQL form, and a fragment the plan path does not take: the normal
# path (Strawberry's resolvers and loaders).
NORMAL_READ = """{ pipeline { ...S } } fragment S on PipelineColumn { stage dealCount opportunities(first: 2) { totalCount } }"""
WRITE = """mutation($input: CustomerCreateInput!) {
  customerCreate(input: $input, allowDuplicate: true) { customer { id } errors { code } } }"""


@pytest.fixture
def own_postgres(tmp_path: Path):
    """A PostgreSQL of this test's own (the session's stays up), migrated."""
    # Imported here, as in test_service_process: pytest drops the warning filter the module
    # sets when it is first imported at collection.
    from core.embedded_postgres import EmbeddedPostgres

    servers = [EmbeddedPostgres(tmp_path / "own")]
    url = servers[0].start()
    upgrade(url)

    def restart() -> None:
        servers[-1].stop()  # lets go of the stopped one, so the next start boots it
        servers.append(EmbeddedPostgres(tmp_path / "own"))
        assert servers[-1].start() == url

    try:
        yield url, servers, restart
    finally:
        servers[-1].stop()


def fast_shutdown(server) -> None:
    """`pg_ctl stop -m fast`: new connections refused, sessions ended, no waiting for them."""
    from embedded_postgres._commands import pg_ctl

    pg_ctl(["stop", "-m", "fast", "-w"], pgdata=server.pgdata, user=server._server.system_user)


async def test_fast_shutdown_under_load_is_unavailable_never_internal(settings, own_postgres):
    url, servers, restart = own_postgres
    # A small pool under more callers than it has connections: requests wait for one, and
    # connections are made anew while the server goes down and comes back.
    database = Database.from_url(url, pool_size=3, max_overflow=2)
    app = create_app(settings, database=database)
    compiler = engine_of(app)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    answers: list[tuple[str, str, int, tuple[str, ...]]] = []  # (phase, kind, status, codes)
    phase = "up"
    seen = collections.Counter()
    changed = asyncio.Condition()

    async def call(client: httpx.AsyncClient, kind: str, n: int) -> None:
        if kind == "write":
            payload = {"query": WRITE, "variables": {"input": {"name": f"Customer {n}"}}}
        else:
            payload = {"query": FAST_READ if kind == "fast" else NORMAL_READ}
        response = await client.post("/graphql", json=payload)
        try:
            body = response.json()
        except ValueError:  # Starlette's plain-text 500
            body = {"errors": [{"extensions": {"code": f"not JSON: {response.text[:80]}"}}]}
        codes = tuple(sorted({str(e.get("extensions", {}).get("code")) for e in body.get("errors") or []}))
        if not codes and kind == "write":
            assert body["data"]["customerCreate"]["errors"] == [], body
        answers.append((phase, kind, response.status_code, codes))
        async with changed:
            seen[phase, kind, codes] += 1
            changed.notify_all()

    async def until(predicate) -> None:
        try:
            async with asyncio.timeout(120), changed:  # a safety net against a hang, not a measure
                await changed.wait_for(predicate)
        except TimeoutError:
            raise AssertionError(f"no such answers in 120 s; seen: {dict(seen)}") from None

    stopping = asyncio.Event()

    async def caller(client: httpx.AsyncClient, kind: str, number: int) -> None:
        n = 0
        while not stopping.is_set():
            n += 1
            await call(client, kind, number * 1_000_000 + n)

    kinds = ("fast", "normal", "write")
    callers: list[asyncio.Task] = []
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                 headers={"Authorization": f"Bearer {token_for(ADMIN)}"}) as client:
        try:
            await call(client, "fast", 0)  # the compiler learns the document
            callers = [asyncio.create_task(caller(client, kind, i)) for i, kind in enumerate(kinds * 3)]
            await until(lambda: all(seen["up", kind, ()] >= 3 for kind in kinds))
            assert compiler.paths["sql"] > 0  # the single-statement path is in the mix

            phase = "stopping"
            gave_up = compiler.gave_up
            await asyncio.to_thread(fast_shutdown, servers[-1])
            phase = "down"
            await until(lambda: all(seen["down", kind, ("DATABASE_UNAVAILABLE",)] >= 2 for kind in kinds))
            # The compiled path met the outage too, and handed it to the path that reports it.
            assert compiler.gave_up > gave_up

            await asyncio.to_thread(restart)
            phase = "restarted"
            await until(lambda: all(seen["restarted", kind, ()] >= 2 for kind in kinds))
        finally:
            stopping.set()
            finished = await asyncio.gather(*callers, return_exceptions=True)
            await database.dispose()
    assert not [error for error in finished if error is not None], finished

    expected = ((), ("DATABASE_UNAVAILABLE",))
    wrong = collections.Counter((p, k, s, c) for p, k, s, c in answers if s != 200 or c not in expected)
    assert not wrong, wrong
    assert {k for p, k, s, c in answers if c == ("DATABASE_UNAVAILABLE",)} == set(kinds)
    # Some answers fell in the shutdown itself (57P03 on connect, sessions ended), the
    # window that used to give INTERNAL_SERVER_ERROR, not only after the server was gone.
    assert any(p == "stopping" and c == ("DATABASE_UNAVAILABLE",) for p, k, s, c in answers)
