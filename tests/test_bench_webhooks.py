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


def test_sections_are_replaced_by_name_and_kept_by_a_rewrite(tmp_path):
    output = tmp_path / "benchmarks.md"
    events = "<!-- events:begin -->\n## Webhook deliveries\nfigures\n<!-- events:end -->"
    outbox = "<!-- outbox:begin -->\n## Outbox\nfigures\n<!-- outbox:end -->"
    output.write_text("# Benchmarks\n\nold rows\n")
    run.write_section(output, events)
    run.write_section(output, outbox)
    run.write_section(output, events.replace("figures", "new figures"))
    assert output.read_text() == f"# Benchmarks\n\nold rows\n\n{events.replace('figures', 'new figures')}\n\n{outbox}\n"
    rewritten = run.with_kept_sections("# Benchmarks\n\nnew rows\n", output)
    assert rewritten == f"# Benchmarks\n\nnew rows\n\n{events.replace('figures', 'new figures')}\n\n{outbox}\n"
