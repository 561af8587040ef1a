"""Partners kept apart: a partner's endpoint receives its own account's events only, and a
partner cannot read or change another partner's (or staff's) endpoints or deliveries:
each is answered exactly as an ID of nothing is."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from crm.auth import Principal, Role
from events.worker import Worker
from tests.event_helpers import pk_of, poster
from tests.helpers import gid, new_customer
from tests.webhook_helpers import CREATE, FAST, Receiver, emit_events, private_allowed_settings, work_until

@pytest.fixture
def settings():
    return private_allowed_settings()


ENDPOINT_READ = """query($id: ID!) { node(id: $id) { ... on WebhookEndpoint { id url } } }"""
DELIVERY_READ = """query($id: ID!) { node(id: $id) { ... on WebhookDelivery { id status } } }"""
LIST = """{ webhookEndpoints(first: 10) { totalCount edges { node { id url account { id }
  deliveries(first: 10) { edges { node { id event { id } } } } } } } }"""
MUTATIONS = {
    "webhookEndpointUpdate": 'webhookEndpointUpdate(id: $id, input: {active: false}) { endpoint { id } errors { field code message } }',
    "webhookEndpointDelete": "webhookEndpointDelete(id: $id) { endpoint { id } errors { field code message } }",
    "webhookEndpointRotateSecret": "webhookEndpointRotateSecret(id: $id) { secret errors { field code message } }",
    "webhookEndpointPing": "webhookEndpointPing(id: $id) { statusCode errors { field code message } }",
}


async def test_partners_receive_their_own_events_and_reach_only_their_own_endpoints(committed_client,
                                                                                     committed_database):
    admin = poster(committed_client)
    accounts = [await new_customer(admin, f"Partner {n}", classification="PARTNER") for n in "ab"]
    partners = [Principal(f"{n}@test", Role.PARTNER, account_id=pk_of(a)) for n, a in zip("ab", accounts)]
    receivers = [await Receiver().start() for _ in range(3)]
    try:
        endpoints = []
        for receiver, principal in zip(receivers, [*partners, None]):
            post = poster(committed_client, as_=principal)
            result = await post(CREATE, {"i": {"url": receiver.url}})
            assert result.data["webhookEndpointCreate"]["errors"] == [], result.body
            endpoints.append(result.data["webhookEndpointCreate"]["endpoint"]["id"])
        await emit_events(committed_database, 2, account_id=pk_of(accounts[0]))
        await emit_events(committed_database, 1, account_id=pk_of(accounts[1]))
        await emit_events(committed_database, 1)  # staff only
        await work_until(Worker(committed_database, FAST), lambda: [len(r.received) for r in receivers] == [2, 1, 4])
        async with committed_database.session() as session:
            accounts_of = dict((await session.execute(text("SELECT id, account_id FROM event"))).all())
        for receiver, account in zip(receivers[:2], accounts):
            assert {accounts_of[pk_of(i)] for i in receiver.ids()} == {pk_of(account)}
        assert len(set(receivers[2].ids())) == 4  # the admin's endpoint: every event

        a, b = (poster(committed_client, as_=p) for p in partners)
        answer = await a(LIST)
        assert not answer.errors, answer.body
        listed = answer.data["webhookEndpoints"]
        assert [e["node"]["id"] for e in listed["edges"]] == [endpoints[0]] and listed["totalCount"] == 1
        assert listed["edges"][0]["node"]["account"]["id"] == accounts[0]
        own_delivery = listed["edges"][0]["node"]["deliveries"]["edges"][0]["node"]["id"]
        b_listed = (await b(LIST)).data["webhookEndpoints"]
        foreign_delivery = b_listed["edges"][0]["node"]["deliveries"]["edges"][0]["node"]["id"]
        staff_listed = (await admin(LIST)).data["webhookEndpoints"]
        assert staff_listed["totalCount"] == 3

        # A reaches nothing of B's (nor of staff's): answered as for an ID of nothing.
        unknown = gid("WebhookEndpoint", 987654321)
        for foreign in (endpoints[1], endpoints[2]):
            assert (await a(ENDPOINT_READ, {"id": foreign})).data == {"node": None}
            for name, selection in MUTATIONS.items():
                answer = await a(f"mutation($id: ID!) {{ {selection} }}", {"id": foreign})
                missing = await a(f"mutation($id: ID!) {{ {selection} }}", {"id": unknown})
                assert answer.data[name]["errors"] == missing.data[name]["errors"] != [], (name, answer.body)
        assert (await a(DELIVERY_READ, {"id": foreign_delivery})).data == {"node": None}
        assert (await a(DELIVERY_READ, {"id": own_delivery})).data["node"]["status"] == "succeeded"
        redeliver = "mutation($id: ID!) { webhookDeliveryRedeliver(id: $id) { delivery { id } errors { code } } }"
        assert (await a(redeliver, {"id": foreign_delivery})).data["webhookDeliveryRedeliver"] == \
            {"delivery": None, "errors": [{"code": "NOT_FOUND"}]}
        assert (await a(redeliver, {"id": own_delivery})).data["webhookDeliveryRedeliver"]["errors"] == []
        # Nothing of B's changed.
        async with committed_database.session() as session:
            rows = (await session.execute(text("SELECT id, active FROM webhook_endpoint ORDER BY id"))).all()
        assert [active for _, active in rows] == [True, True, True]
        # Staff other than admins manage no endpoints.
        manager = poster(committed_client, as_=Principal("m@test", Role.MANAGER))
        assert (await manager(LIST)).error_codes == ["FORBIDDEN"]
        assert (await manager(ENDPOINT_READ, {"id": endpoints[2]})).data == {"node": None}
    finally:
        for receiver in receivers:
            await receiver.stop()
