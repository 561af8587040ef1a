"""Webhook delivery throughput: events delivered per second to a local receiver by
`crm worker` processes (`python -m bench.webhooks`).

A database of its own (on --database-url's server, else the harness's embedded
PostgreSQL in bench/.data), one endpoint, a receiver on 127.0.0.1 in this process that
answers 204 at once, N `crm worker` processes started and listening; then EVENTS events
are committed in transactions of 500 and the clock runs until every one has been
received (or --timeout). The figure goes into docs/benchmarks.md between the markers
`<!-- events:begin -->` and `<!-- events:end -->` (bench/run.py keeps that section).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from bench.run import write_section

BEGIN, END = "<!-- events:begin -->", "<!-- events:end -->"
ROOT = Path(__file__).resolve().parent.parent


async def _run(url: str, events: int, workers: int, timeout: float, log_dir: Path) -> dict:
    from sqlalchemy import text

    from events.endpoints import create_endpoint
    from models import Database
    from tests.webhook_helpers import Receiver, emit_events

    database = Database.from_url(url, pool_size=4)
    receiver = await Receiver().start()
    processes: list[subprocess.Popen] = []
    try:
        async with database.session() as session, session.begin():
            await session.execute(text("TRUNCATE webhook_endpoint, webhook_delivery, webhook_attempt CASCADE"))
            await create_endpoint(session, account_id=None, url=receiver.url, event_types=[], allow_private=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
        env.update(DATABASE_URL=url, CRM_WEBHOOK_ALLOW_PRIVATE="1", CRM_LOG_LEVEL="warning")
        logs = [log_dir / f"webhook-worker{n}.log" for n in range(workers)]
        processes = [subprocess.Popen([sys.executable, "-m", "core.cli", "worker"], cwd=ROOT, env=env,
                                      stdout=open(path, "wb"), stderr=subprocess.STDOUT) for path in logs]
        deadline = time.monotonic() + 60
        while not all("delivering" in path.read_text(errors="replace") for path in logs):
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                raise SystemExit("a worker did not start: " + " ".join(p.read_text() for p in logs))
            await asyncio.sleep(0.1)
        started = time.monotonic()
        await emit_events(database, events, per_transaction=500)
        committed = time.monotonic() - started
        deadline = started + timeout
        while len(set(receiver.ids())) < events and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        elapsed = time.monotonic() - started
        received = Counter(receiver.ids())
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(30)
        async with database.session() as session:
            shares = sorted((await session.execute(text(
                "SELECT count(*) FROM webhook_attempt GROUP BY worker"))).scalars().all(), reverse=True)
        return {"events": events, "workers": workers, "delivered": len(received), "requests": sum(received.values()),
                "seconds": round(elapsed, 2), "commit_seconds": round(committed, 2),
                "per_second": round(len(received) / elapsed), "shares": shares, "complete": len(received) == events}
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
        await receiver.stop()
        await database.dispose()


def render(result: dict) -> str:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{os.cpu_count()} cores, {platform.platform()}"
    shares = " + ".join(f"{n:,}" for n in result["shares"])
    return "\n".join([
        BEGIN,
        "## Webhook deliveries",
        "",
        f"One run of `python -m bench.webhooks` on {when} ({machine}), written by `bench/webhooks.py`: "
        f"{result['events']:,} events committed in transactions of 500 while {result['workers']} `crm worker` processes "
        "listen, delivered to one endpoint, a receiver on 127.0.0.1 in the harness's process answering 204 at once "
        "(Standard Webhooks signatures, one connection per delivery, the attempt log written per batch). The clock "
        "runs from the first commit until every event has been received.",
        "",
        "| events | workers | delivered | requests | seconds | events/s | attempts per worker |",
        "|---:|---:|---:|---:|---:|---:|---|",
        f"| {result['events']:,} | {result['workers']} | {result['delivered']:,} | {result['requests']:,} | "
        f"{result['seconds']} | {result['per_second']:,} | {shares} |",
        END,
    ])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="a server to create the benchmark's database on (default: the "
                        "harness's embedded PostgreSQL in bench/.data)")
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=300, help="seconds at most for the deliveries")
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args(argv)

    from bench.run import companion, database
    from models.migrations import upgrade

    log_dir = Path(tempfile.mkdtemp(prefix="crm-bench-webhooks-"))
    with database(args.database_url) as (target, _):
        own = asyncio.run(companion(target, "webhooks"))
        upgrade(own.sqlalchemy_url)
        result = asyncio.run(_run(own.sqlalchemy_url, args.events, args.workers, args.timeout, log_dir))
    print(f"{result} (worker logs in {log_dir})", file=sys.stderr)
    output = Path(args.output)
    write_section(output, render(result))
    print(f"wrote {output}", file=sys.stderr)
    if not result["complete"]:
        raise SystemExit(f"only {result['delivered']} of {result['events']} events arrived in {args.timeout:g} s")


if __name__ == "__main__":
    main()
