"""Retries never charge twice: mutations that create a record or move money take an
`idempotencyKey`; the same key with the same arguments returns the first result, with
other arguments it is refused, and concurrent requests with one key make one effect."""

from __future__ import annotations

import asyncio
import base64
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from graphql import GraphQLNonNull
from sqlalchemy import text

from crm import idempotency
from crm.auth import Principal, Role
from schema.root import schema
from tests.helpers import count_of, new_customer, new_product, new_user, ok, refused
from tests.programme_helpers import AGENT_TIERS, agents_programme

CREATE = """mutation($input: CustomerCreateInput!, $key: String) {
  customerCreate(input: $input, allowDuplicate: true, idempotencyKey: $key) { customer { id name } errors { field code } } }"""
OTHER_ADMIN = Principal(subject="other-admin@test", role=Role.ADMIN)
ONE_TIER = ('[{rank: 1, code: "S", name: "Silver", entryFee: "0", discountRate: "0.05", trainingQuota: 0, '
            'promotionThreshold: "100", retentionThreshold: "50"}]')


async def test_a_retry_with_the_key_returns_the_first_customer(post_graphql):
    first = await ok(post_graphql, CREATE, {"input": {"name": "Acme"}, "key": "k-1"}, "customerCreate")
    again = await ok(post_graphql, CREATE, {"input": {"name": "Acme"}, "key": "k-1"}, "customerCreate")
    assert again == first
    assert await count_of(post_graphql, "customers") == 1


async def test_a_retry_may_select_other_fields_of_the_same_objects(post_graphql):
    first = await ok(post_graphql, CREATE, {"input": {"name": "Acme", "email": "a@acme.example"}, "key": "k"}, "customerCreate")
    again = await ok(post_graphql, """mutation($input: CustomerCreateInput!, $key: String) {
        customerCreate(input: $input, allowDuplicate: true, idempotencyKey: $key) {
          customer { id email classification } errors { code } } }""",
                     {"input": {"name": "Acme", "email": "a@acme.example"}, "key": "k"}, "customerCreate")
    assert again["customer"] == {"id": first["customer"]["id"], "email": "a@acme.example", "classification": "POTENTIAL"}


async def test_equal_arguments_written_differently_are_the_same_request(post_graphql):
    inline = """mutation { customerCreate(input: {email: "b@b.example", name: "B"}, allowDuplicate: true, idempotencyKey: "k") {
        customer { id } errors { code } } }"""
    first = await ok(post_graphql, CREATE, {"input": {"name": "B", "email": "b@b.example"}, "key": "k"}, "customerCreate")
    again = await ok(post_graphql, inline, {}, "customerCreate")
    assert again["customer"]["id"] == first["customer"]["id"]


def test_the_fingerprint_is_of_values_not_of_their_spelling():
    at = datetime(2026, 3, 1, 8, 0, tzinfo=timezone(timedelta(hours=8)))
    assert idempotency.fingerprint({"a": Decimal("1.0"), "b": {"at": at, "n": 1}}) == \
        idempotency.fingerprint({"b": {"n": 1, "at": at.astimezone(timezone.utc)}, "a": Decimal("1.00")})
    assert idempotency.fingerprint({"a": Decimal("1.0")}) != idempotency.fingerprint({"a": Decimal("1.01")})
    assert idempotency.fingerprint({"a": None}) != idempotency.fingerprint({"a": "None"})


async def test_the_same_key_with_other_arguments_is_refused_and_changes_nothing(post_graphql):
    await ok(post_graphql, CREATE, {"input": {"name": "Acme"}, "key": "k-1"}, "customerCreate")
    result = await post_graphql(CREATE, {"input": {"name": "Acme Ltd"}, "key": "k-1"})
    assert result.status == 200 and result.data is None
    assert result.error_codes == ["IDEMPOTENCY_KEY_REUSED"]
    assert result.errors[0]["extensions"]["argument"] == "idempotencyKey"
    assert result.errors[0]["path"] == ["customerCreate"]
    assert await count_of(post_graphql, "customers") == 1


async def test_without_a_key_every_request_is_new(post_graphql):
    for _ in range(2):
        await ok(post_graphql, CREATE, {"input": {"name": "Acme"}}, "customerCreate")
    assert await count_of(post_graphql, "customers") == 2


