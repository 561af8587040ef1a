"""The README's example queries are valid against the schema and answer on demo data."""

import re
from pathlib import Path

import pytest
from graphql import parse, validate

from core.demo import seed_demo_data
from schema.root import schema

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
EXAMPLES = re.findall(r"```graphql\n(.*?)```", README, re.S)
WEBHOOKS = README.split("\n## Webhooks\n", 1)[1].split("\n## ", 1)[0]


@pytest.fixture
def settings():
    """As in demo mode, where the README's webhook on localhost is accepted."""
    from tests.webhook_helpers import private_allowed_settings

    return private_allowed_settings()
# Served over a WebSocket: tests/test_subscriptions.py runs them against a served process.
SUBSCRIPTIONS = [example for example in EXAMPLES if example.lstrip().startswith("subscription")]


def test_readme_has_examples_that_validate():
    assert len(EXAMPLES) >= 4
    for example in EXAMPLES:
        assert validate(schema._schema, parse(example)) == [], example


async def test_readme_examples_answer_on_demo_data(database, post_graphql):
    from core.demo import demo_partner
    from crm.auth import Principal, Role

    await seed_demo_data(database)
    first = await post_graphql("{ customers(first: 1, orderBy: [{field: NAME}]) { edges { node { id } } } }")
    values = {"id": first.data["customers"]["edges"][0]["node"]["id"]}
    programmes = await post_graphql("{ programmes { id } }")
    values["programmeId"] = programmes.data["programmes"][0]["id"]  # the demo's Agents programme
    user_id, account_id = await demo_partner(database)
    nora = Principal(subject="nora", role=Role.PARTNER, account_id=account_id, user_id=user_id)
    for example in EXAMPLES:
        if example in SUBSCRIPTIONS:
            continue
        variables = {name: value for name, value in values.items() if f"${name}" in example}
        caller = {"as_": nora} if any(name in example for name in ("myMembership", "dealRegister", "webhookEndpointCreate")) \
            else {}
        if "$customerId" in example:  # a lead the demo partner referred, nobody works yet
            free = await post_graphql('{ customers(filter: {name: {eq: "Lucerne Publishing"}}) { edges { node { id } } } }')
            variables["customerId"] = free.data["customers"]["edges"][0]["node"]["id"]
        result = await post_graphql(example, variables or None, **caller)
        assert result.errors == [], (example, result.body)
        assert result.data
        for payload in result.data.values():  # mutations: no payload errors either
            if isinstance(payload, dict) and "errors" in payload:
                assert payload["errors"] == [], (example, payload)
        if "programmeCreate" in result.data:
            values["programmeId"] = result.data["programmeCreate"]["programme"]["id"]


async def test_the_readme_receiver_verifies_a_real_delivery(committed_client, committed_database, capsys):
    from events.worker import Worker
    from tests.event_helpers import poster
    from tests.webhook_helpers import CREATE, FAST, Receiver, emit_events, work_until

    snippet = re.findall(r"```python\n(.*?)```", WEBHOOKS, re.S)
    assert len(snippet) == 1 and len(snippet[0].strip().splitlines()) <= 16, snippet
    receiver = await Receiver().start()
    try:
        created = await poster(committed_client)(CREATE, {"i": {"url": receiver.url}})
        secret = created.data["webhookEndpointCreate"]["secret"]
        await emit_events(committed_database, 1)
        await work_until(Worker(committed_database, FAST), lambda: len(receiver.received) == 1)
    finally:
        await receiver.stop()
    delivery = receiver.received[0]
    namespace = {"SECRET": secret}
    exec(compile(snippet[0], "README.md", "exec"), namespace)
    receive = namespace["receive"]
    assert receive(delivery.body, delivery.headers) == 204
    assert receive(delivery.body, delivery.headers) == 204  # the same webhook-id again: handled once
    assert capsys.readouterr().out.count("order.cancelled") == 1
    assert receive(delivery.body.replace(b"cancelled", b"paid"), delivery.headers) == 400
    wrong = {**delivery.headers, "webhook-timestamp": str(int(delivery.headers["webhook-timestamp"]) - 600)}
    assert receive(delivery.body, wrong) == 400
