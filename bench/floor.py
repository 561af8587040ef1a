"""The SQL floor: the statements our server issues for one request, replayed by pgbench.

The statements are captured from the real application (in this process, through the
ASGI app, with SQLAlchemy's `before_cursor_execute` and, for what the single-statement
path sends on the driver's connection itself, asyncpg's query logger), their parameters written in as
literals, and the lot becomes one pgbench transaction: its transactions per second are
the requests per second a server would reach if GraphQL, Python and HTTP cost nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import httpx
from sqlalchemy import event

from core.settings import Settings
from models import Database


def literal(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, Decimal)):
        return str(value)
    if isinstance(value, (datetime, date)):
        return literal(value.isoformat())
    if isinstance(value, (list, tuple)):
        return "ARRAY[" + ", ".join(literal(v) for v in value) + "]" if value else "'{}'"
    if isinstance(value, dict):
        return literal(json.dumps(value))
    text = str(value).replace("'", "''")
    if ":" in text:
        # pgbench reads `:name` as one of its variables, even inside a string literal;
        # an escape string spells the colon without writing it.
        return "E'" + text.replace("\\", "\\\\").replace(":", "\\x3a") + "'"
    return "'" + text + "'"


def with_literals(statement: str, parameters) -> str:
    if isinstance(parameters, dict):
        raise ValueError("named parameters are not expected from the asyncpg dialect")
    values = list(parameters or ())
    return re.sub(r"\$(\d+)", lambda m: literal(values[int(m.group(1)) - 1]), statement)


async def capture(database_url: str, body: str, headers: dict[str, str], secret_key: str,
                  warm: list[str] | None = None) -> list[str]:
    """The statements (with literals) that one request makes our application send, after
    the `warm` requests (default: `body` three times; a mutation that must not be a replay
    passes others)."""
    from server import create_app

    database = Database.from_url(database_url, pool_size=2)
    settings = Settings(database_url=database_url, secret_key=secret_key, introspection=False)
    captured: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        captured.append(with_literals(statement, parameters))

    def record_driver(query) -> None:
        if not re.search(r"pg_catalog\.pg_type|set_config\('jit'", query.query):  # asyncpg's type lookups
            captured.append(with_literals(query.query, query.args))

    logged: list = []

    def log_driver(dbapi_connection, connection_record, connection_proxy) -> None:
        # asyncpg logs what is executed on the connection directly, not SQLAlchemy's
        # prepared statements, so nothing is captured twice.
        dbapi_connection.driver_connection.add_query_logger(record_driver)
        logged.append(dbapi_connection.driver_connection)

    app = create_app(settings, database=database)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
            # The first requests warm caches (the schema check, prepared statements, the
            # engine learning the document and which columns its Python fields' rows
            # carry, engine/sql/carry.py); the next is the one recorded, as under load.
            for warming in [body] * 3 if warm is None else warm:
                await client.post("/graphql", content=warming, headers={"Content-Type": "application/json", **headers})
            event.listen(database.engine.sync_engine, "before_cursor_execute", record)
            event.listen(database.engine.sync_engine.pool, "checkout", log_driver)
            response = await client.post("/graphql", content=body, headers={"Content-Type": "application/json", **headers})
            await asyncio.sleep(0)  # asyncpg hands its log records over with call_soon
            event.remove(database.engine.sync_engine, "before_cursor_execute", record)
            event.remove(database.engine.sync_engine.pool, "checkout", log_driver)
            for connection in logged:
                connection.remove_query_logger(record_driver)
            answer = response.json()
            if response.status_code != 200 or answer.get("errors"):
                raise RuntimeError(f"capturing the floor, the request failed: {response.status_code} {response.text[:300]}")
    finally:
        await database.dispose()
    return captured


def pgbench_script(statements: list[str]) -> str:
    """One pgbench transaction; each statement on one line (pgbench reads `;`-ended
    commands, and `::` casts pass through its variable syntax untouched)."""
    return "".join(" ".join(s.split()).rstrip(";") + ";\n" for s in statements)


def run_pgbench(pgbench: Path, libpq_args: list[str], script: Path, *, clients: int, seconds: float,
                env: dict[str, str] | None = None) -> dict:
    command = [str(pgbench), *libpq_args, "-n", "-M", "prepared", "-f", str(script), "-c", str(clients),
               "-j", str(min(clients, 2)), "-T", str(max(1, round(seconds)))]
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120, env={**os.environ, **(env or {})})
    if result.returncode != 0:
        raise RuntimeError(f"pgbench failed: {result.stderr[-600:]}")
    tps = re.search(r"tps = ([\d.]+)", result.stdout)
    latency = re.search(r"latency average = ([\d.]+) ms", result.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", result.stdout)
    return {"rps": float(tps.group(1)) if tps else 0.0,
            "latency_avg_ms": float(latency.group(1)) if latency else None,
            "errors": int(failed.group(1)) if failed else 0}