async def test_keys_are_per_caller(post_graphql):
    mine = await ok(post_graphql, CREATE, {"input": {"name": "Acme"}, "key": "shared"}, "customerCreate")
    theirs = await ok(post_graphql, CREATE, {"input": {"name": "Acme"}, "key": "shared"}, "customerCreate", as_=OTHER_ADMIN)
    assert theirs["customer"]["id"] != mine["customer"]["id"]
    # and the other caller's key does not make my different arguments a reuse
    await ok(post_graphql, CREATE, {"input": {"name": "Other"}, "key": "k-2"}, "customerCreate", as_=OTHER_ADMIN)
    await ok(post_graphql, CREATE, {"input": {"name": "Mine"}, "key": "k-2"}, "customerCreate")
    assert await count_of(post_graphql, "customers") == 4


async def test_keys_are_per_mutation(post_graphql):
    customer = await ok(post_graphql, CREATE, {"input": {"name": "Acme"}, "key": "k"}, "customerCreate")
    product = await ok(post_graphql, """mutation { productCreate(input: {sku: "S", name: "S",
        listPrice: {amount: "1.00", currency: "EUR"}}, idempotencyKey: "k") { product { id } errors { code } } }""",
                       {}, "productCreate")
    assert customer["customer"]["id"] and product["product"]["id"]


async def test_a_user_keeps_its_keys_across_logins(post_graphql):
    """The caller is the user, not the token: a retry after logging in again (or through
    an API key of the same user) is still a retry."""
    user = await new_user(post_graphql, "kim@example.com", role="MANAGER")
    pk = int(base64.b64decode(user).decode().split(":")[1])
    login_1 = Principal(subject="kim@example.com", role=Role.MANAGER, user_id=pk)
    login_2 = Principal(subject="kim@example.com (another login)", role=Role.MANAGER, user_id=pk)
    first = await ok(post_graphql, CREATE, {"input": {"name": "Acme"}, "key": "k"}, "customerCreate", as_=login_1)
    again = await ok(post_graphql, CREATE, {"input": {"name": "Acme"}, "key": "k"}, "customerCreate", as_=login_2)
    assert again == first


async def test_a_refused_request_does_not_use_up_its_key(post_graphql):
    await new_customer(post_graphql, "Taken", email="taken@example.com")
    create = """mutation($input: CustomerCreateInput!, $key: String) {
        customerCreate(input: $input, idempotencyKey: $key) { customer { id } errors { field code } } }"""
    assert await refused(post_graphql, create, {"input": {"name": "New", "email": "taken@example.com"}, "key": "k"},
                         "customerCreate") == [("email", "DUPLICATE")]
    # the client corrects its input and tries again with the same key
    await ok(post_graphql, create, {"input": {"name": "New", "email": "new@example.com"}, "key": "k"}, "customerCreate")
    assert await count_of(post_graphql, "customers") == 2


async def test_a_key_older_than_the_retention_can_be_used_again(post_graphql, connection):
    first = await ok(post_graphql, CREATE, {"input": {"name": "Acme"}, "key": "old"}, "customerCreate")
    await connection.execute(text("UPDATE idempotency_key SET created_at = now() - CAST(:age AS interval)"),
                             {"age": idempotency.RETENTION + timedelta(seconds=1)})
    again = await ok(post_graphql, CREATE, {"input": {"name": "Acme"}, "key": "old"}, "customerCreate")
    assert again["customer"]["id"] != first["customer"]["id"]
    # the key now belongs to the new request, other arguments and all
    other = await ok(post_graphql, CREATE, {"input": {"name": "Acme"}, "key": "old"}, "customerCreate")
    assert other == again
    assert (await post_graphql(CREATE, {"input": {"name": "Else"}, "key": "old"})).error_codes == ["IDEMPOTENCY_KEY_REUSED"]


async def test_a_key_within_the_retention_still_replays(post_graphql, connection):
    first = await ok(post_graphql, CREATE, {"input": {"name": "Acme"}, "key": "recent"}, "customerCreate")
    await connection.execute(text("UPDATE idempotency_key SET created_at = now() - CAST(:age AS interval)"),
                             {"age": idempotency.RETENTION - timedelta(minutes=1)})
    assert await ok(post_graphql, CREATE, {"input": {"name": "Acme"}, "key": "recent"}, "customerCreate") == first


