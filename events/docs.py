"""The documented catalogue, derived from the declarations: one JSON Schema per event type
(docs/events/<type>.json) and the list docs/events.md. Written by `crm
export-event-schemas` and compared with the committed files by
tests/test_event_artifacts.py, so the documentation cannot drift from what is emitted."""

from __future__ import annotations

import json

from events.catalogue import CATALOGUE, json_schema

HEADER = """# Events

Every change that matters to someone else is an event, written in the transaction that
made the change (a rolled-back change has none; a replayed, idempotent retry that
changes nothing has none). Read them with the `events(after:, types:, first:)` query
(resume after the last event's `id` or a page's `endCursor`); webhooks and
subscriptions deliver the same events. Staff read every event; a partner reads the
events that concern its own account (the table's "who sees it").

Generated from `events/` by `crm export-event-schemas --output docs/events/`; do not
edit. Each type's payload (`data`) is described by its JSON Schema in
[docs/events/](events/). IDs are the API's global IDs, money is an exact decimal string
with its currency beside it, instants are ISO 8601 with their offset.

| type | version | aggregate | who sees it | when it is emitted |
| --- | --- | --- | --- | --- |
"""


def artefacts() -> dict[str, str]:
    """File name (relative to docs/) -> content."""
    files = {f"events/{kind.name}.json": json.dumps(json_schema(kind), indent=2, ensure_ascii=False) + "\n"
             for kind in CATALOGUE.values()}
    rows = "".join(f"| [`{k.name}`](events/{k.name}.json) | {k.version} | {k.aggregate} | {k.audience} | "
                   f"{k.description.replace('|', '/')} |\n" for k in sorted(CATALOGUE.values(), key=lambda k: k.name))
    files["events.md"] = HEADER + rows
    return files
