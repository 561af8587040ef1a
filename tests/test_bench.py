"""The benchmark harness in miniature, so it cannot rot: every scenario of `make bench`
on a tiny data set for about a second each, against a database of its own on the test
server, with our real server processes, the load process, pgbench and `crm assess`.

PostGraphile 4 and 5 are left out here (`--no-peer`): installing them (and Node 22) needs
the npm registry, which a test run must not depend on. The fragment forms' check (their
answer less `__typename` is the plain form's) runs against our server as in a real run. Figures are not asserted (speed is measured by the
harness, never by a test); that every request succeeded, and the report's shape, are.
"""

from __future__ import annotations

import asyncio
import json
import re

import asyncpg
import pytest

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
    assert [row["key"] for row in report["rows"]] == ["a", "a'", "a+", "b", "b'", "c", "c", "d"]
    assert [row["scenario"].split(" ")[0] for row in report["rows"]] == ["(a)", "(a')", "(a+)", "(b)", "(b')", "(c)", "(c)", "(d)"]
    for row in report["rows"]:
        assert row["requests"] > 0 and row["errors"] == 0, row
    assert set(report["floor"]) == {"(a)", "(a')", "(a+)", "(b)", "(b')", "(c)"}
    assert all(f["statements"] > 0 and f["rps"] > 0 and f["errors"] == 0 for f in report["floor"].values())
    assert "assessed 80 members of Bench agents" in report["assessment"]["summary"]
    assert (report["assessment"]["members"], report["assessment"]["ledger"]) == (80, 800)
    assert [a["query"] for a in report["analytics"]] == list(run.scenarios.ANALYTICS)
    # The targets' ratios are computed from the rows (no peer here, so only ours against ours).
    assert [t["target"] for t in report["targets"]] == ["(a') fragment/plain req/s, ours (1 worker)",
                                                        "(b') fragment/plain req/s, ours (1 worker)",
                                                        "(a+)/(a) req/s, ours (1 worker)"]
    markdown = output.read_text()
    assert markdown.startswith("# Benchmarks") and "| (a) Customer list" in markdown and "Bulk assessment (e)" in markdown
    assert "| (a') Customer list, fragments" in markdown and "| (b') Customer detail, fragments" in markdown
    assert "| (a+) Customer list + consent" in markdown and "| vs PostGraphile 4 | vs PostGraphile 5 |" in markdown
    assert "fragment/plain" in markdown and "(a+)/(a)" in markdown


def test_the_fragment_forms_ask_for_the_plain_forms_selection_with_typename():
    """Each fragment form spreads named fragments and asks __typename; taking __typename
    out of an answer leaves the rest as it was."""
    from bench.generate import Shape

    shape = Shape(customers=10, orders=10, members=2, ledger=2, partner_users=2, seed=1)
    by_key = {s.key: s for s in run.scenarios.reads(shape)}
    assert list(by_key) == ["a", "a'", "a+", "b", "b'", "c"]
    for key, plain in (("a'", "a"), ("b'", "b")):
        fragment = by_key[key]
        assert fragment.plain.key == plain and fragment.family == plain
        for side in [fragment.ours, *fragment.peers.values()]:
            query = json.loads(side[0]["body"])["query"]
            assert "fragment " in query and "...OrderSummary" in query and "__typename" in query
        assert set(fragment.peers) == set(by_key[plain].peers) == {"v4", "v5"}
    assert "consent { emailOptOut }" in json.loads(by_key["a+"].ours[0]["body"])["query"]
    answer = {"__typename": "Query", "x": [{"__typename": "A", "b": {"__typename": "Money", "amount": "1"}}], "y": None}
    assert run.scenarios.strip_typename(answer) == {"x": [{"b": {"amount": "1"}}], "y": None}


def test_a_fragment_form_that_answers_otherwise_stops_the_run(monkeypatch):
    answers = {"plain": {"data": {"customer": {"id": "1", "name": "A"}}},
               "fragments": {"data": {"customer": {"__typename": "Customer", "id": "1", "name": "B"}}}}
    monkeypatch.setattr(run, "check_once", lambda url, request: answers[request["body"]])
    with pytest.raises(RuntimeError, match="not the plain form's"):
        run.check_fragments("http://127.0.0.1:1/graphql", "(b') ours", [{"body": "fragments"}], [{"body": "plain"}])
    answers["fragments"]["data"]["customer"]["name"] = "A"
    run.check_fragments("http://127.0.0.1:1/graphql", "(b') ours", [{"body": "fragments"}], [{"body": "plain"}])


async def _drop(server_url: str, name: str) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(server_url))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def test_the_outbox_harness_measures_orderplace_both_ways_and_keeps_its_section(postgres_server_url, tmp_path):
    """bench/outbox.py in miniature: both servers answer every order, the events of a
    change cost exactly one statement, and a later `make bench` keeps the section."""
    from bench import outbox

    output = tmp_path / "benchmarks.md"
    output.write_text("# Benchmarks\n\nan earlier run\n")
    with fresh_database(postgres_server_url) as url:
        outbox.main(["--database-url", url, "--customers", "300", "--orders", "1500", "--members", "60", "--ledger",
                     "600", "--rounds", "2", "--duration", "1", "--warmup", "0.3", "--concurrency", "4",
                     "--output", str(output)])
    section = output.read_text()
    assert section.startswith("# Benchmarks\n\nan earlier run\n\n" + outbox.BEGIN) and section.rstrip().endswith(outbox.END)
    rows = [line for line in section.splitlines() if line.startswith("| 1 ") or line.startswith("| 2 ")]
    assert len(rows) == 2 and all(float(line.split("|")[2].replace(",", "")) > 0 for line in rows)
    assert "with the outbox" in section
    counts = [int(n) for n in re.findall(r"(\d+) with the outbox, (\d+) without", section)[0]]
    assert counts[0] == counts[1] + 1, counts
    # The switch is gone once the harness is done: this process writes events again.
    import events.outbox as module
    import crm.orders

    assert crm.orders.emit_all is module.emit_all and module.emit_all.__name__ == "emit_all"
    rewritten = run.with_kept_sections("# Benchmarks\n\na new run\n", output)
    assert rewritten.startswith("# Benchmarks\n\na new run\n\n" + outbox.BEGIN) and rewritten.count(outbox.BEGIN) == 1
