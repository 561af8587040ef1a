"""bench/webhooks.py in miniature (figures are not asserted: benchmarks are not tests),
and the section it writes surviving bench/run.py's rewrite of docs/benchmarks.md."""

from __future__ import annotations

import asyncio

from bench import run, webhooks
from tests.conftest import fresh_database
from tests.test_bench import _drop


def test_the_webhook_benchmark_runs_and_writes_its_section(postgres_server_url, tmp_path):
    output = tmp_path / "benchmarks.md"
    output.write_text("# Benchmarks\n\nrows\n")
    with fresh_database(postgres_server_url) as url:
        try:
            webhooks.main(["--database-url", url, "--events", "60", "--timeout", "60", "--output", str(output)])
        finally:
            asyncio.run(_drop(postgres_server_url, run.Target(url).database + "_webhooks"))
    text = output.read_text()
    assert text.startswith("# Benchmarks\n\nrows\n\n<!-- events:begin -->\n## Webhook deliveries")
    assert "| 60 | 2 | 60 | 60 |" in text and text.rstrip().endswith("<!-- events:end -->")


def test_a_rewrite_keeps_the_events_section():
    section = "<!-- events:begin -->\n## Webhook deliveries\nfigures\n<!-- events:end -->"
    previous = f"# Benchmarks\n\nold rows\n\n{section}\n"
    kept = webhooks.kept_section(previous)
    assert kept == section
    assert webhooks.replace_section("# Benchmarks\n\nnew rows\n", kept) == f"# Benchmarks\n\nnew rows\n\n{section}\n"
    assert webhooks.replace_section(previous, section.replace("figures", "new figures")).count("events:begin") == 1
    assert webhooks.kept_section("# Benchmarks\n") is None
