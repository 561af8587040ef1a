"""What one statement costs through each layer, on the harness's database:
`python -m bench.overhead` (run `make bench` first). Raw asyncpg, a SQLAlchemy session
reused, a new session per statement (checkout, BEGIN, statement, ROLLBACK), and a page of
51 customers as raw records, Core rows and ORM instances."""

from __future__ import annotations

import asyncio
import time

import asyncpg
from sqlalchemy import select, text

from bench.run import Target, database
from models import Customer, Database


async def _timed(label: str, runs: int, once) -> None:
    await once()
    started = time.perf_counter()
    for _ in range(runs):
        await once()
    print(f"{label:58} {(time.perf_counter() - started) / runs * 1000:7.3f} ms")


async def measure(url: str, runs: int = 200) -> None:
    database = Database.from_url(url)
    page = select(Customer).order_by(Customer.name, Customer.id).limit(51)
    core_page = select(*Customer.__table__.columns).order_by(Customer.name, Customer.id).limit(51)
    raw = await asyncpg.connect(Target(url).asyncpg_dsn)
    try:
        await _timed("raw asyncpg: SELECT 1", runs, lambda: raw.fetchval("SELECT 1"))
        async with database.session() as session:
            await _timed("SQLAlchemy, one session: SELECT 1", runs, lambda: session.execute(text("SELECT 1")))

            async def orm():
                return (await session.execute(page)).scalars().all()

            async def core():
                return (await session.execute(core_page)).all()

            await _timed("SQLAlchemy, one session: 51 customers as ORM instances", runs // 4, orm)
            await _timed("SQLAlchemy, one session: 51 customers as Core rows", runs // 4, core)

        async def fresh():
            async with database.session() as session:
                await session.execute(text("SELECT 1"))

        async def fresh_read():
            async with database.read_session() as session:
                await session.execute(text("SELECT 1"))

        await _timed("SQLAlchemy, new session (transaction): SELECT 1", runs, fresh)
        await _timed("SQLAlchemy, new read session (autocommit): SELECT 1", runs, fresh_read)
        await _timed("raw asyncpg: 51 customers", runs // 4,
                     lambda: raw.fetch("SELECT * FROM customer ORDER BY name, id LIMIT 51"))
    finally:
        await raw.close()
        await database.dispose()


def main() -> None:
    with database() as (target, _):
        asyncio.run(measure(target.sqlalchemy_url))


if __name__ == "__main__":
    main()
