"""The documented event catalogue (docs/events/, docs/events.md) is what the code
declares: a new or changed event type without regenerated documentation fails here."""

import subprocess
import sys
from pathlib import Path

from jsonschema import Draft202012Validator

from events.catalogue import CATALOGUE, json_schema
from events.docs import artefacts

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def test_committed_event_docs_match_the_catalogue():
    expected = artefacts()
    stale = [name for name, content in expected.items()
             if not (DOCS / name).exists() or (DOCS / name).read_text() != content]
    assert stale == [], f"stale: {stale}; run `make event-docs` and commit docs/"
    committed = {f"events/{p.name}" for p in (DOCS / "events").glob("*.json")}
    assert committed == {name for name in expected if name.startswith("events/")}, "a schema of no declared type"


def test_every_schema_is_valid_and_every_type_is_listed():
    listing = (DOCS / "events.md").read_text()
    for kind in CATALOGUE.values():
        Draft202012Validator.check_schema(json_schema(kind))
        assert f"[`{kind.name}`]" in listing
        assert kind.description and kind.audience, kind.name


def test_the_command_checks_and_writes(tmp_path):
    check = subprocess.run([sys.executable, "-m", "core.cli", "export-event-schemas", "--check"], cwd=ROOT,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    out = tmp_path / "events"
    written = subprocess.run([sys.executable, "-m", "core.cli", "export-event-schemas", "--output", str(out)],
                             cwd=ROOT, capture_output=True, text=True)
    assert written.returncode == 0, written.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{name}.json" for name in CATALOGUE)
    (out / "order.placed.json").write_text("{}")
    stale = subprocess.run([sys.executable, "-m", "core.cli", "export-event-schemas", "--check", "--output", str(out)],
                           cwd=ROOT, capture_output=True, text=True)
    assert stale.returncode != 0 and "order.placed.json" in stale.stderr