async def test_expired_keys_are_deleted_when_a_new_key_is_stored(post_graphql, connection):
    for key in ("a", "b", "c"):
        await ok(post_graphql, CREATE, {"input": {"name": key}, "key": key}, "customerCreate")
    await connection.execute(text("UPDATE idempotency_key SET created_at = now() - CAST(:age AS interval) WHERE key IN ('a', 'b')"),
                             {"age": idempotency.RETENTION + timedelta(hours=1)})
    await ok(post_graphql, CREATE, {"input": {"name": "d"}, "key": "d"}, "customerCreate")
    keys = (await connection.execute(text("SELECT key FROM idempotency_key ORDER BY key"))).scalars().all()
    assert keys == ["c", "d"]


@pytest.mark.parametrize("key", ["", "x" * 256, "nul\x00byte", "new\nline", "tab\tbed"])
async def test_unusable_keys_are_bad_user_input(post_graphql, key):
    result = await post_graphql(CREATE, {"input": {"name": "Acme"}, "key": key})
    assert result.error_codes == ["BAD_USER_INPUT"]
    # a NUL is refused by the String scalar itself, which names the variable carrying it
    extensions = result.errors[0]["extensions"]
    assert extensions.get("argument") == "idempotencyKey" or extensions.get("variable") == "key", extensions
    assert await count_of(post_graphql, "customers") == 0


async def test_the_longest_key_and_any_printable_text_are_usable(post_graphql):
    for key in ("x" * 255, "ключ 🔑 with spaces"):
        first = await ok(post_graphql, CREATE, {"input": {"name": "Acme"}, "key": key}, "customerCreate")
        assert await ok(post_graphql, CREATE, {"input": {"name": "Acme"}, "key": key}, "customerCreate") == first
    assert await count_of(post_graphql, "customers") == 2


async def test_aliases_in_one_document_with_one_key_make_one_customer(post_graphql):
    result = await post_graphql("""mutation {
      a: customerCreate(input: {name: "Acme"}, idempotencyKey: "k") { customer { id } errors { code } }
      b: customerCreate(input: {name: "Acme"}, idempotencyKey: "k") { customer { id } errors { code } } }""")
    assert not result.errors, result.body
    assert result.data["a"] == result.data["b"]
    assert await count_of(post_graphql, "customers") == 1


ENROL = """mutation($input: MembershipEnrollInput!, $key: String) { membershipEnroll(input: $input, idempotencyKey: $key) {
  membership { id tier { code } validUntil feePayments { id amount { amount currency } } } errors { field code } } }"""


async def _agent_and_programme(post_graphql) -> dict:
    programme = (await agents_programme(post_graphql))["programme"]
    agent = await new_customer(post_graphql, "Agent", classification="PARTNER")
    return {"accountId": agent, "programmeId": programme, "tierCode": "B",
            "feePayment": {"amount": {"amount": "300000", "currency": "CNY"}, "paidAt": "2026-02-01T00:00:00+08:00"}}


async def test_a_retried_enrolment_records_one_fee_payment(post_graphql):
    enrolment = await _agent_and_programme(post_graphql)
    first = await ok(post_graphql, ENROL, {"input": enrolment, "key": "enrol-1"}, "membershipEnroll")
    again = await ok(post_graphql, ENROL, {"input": enrolment, "key": "enrol-1"}, "membershipEnroll")
    assert again == first and len(first["membership"]["feePayments"]) == 1
    # without the key the same request is a renewal: a second payment
    renewed = await ok(post_graphql, ENROL, {"input": enrolment}, "membershipEnroll")
    assert len(renewed["membership"]["feePayments"]) == 2


async def test_a_retried_partial_return_refunds_once(post_graphql):
    customer = await new_customer(post_graphql, "Buyer")
    product = await new_product(post_graphql, "R", "10.00")
    order = await ok(post_graphql, """mutation($c: ID!, $p: ID!) { orderPlace(input: {customerId: $c, paid: true,
        lines: [{productId: $p, quantity: 5}]}) { order { id lines { id } } errors { code } } }""",
                     {"c": customer, "p": product}, "orderPlace")
    ret = """mutation($id: ID!, $line: ID!) { orderReturn(id: $id, lines: [{lineId: $line, quantity: 2}], idempotencyKey: "r-1") {
        order { returnedTotal { amount } status } orderReturn { id amount { amount } } errors { field code } } }"""
    variables = {"id": order["order"]["id"], "line": order["order"]["lines"][0]["id"]}
    first = await ok(post_graphql, ret, variables, "orderReturn")
    again = await ok(post_graphql, ret, variables, "orderReturn")
    assert again == first
    assert first["order"]["returnedTotal"]["amount"] == "20.00"


