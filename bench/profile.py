"""Profile one scenario's request inside this process (no HTTP, no load generator):
`python -m bench.profile a --repeat 50` against the harness's database (bench/.data),
printing cProfile's most expensive functions. The database must hold a data set (run
`make bench` or `python -m bench.run` first)."""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import secrets
import time

import httpx

from bench import scenarios
from bench.generate import loaded_shape
from bench.run import Target, authorised, database, tokens


async def measure(url: str, key: str, repeat: int, sort: str, limit: int, plain: bool = False,
                  callers: str | None = None) -> None:
    from core.settings import Settings
    from models import Database
    from server import create_app

    target = Target(url)
    shape = await loaded_shape(target.asyncpg_dsn)
    if shape is None:
        raise SystemExit("no benchmark data set in this database: run `python -m bench.run` first")
    secret_key = secrets.token_urlsafe(32)
    admin, partners = tokens(secret_key, shape)
    chosen = {s.key: s for s in scenarios.reads(shape)}[key]
    requests = authorised(chosen, admin, partners)
    database = Database.from_url(url, pool_size=4)
    app = create_app(Settings(database_url=url, secret_key=secret_key, introspection=False, compiled_queries=not plain),
                     database=database)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        async def once(i: int) -> None:
            request = requests[i % len(requests)]
            response = await client.post("/graphql", content=request["body"],
                                         headers={"Content-Type": "application/json", **request["headers"]})
            assert response.status_code == 200 and "errors" not in response.json(), response.text[:300]

        for i in range(5):
            await once(i)
        started = time.perf_counter()
        for i in range(repeat):
            await once(i)
        plain = time.perf_counter() - started
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        for i in range(repeat):
            await once(i)
        profiler.disable()
        elapsed = time.perf_counter() - started
    await database.dispose()
    print(f"({key}) one at a time: {1000 * plain / repeat:.1f} ms per request; "
          f"{1000 * elapsed / repeat:.1f} ms under the profiler")
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).sort_stats(sort)
    stats.print_stats(limit)
    if callers:
        stats.print_callers(callers)
    print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("scenario", choices=["a", "a'", "a+", "b", "b'", "c"])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--sort", default="tottime", help="cProfile sort key (tottime, cumulative)")
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--plain", action="store_true", help="without the compiled read path")
    parser.add_argument("--callers", help="also print who calls the functions matching this regular expression")
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with database(args.database_url) as (target, _):
        asyncio.run(measure(target.sqlalchemy_url, args.scenario, args.repeat, args.sort, args.limit, args.plain,
                            args.callers))


if __name__ == "__main__":
    main()
