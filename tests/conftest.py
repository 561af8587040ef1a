"""Test infrastructure: a real PostgreSQL, migrated once, one rolled-back transaction per test.

Database: TEST_DATABASE_URL or DATABASE_URL when set (a fresh database is created on that
server and dropped afterwards), else a throwaway embedded PostgreSQL for the session.
Every test runs inside an outer transaction that is rolled back; the app's sessions work
in SAVEPOINTs of it (models.Database.bound_to).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from core.settings import Settings
from crm.auth import Principal, Role, issue_token
from models import Database
from models.migrations import upgrade
from server import create_app

TEST_SECRET_KEY = "test-secret-key-of-sufficient-length-for-hs256"
ADMIN = Principal(subject="admin@test", role=Role.ADMIN)


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """URL of a server we may create databases on (its `postgres` maintenance database)."""
    configured = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if configured:
        yield configured
        return
    from core.embedded_postgres import EmbeddedPostgres

    data_dir = Path(tempfile.mkdtemp(prefix="crm-test-pg-"))
    embedded = EmbeddedPostgres(data_dir)
    embedded.start()
    try:
        yield embedded.url("postgres")
    finally:
        embedded.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new empty database on the server for as long as the block runs."""
    name = f"crm_test_{uuid.uuid4().hex[:12]}"
    admin_dsn = _asyncpg_dsn(server_url)

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def database_url(postgres_server_url: str) -> Iterator[str]:
    """The session's test database, migrated once with Alembic (so migrations are tested)."""
    with fresh_database(postgres_server_url) as url:
        upgrade(url)
        yield url


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url, pool_size=5)
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as connection:
        transaction = await connection.begin()
        try:
            yield connection
        finally:
            await transaction.rollback()


@pytest.fixture
def database(connection: AsyncConnection) -> Database:
    return Database.bound_to(connection)


@pytest.fixture
def settings() -> Settings:
    return Settings(secret_key=TEST_SECRET_KEY, graphiql=True)


@pytest.fixture
def app(settings: Settings, database: Database):
    return create_app(settings, database=database)


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def committed_database(database_url: str, settings: Settings, engine: AsyncEngine) -> AsyncIterator[Database]:
    """A database on a real connection pool whose transactions commit: for tests of
    concurrent transactions. Every table is emptied afterwards."""
    database = Database.from_url(database_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow)
    try:
        yield database
    finally:
        await database.dispose()
        from models import Base

        tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
        async with engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
async def committed_client(committed_database: Database, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app on a real connection pool, whose transactions commit: for tests
    of concurrent requests (committed_database)."""
    app = create_app(settings, database=committed_database)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        client.headers["Authorization"] = f"Bearer {token_for(ADMIN)}"
        yield client


def token_for(principal: Principal, *, ttl_seconds: int = 600) -> str:
    return issue_token(TEST_SECRET_KEY, principal, ttl_seconds=ttl_seconds)


@dataclass
class GraphQLResult:
    status: int
    body: dict[str, Any]
    headers: httpx.Headers

    @property
    def data(self) -> Any:
        return self.body.get("data")

    @property
    def errors(self) -> list[dict[str, Any]]:
        return self.body.get("errors") or []

    @property
    def error_codes(self) -> list[str]:
        return [e.get("extensions", {}).get("code") for e in self.errors]


@pytest.fixture
def post_graphql(client: httpx.AsyncClient):
    """post_graphql(query, variables, as_=principal): a POST /graphql as a client sends it.
    `as_=None` sends no credentials."""

    async def post(
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        as_: Principal | None = ADMIN,
        operation_name: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> GraphQLResult:
        payload: dict[str, Any] = {"query": query}
        if variables is not None:
            payload["variables"] = variables
        if operation_name is not None:
            payload["operationName"] = operation_name
        all_headers = dict(headers or {})
        if as_ is not None:
            all_headers["Authorization"] = f"Bearer {token_for(as_)}"
        response = await client.post("/graphql", json=payload, headers=all_headers)
        return GraphQLResult(response.status_code, response.json(), response.headers)

    return post


class StatementLog:
    """SQL statements the application sent, without the tests' own SAVEPOINT bookkeeping:
    those SQLAlchemy executes and those the single-statement read path sends on the
    driver's connection itself (models.Database.driver_connection)."""

    _bookkeeping = re.compile(r"^\s*(SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT)\b", re.I)

    def __init__(self) -> None:
        self.statements: list[str] = []

    def record(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self._add(statement)

    # asyncpg's own lookups of a type it meets for the first time on a connection (with
    # JIT switched off around them): driver bookkeeping, once per connection.
    _introspection = re.compile(r"pg_catalog\.pg_type|set_config\('jit'")

    def record_driver(self, query: asyncpg.connection.LoggedQuery) -> None:
        if not self._introspection.search(query.query):
            self._add(query.query)

    def _add(self, statement: str) -> None:
        if not self._bookkeeping.match(statement):
            self.statements.append(statement)

    def __len__(self) -> int:
        return len(self.statements)


@pytest.fixture
async def count_statements(engine: AsyncEngine, connection: AsyncConnection):
    """async with count_statements() as log: ...; len(log) is the number of SQL statements."""
    # SQLAlchemy's events do not see what is sent on the driver's connection directly;
    # asyncpg's query logger does (and, SQLAlchemy using prepared statements, only that).
    driver = (await connection.get_raw_connection()).driver_connection

    @contextlib.asynccontextmanager
    async def counting() -> AsyncIterator[StatementLog]:
        log = StatementLog()
        event.listen(engine.sync_engine, "before_cursor_execute", log.record)
        driver.add_query_logger(log.record_driver)
        try:
            yield log
        finally:
            await asyncio.sleep(0)  # asyncpg hands its log records over with call_soon
            event.remove(engine.sync_engine, "before_cursor_execute", log.record)
            driver.remove_query_logger(log.record_driver)

    return counting