async def test_a_retried_merge_answers_the_merge_not_an_error(post_graphql):
    a = await new_customer(post_graphql, "A")
    b = await new_customer(post_graphql, "B")
    merge = """mutation($i: ID!, $f: ID!) { customerMerge(intoId: $i, fromId: $f, idempotencyKey: "m") {
        customer { id } merge { id } errors { field code } } }"""
    first = await ok(post_graphql, merge, {"i": a, "f": b}, "customerMerge")
    assert await ok(post_graphql, merge, {"i": a, "f": b}, "customerMerge") == first


async def gql(client, query, variables=None):
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}})
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    return body["data"]


async def test_fifty_concurrent_retries_of_one_enrolment_pay_once(committed_client, engine):
    """Fifty requests at once, each on its own connection of the pool, all with one key:
    the first inserts the key and pays; the others wait on its insert and answer what
    it stored."""
    tiers = [dict(t) for t in AGENT_TIERS]
    programme = (await gql(committed_client, """mutation { programmeCreate(input: {name: "Agents", kind: AGENT,
        currency: "CNY", timeZone: "Asia/Shanghai"}) { programme { id } } }"""))["programmeCreate"]["programme"]["id"]
    version = (await gql(committed_client, "mutation($p: ID!, $t: [TierInput!]!) { ruleVersionCreate(programmeId: $p, tiers: $t) { version { id } } }",
                         {"p": programme, "t": tiers}))["ruleVersionCreate"]["version"]["id"]
    await gql(committed_client, "mutation($v: ID!) { ruleVersionPublish(id: $v, effectiveFrom: \"2025-01-01T00:00:00Z\") { version { id } } }",
              {"v": version})
    agent = (await gql(committed_client, 'mutation { customerCreate(input: {name: "Agent", classification: PARTNER}) { customer { id } } }'))["customerCreate"]["customer"]["id"]
    enrolment = {"accountId": agent, "programmeId": programme, "tierCode": "B",
                 "feePayment": {"amount": {"amount": "300000", "currency": "CNY"}}}

    results = await asyncio.gather(*(gql(committed_client, ENROL, {"input": enrolment, "key": "enrol-after-timeout"})
                                     for _ in range(50)))
    assert all(r == results[0] for r in results)
    assert results[0]["membershipEnroll"]["errors"] == []
    assert len(results[0]["membershipEnroll"]["membership"]["feePayments"]) == 1
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM fee_payment"))).scalar_one() == 1
        assert (await connection.execute(text("SELECT count(*) FROM idempotency_key"))).scalar_one() == 1


async def test_fifty_concurrent_retries_of_one_customer_create_make_one(committed_client, engine):
    results = await asyncio.gather(*(gql(committed_client, CREATE, {"input": {"name": "Acme"}, "key": "c-1"})
                                     for _ in range(50)))
    assert all(r == results[0] for r in results)
    assert results[0]["customerCreate"]["errors"] == []
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM customer"))).scalar_one() == 1


async def test_concurrent_requests_with_one_key_and_other_arguments_make_one_effect(committed_client, engine):
    """Whichever of two different requests with one key commits first wins; the other is refused."""
    names = [f"Name {i % 2}" for i in range(20)]
    responses = await asyncio.gather(*(committed_client.post("/graphql", json={
        "query": CREATE, "variables": {"input": {"name": name}, "key": "contested"}}) for name in names))
    bodies = [r.json() for r in responses]
    won = [b for b in bodies if "errors" not in b]
    lost = [b for b in bodies if "errors" in b]
    assert {b["errors"][0]["extensions"]["code"] for b in lost} == {"IDEMPOTENCY_KEY_REUSED"}
    assert len(won) == 10 and len({b["data"]["customerCreate"]["customer"]["name"] for b in won}) == 1
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM customer"))).scalar_one() == 1


# -- Which mutations take a key: every one that creates a record or moves money. --------

