"""What the outbox costs `orderPlace`: `python -m bench.outbox` (`--help`).

The same server twice on the harness's database (bench/.data, loaded as `make bench`
loads it): as shipped, and with the outbox write taken out (`emit_all` made a no-op in
that process only, a measurement switch that exists nowhere but here). Both run at
once with one worker each; the rounds alternate between them with fresh orders each
time (distinct external references, so none is a replay), so drift of the machine
falls on both. Also counts the statements of one `orderPlace` on each (captured from
the real app as the SQL floor captures them). Writes its section of
docs/benchmarks.md between the `outbox` markers, which `bench/run.py` keeps.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import uuid
from contextlib import contextmanager, nullcontext
from datetime import datetime, timezone
from pathlib import Path

from bench import floor, generate, scenarios
from bench.run import (ROOT, BENCH_DIR, Server, authorised, check_once, database, drive, free_port, log, machine,
                       migrate, reset_programme, stop, tokens, wait_http)

BEGIN, END = "<!-- outbox:begin -->", "<!-- outbox:end -->"


async def _nothing_written(*args, **kwargs) -> int:
    return 0


@contextmanager
def outbox_disabled():
    """While inside, every reference to the outbox's writers, in every module loaded so
    far and in events.outbox itself (for imports still to come), is a no-op."""
    import events.outbox as outbox

    originals = {id(outbox.emit_all): outbox.emit_all, id(outbox.emit): outbox.emit}
    replaced = []
    for module in list(sys.modules.values()):
        for name, value in list(getattr(module, "__dict__", {}).items()):
            if id(value) in originals:
                replaced.append((module, name, value))
                setattr(module, name, _nothing_written)
    try:
        yield
    finally:
        for module, name, value in replaced:
            setattr(module, name, value)


def serve_without_outbox() -> None:
    import server  # noqa: F401  (loads every module that writes events, so all get the no-op)
    from core.cli import main as crm

    with outbox_disabled():
        crm(["serve"])


def start(target, secret_key: str, log_dir: Path, *, outbox: bool) -> Server:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": target.sqlalchemy_url, "CRM_SECRET_KEY": secret_key, "CRM_PORT": str(port),
           "CRM_WORKERS": "1", "CRM_DEMO": "0", "CRM_MIGRATE_ON_START": "0", "CRM_HOST": "127.0.0.1"}
    name = "with outbox" if outbox else "outbox off"
    command = ["-m", "core.cli", "serve"] if outbox else ["-m", "bench.outbox", "--serve-without-outbox"]
    log_path = log_dir / f"{name.replace(' ', '-')}.log"
    process = subprocess.Popen([sys.executable, *command], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=log_path.open("w"))
    wait_http(f"http://127.0.0.1:{port}/healthz", process)
    return Server(name, process, f"http://127.0.0.1:{port}/graphql", log_path)


def statements(target, shape, admin: str, partners: dict, secret_key: str, *, outbox: bool) -> int:
    """The statements of one member's paid order, after three others (fresh, as under load)."""
    import server  # noqa: F401  (every module that writes events, loaded before the switch)

    orders = authorised(scenarios.order_place(shape, uuid.uuid4().hex[:8], count=8), admin, partners)[1::2]
    recorded = orders[-1]
    with outbox_disabled() if not outbox else nullcontext():
        return len(asyncio.run(floor.capture(target.sqlalchemy_url, recorded["body"], recorded["headers"], secret_key,
                                             warm=[o["body"] for o in orders[:-1]])))


def render(result: dict) -> str:
    rows = "\n".join(f"| {i + 1} | {on:,.0f} | {off:,.0f} | {on / off:.3f} |"
                     for i, (on, off) in enumerate(zip(result["with"], result["without"])))
    cost = 1 - result["ratio"]
    return "\n".join([
        BEGIN,
        "## The outbox's cost on `orderPlace`",
        "",
        f"`python -m bench.outbox` on {result['date']}: the data set of `make bench`, {result['concurrency']} clients, "
        f"{result['duration']:.0f} s per round after {result['warmup']:.0f} s of warm-up, one worker per server, "
        "the rounds alternating between the server as shipped and the same server with the outbox write taken out "
        f"(a switch in bench/outbox.py only). Machine: {result['machine']['cpu']}, {result['machine']['cores']} cores.",
        "",
        "| round | req/s with outbox | req/s outbox off | ratio |",
        "|---:|---:|---:|---:|",
        rows,
        "",
        f"- Median ratio {result['ratio']:.3f}: the outbox costs **{100 * cost:.1f}%** of `orderPlace`'s requests/s "
        f"(target: under 10%, **{'met' if cost < 0.10 else 'not met'}**).",
        f"- Statements per `orderPlace` (paid, a member's order): {result['statements_with']} with the outbox, "
        f"{result['statements_without']} without: the events of a change are one statement, whatever their number.",
        END,
    ])


def write_section(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.outbox", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    generate.shape_arguments(parser)
    parser.add_argument("--rounds", type=int, default=4, help="rounds per server (default %(default)s)")
    parser.add_argument("--duration", type=float, default=15, help="seconds of load per round (default %(default)s)")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of load before measuring (default %(default)s)")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients (default %(default)s)")
    parser.add_argument("--data-dir", default=str(BENCH_DIR / ".data"), help="embedded PostgreSQL's directory")
    parser.add_argument("--database-url", help="a PostgreSQL (SQLAlchemy URL) instead of the embedded one")
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--serve-without-outbox", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_without_outbox:
        serve_without_outbox()
        return
    shape = generate.shape_from(args)
    log_dir = Path(tempfile.mkdtemp(prefix="crm-bench-outbox-"))
    result = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "concurrency": args.concurrency,
              "duration": args.duration, "warmup": args.warmup, "machine": machine(), "with": [], "without": []}
    with database(args.database_url, Path(args.data_dir)) as (target, _):
        asyncio.run(migrate(target))
        if asyncio.run(generate.loaded_shape(target.asyncpg_dsn)) != shape:
            log("loading the data set ...")
            asyncio.run(generate.load(target.asyncpg_dsn, shape, log=lambda m: log(m.strip())))
        asyncio.run(reset_programme(target))
        secret_key = secrets.token_urlsafe(32)
        admin, partners = tokens(secret_key, shape)
        servers = {True: start(target, secret_key, log_dir, outbox=True),
                   False: start(target, secret_key, log_dir, outbox=False)}
        try:
            for round_ in range(args.rounds):
                for outbox in (True, False) if round_ % 2 == 0 else (False, True):
                    scenario = scenarios.order_place(shape, uuid.uuid4().hex[:8])
                    requests = authorised(scenario, admin, partners)
                    check_once(servers[outbox].url, requests[-1])
                    log(f"round {round_ + 1}, {servers[outbox].name} ...")
                    figures = drive(servers[outbox].url, requests[:-1], duration=args.duration,
                                    concurrency=args.concurrency, warmup=args.warmup, cpu_probes={})
                    if figures["errors"]:
                        raise RuntimeError(f"{servers[outbox].name}: {figures['errors']} requests failed")
                    result["with" if outbox else "without"].append(figures["rps"])
        finally:
            for server in servers.values():
                stop(server.process)
        result["statements_with"] = statements(target, shape, admin, partners, secret_key, outbox=True)
        result["statements_without"] = statements(target, shape, admin, partners, secret_key, outbox=False)
        asyncio.run(reset_programme(target))
    result["ratio"] = statistics.median(on / off for on, off in zip(result["with"], result["without"]))
    section = render(result)
    write_section(Path(args.output), section)
    print(section)


if __name__ == "__main__":
    main()
