"""The benchmark harness in miniature, so it cannot rot: every scenario of `make bench`
on a tiny data set for about a second each, against a database of its own on the test
server, with our real server processes, the load process, pgbench and `crm assess`.

PostGraphile is left out here (`--no-peer`): installing it needs the npm registry, which
a test run must not depend on. Figures are not asserted (speed is measured by the
harness, never by a test); that every request succeeded, and the report's shape, are.
"""

from __future__ import annotations

import asyncio
import json

import asyncpg

from bench import run
from tests.conftest import _asyncpg_dsn, fresh_database


def test_the_harness_runs_every_scenario_end_to_end(postgres_server_url, tmp_path):
    output, results = tmp_path / "benchmarks.md", tmp_path / "results.json"
    with fresh_database(postgres_server_url) as url:
        try:
            run.main(["--database-url", url, "--customers", "300", "--orders", "1500", "--members", "60", "--ledger", "600",
                      "--assess-members", "80", "--assess-ledger", "800", "--duration", "1", "--warmup", "0.3",
                      "--concurrency", "4", "--workers", "1", "--no-peer", "--output", str(output), "--results", str(results)])
        finally:
            asyncio.run(_drop(postgres_server_url, run.Target(url).database + "_assess"))
    report = json.loads(results.read_text())
    assert report["shape"]["customers"] == 300 and report["shape"]["orders"] == 1500
    scenarios = [row["scenario"][:3] for row in report["rows"]]
    assert scenarios == ["(a)", "(b)", "(c)", "(c)", "(d)"]
    for row in report["rows"]:
        assert row["requests"] > 0 and row["errors"] == 0, row
    assert set(report["floor"]) == {"(a)", "(b)", "(c)"}
    assert all(f["statements"] > 0 and f["rps"] > 0 and f["errors"] == 0 for f in report["floor"].values())
    assert "assessed 80 members of Bench agents" in report["assessment"]["summary"]
    assert (report["assessment"]["members"], report["assessment"]["ledger"]) == (80, 800)
    assert [a["query"] for a in report["analytics"]] == list(run.scenarios.ANALYTICS)
    markdown = output.read_text()
    assert markdown.startswith("# Benchmarks") and "| (a) Customer list" in markdown and "Bulk assessment (e)" in markdown


async def _drop(server_url: str, name: str) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(server_url))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()