MUTATIONS = schema._schema.mutation_type.fields
# Verbs whose mutations need no key: repeating them with the same arguments leaves the
# same state, or a repeat is refused (NO_CHANGE, ARCHIVED, NOT_FOUND) with nothing changed.
VERBS_WITHOUT_KEY = {
    "Update": "sets the given values; a repeat sets them again",
    "Archive": "a repeat finds it archived (NO_CHANGE)",
    "Restore": "a repeat finds it live (NO_CHANGE)",
    "Delete": "a repeat finds nothing (NOT_FOUND)",
    "Revoke": "a repeat finds it revoked",
    "MoveStage": "names the target stage; a repeat finds the deal there (NO_CHANGE)",
    "Complete": "a repeat finds it done (NO_CHANGE)",
    "Publish": "a repeat finds it published",
    "Assess": "idempotent by design: it writes only what changed",
    "Check": "idempotent by design: a member is told once per period (tierRiskCheck)",
    "Replay": "idempotent by design: entries already in the ledger are left alone",
    "SetPassword": "sets a value",
}
# Mutations with a creating verb that take no key, and why.
WITHOUT_KEY = {
    "apiKeyCreate": "the secret is shown once and only its hash is kept: a replay could not show it without storing "
                    "it; a lost key is listed by apiKeys and revoked",
    "webhookEndpointCreate": "the secret is shown once: a replay could not show it without storing the answer with it; "
                             "a lost one is listed by webhookEndpoints and deleted (or rotated)",
    "webhookEndpointRotateSecret": "the new secret is shown once, as above; a repeat rotates again, harmless while "
                                   "the previous secret still signs",
    "webhookEndpointPing": "sends a test message and writes nothing; a repeat sends another",
    "webhookDeliveryRedeliver": "a repeat queues the same delivery again (same webhook-id): receivers de-duplicate",
    "login": "public: there is no caller to own a key before it; a retry is just another login",
    "logout": "a repeat finds the login ended",
    "tokenRefresh": "public, and a refresh token is single-use by design",
}


def _verb(name: str) -> str:
    for verb in sorted(VERBS_WITHOUT_KEY, key=len, reverse=True):
        if name.endswith(verb):
            return verb
    return re.findall(r"[A-Z][a-z]*", name)[-1] if re.search(r"[A-Z]", name) else name


def test_every_mutation_that_creates_or_moves_money_takes_an_idempotency_key():
    """Walked from the schema, so a new mutation is covered unless it is listed above
    with its reason."""
    for name, field in MUTATIONS.items():
        needs_key = _verb(name) not in VERBS_WITHOUT_KEY and name not in WITHOUT_KEY
        argument = field.args.get("idempotencyKey")
        assert (argument is not None) == needs_key, name
        if argument is not None:
            assert not isinstance(argument.type, GraphQLNonNull) and argument.type.name == "String", name
            assert "IDEMPOTENCY_KEY_REUSED" in argument.description, name


def test_the_issue_s_mutations_are_covered():
    for name in ("membershipEnroll", "customerCreate", "contactCreate", "opportunityCreate", "activityLog", "orderPlace",
                 "orderMarkPaid", "orderCancel", "orderReturn", "feeRefund", "trainingBook", "dealRegister",
                 "productCreate", "channelSpendRecord", "qualifyingAdjust"):
        assert "idempotencyKey" in MUTATIONS[name].args, name
    assert set(WITHOUT_KEY) <= set(MUTATIONS)


async def test_every_keyed_mutation_answers_a_retry_with_its_first_result(post_graphql):
    """Each mutation with a key, sent twice: the second answer is the first, however the
    mutation's result is made up (one row, a pair, a row it points at). Every keyed
    mutation of the schema must be exercised here."""
    sent: set[str] = set()

    async def twice(field: str, arguments: str, selection: str, variables: dict | None = None, **kwargs) -> dict:
        key = f"retry-{field}-{len(sent)}-{arguments}"[:255]
        document = f"mutation($key: String) {{ {field}({arguments}, idempotencyKey: $key) {{ {selection} errors {{ field code }} }} }}"
        for name, value in (variables or {}).items():
            document = document.replace(f"${name}", f'"{value}"')
        first = await ok(post_graphql, document, {"key": key}, field, **kwargs)
        assert await ok(post_graphql, document, {"key": key}, field, **kwargs) == first, field
        sent.add(field)
        return first

    ids = lambda payload, name: payload[name]["id"]  # noqa: E731
    customer = ids(await twice("customerCreate", 'input: {name: "C"}', "customer { id }"), "customer")
    other = ids(await twice("customerCreate", 'input: {name: "Other"}', "customer { id }"), "customer")
    await twice("customerMerge", "intoId: $a, fromId: $b", "customer { id } merge { id }", {"a": customer, "b": other})
    await twice("contactCreate", 'input: {customerId: $c, name: "Pat"}', "contact { id }", {"c": customer})
    await twice("opportunityCreate", 'input: {customerId: $c, name: "D", amount: {amount: "5.00", currency: "EUR"}}',
                "opportunity { id }", {"c": customer})
    await twice("activityLog", 'input: {customerId: $c, kind: CALL, subject: "Hi"}', "activity { id }", {"c": customer})
    product = ids(await twice("productCreate", 'input: {sku: "P", name: "P", listPrice: {amount: "10.00", currency: "EUR"}}',
                              "product { id }"), "product")
    lines = f'lines: [{{productId: "{product}", quantity: 2}}]'
    placed = await twice("orderPlace", f"input: {{customerId: $c, {lines}}}", "order { id status }", {"c": customer})
    await twice("orderMarkPaid", "id: $o", "order { id status }", {"o": placed["order"]["id"]})
    await twice("orderReturn", "id: $o", "order { id status } orderReturn { id }", {"o": placed["order"]["id"]})
    to_cancel = await ok(post_graphql, f'mutation {{ orderPlace(input: {{customerId: "{customer}", {lines}}}) {{ order {{ id }} errors {{ code }} }} }}',
                         {}, "orderPlace")
    await twice("orderCancel", "id: $o", "order { id status }", {"o": to_cancel["order"]["id"]})
    channel = ids(await twice("channelCreate", 'input: {name: "Fair", kind: EVENT}', "channel { id }"), "channel")
    await twice("channelSpendRecord", 'input: {channelId: $ch, periodStart: "2026-01-01", periodEnd: "2026-02-01", '
                'amount: {amount: "100.00", currency: "EUR"}}', "spend { id }", {"ch": channel})
    await twice("userCreate", 'input: {email: "new@example.com", name: "New", role: SALES}', "user { id }")
    await twice("segmentCreate", 'input: {name: "All", priority: 1, filter: {}}', "segment { id }")
    programme = ids(await twice("programmeCreate", 'input: {name: "Members", kind: MEMBER, currency: "EUR", timeZone: "UTC"}',
                                "programme { id }"), "programme")
    await twice("ruleVersionCreate", f"programmeId: $p, tiers: {ONE_TIER}", "version { id }", {"p": programme})

    agents = (await agents_programme(post_graphql))["programme"]
    agent = await new_customer(post_graphql, "Agent", classification="PARTNER")
    enrolled = await twice("membershipEnroll", 'input: {accountId: $a, programmeId: $p, tierCode: "B", '
                           'feePayment: {amount: {amount: "300000", currency: "CNY"}}}',
                           "membership { id feePayments { id } }", {"a": agent, "p": agents})
    membership = enrolled["membership"]["id"]
    session_at = (datetime.now(timezone.utc) + timedelta(days=30)).isoformat()
    booked = await twice("trainingBook", 'membershipId: $m, title: "Coaching", sessionAt: $at', "booking { id status }",
                         {"m": membership, "at": session_at})
    await twice("trainingCancel", "id: $b", "booking { id status }", {"b": booked["booking"]["id"]})
    used = await twice("benefitUse", 'membershipId: $m, benefit: "training", quantity: 2, note: "On site"',
                       "membership { id training { used } }", {"m": membership})
    assert used["membership"]["training"] == {"used": 2}  # once, though sent twice
    await twice("qualifyingAdjust", 'membershipId: $m, amount: "10", reason: "goodwill"', "membership { id }", {"m": membership})
    await twice("tierOverrideSet", 'membershipId: $m, kind: FLOOR, tierCode: "A", reason: "strategic"', "membership { id }",
                {"m": membership})
    await twice("feeRefund", "id: $f", "membership { id }", {"f": enrolled["membership"]["feePayments"][0]["id"]})

    free = await new_customer(post_graphql, "Unworked", referringPartnerId=agent)  # a lead the partner brought in
    partner = Principal(subject="partner@test", role=Role.PARTNER,
                        account_id=int(base64.b64decode(agent).decode().split(":")[1]))
    await twice("dealRegister", "customerId: $c", "registration { id }", {"c": free}, as_=partner)

    keyed = {name for name, field in MUTATIONS.items() if "idempotencyKey" in field.args}
    assert sent == keyed
