"""Tenant isolation generated from the schema: two partners with everything a partner can
own, and each walking every path the schema offers into the other.

- Every type `node(id:)` can fetch declares its row scope (resolvers/scoping.ROW_SCOPES).
- The walk: from every root field a partner may call, every relation field (to-one,
  lists, connections, unions) followed to a depth, on both read paths (a query is sent
  twice: the second answer comes from the single-statement path where it applies). No
  answer holds anything of the other partner or of staff, and the same walk as an
  admin over the other partner's world proves the data is there to leak: every relation
  field the walk follows is non-empty at least once (so a new relation field without
  data in this world fails here, until the world holds some).
- Foreign ids: every ID argument of every query and mutation a partner may call, at the
  top level and inside input objects, given each of the other partner's ids of its
  type: the answer is byte-identical (but for the id itself and the request id) to the
  answer for an id of that type that does not exist, and the database is unchanged. An
  ID argument whose type this test cannot tell fails the test until it is declared.
"""

from __future__ import annotations

import base64
import json
import os
import re
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType, GraphQLInputObjectType, GraphQLInterfaceType, GraphQLList, GraphQLNonNull, GraphQLObjectType,
    GraphQLScalarType, GraphQLUnionType, Undefined,
)
from sqlalchemy import text

from crm.auth import Principal, Role
from models import Base
from engine.sql import table_of
from schema.fields import Column, ConnectionOf, GlobalId, MoneyOf, RootById, RootConnection, RootNode, ToOne, declared_source
from resolvers.ids import NODE_LOADERS
from resolvers.scoping import ROW_SCOPES
from schema.root import schema
from tests.helpers import gid, new_channel, new_customer, new_product, new_user, ok, required_literal
from tests.programme_helpers import agents_programme, enroll

GRAPHQL = schema._schema
STAFF_MARK = "Szz"
MARKS = {"a": "Azz", "b": "Bzz"}
UNKNOWN_PK = 987_654_321_012
MAX_LEVELS = 3  # object levels below a root field (a connection's edges/node count as one)
# A walks into B; both ways with CRM_TEST_THOROUGH=1 (the walk is symmetric, so one way
# finds what a missing scope lets through; the other doubles the suite's longest test).
DIRECTIONS = (("a", "b"), ("b", "a")) if os.environ.get("CRM_TEST_THOROUGH") == "1" else (("a", "b"),)

# ID arguments whose type their name does not tell: (root, field, argument) -> type.
ID_ARGUMENT_TYPES = {
    ("Query", "customer", "id"): "Customer",
    ("Mutation", "trainingCancel", "id"): "TrainingBooking",
    ("Mutation", "apiKeyRevoke", "id"): "ApiKey",
}
# By name, anywhere (arguments, input fields, filter fields).
ID_NAMES = {
    "accountId": "Customer", "customerId": "Customer", "referringPartnerId": "Customer", "registeringPartnerId": "Customer",
    "membershipId": "Membership", "programmeId": "Programme", "productId": "Product", "opportunityId": "Opportunity",
    "userId": "User", "ownerId": "User", "channelId": "Channel", "sourceChannelId": "Channel", "contactId": "Contact",
    "lineId": "OrderLine", "versionId": "RuleVersion", "partnerAccountId": "Customer",
    # filter fields (IDFilter) name the relation
    "customer": "Customer", "owner": "User", "referringPartner": "Customer", "registeringPartner": "Customer",
    "sourceChannel": "Channel", "channel": "Channel", "contact": "Contact", "opportunity": "Opportunity", "user": "User",
    "partnerAccount": "Customer",
}


def pk_of(global_id: str) -> int:
    return int(base64.b64decode(global_id).decode().split(":")[1])


def named(graphql_type: Any) -> Any:
    while isinstance(graphql_type, (GraphQLNonNull, GraphQLList)):
        graphql_type = graphql_type.of_type
    return graphql_type


def strawberry_roles(type_name: str, field_name: str) -> set[Role] | None:
    """The roles a field's permission classes allow; None when it declares none."""
    definition = schema.get_type_by_name(type_name)
    for f in getattr(definition, "fields", []):
        if schema.config.name_converter.get_graphql_name(f) == field_name:
            roles = [set(getattr(p, "roles", ()) or ()) for p in f.permission_classes if hasattr(p, "roles")]
            if any(p.__name__ == "Public" for p in f.permission_classes):
                return set(Role)
            return set.intersection(*roles) if roles else None
    return None


def partner_may_call(type_name: str, field_name: str) -> bool:
    roles = strawberry_roles(type_name, field_name)
    return roles is None or Role.PARTNER in roles


NODE_TYPE_NAMES = sorted(t.name for t in GRAPHQL.type_map.values()
                         if isinstance(t, GraphQLObjectType) and any(i.name == "Node" for i in t.interfaces))


def test_every_fetchable_type_declares_its_row_scope():
    assert set(NODE_TYPE_NAMES) == set(NODE_LOADERS) == set(ROW_SCOPES), (
        "a type node(id:) can fetch needs a row scope in resolvers/scoping.ROW_SCOPES and a loader")
    for name, scope in ROW_SCOPES.items():
        assert scope.model.__table__ is not None, name


@pytest.fixture
def settings():
    """The walk asks for every field at once: a deployment's cost and token limits, set
    higher, let it (the limits themselves are tested in tests/test_limits.py)."""
    from core.settings import Settings
    from tests.conftest import TEST_SECRET_KEY

    return Settings(secret_key=TEST_SECRET_KEY, graphiql=True, max_cost=10_000_000, max_tokens=1_000_000,
                    max_aliases=10_000)


# --- the world --------------------------------------------------------------------------


@pytest.fixture
async def world(post_graphql, connection):
    """Staff (a sales owner, a channel) and two partners A and B, each with an account,
    partner user and API key, referred customers (one merged into another), a registered
    deal with a stage change, contact and activity, a membership with fee payment,
    floor override and training booking, a paid order with lines and a return, and a
    deal registration. Every name and email of partner X holds MARKS[x]."""
    staff_user = await new_user(post_graphql, "szz-owner@example.com", "SALES", name=f"{STAFF_MARK} Owner")
    staff = Principal("staff-admin", Role.ADMIN, user_id=pk_of(staff_user))
    channel = await new_channel(post_graphql, f"{STAFF_MARK} Channel")
    await ok(post_graphql, """mutation($c: ID!) { channelSpendRecord(input: {channelId: $c, periodStart: "2026-01-01",
        periodEnd: "2026-02-01", amount: {amount: "1000", currency: "CNY"}}) { errors { code } } }""", {"c": channel}, "channelSpendRecord")
    setup = await agents_programme(post_graphql, effective_from="2020-01-01T00:00:00+08:00")
    product = await new_product(post_graphql, "STD", "100.00", currency="CNY")
    out: dict[str, Any] = {"programme": setup["programme"], "version": setup["version"], "product": product,
                           "staff": {"User": [staff_user], "Channel": [channel]}}
    for key, mark in MARKS.items():
        m = mark.lower()
        people = {"ownerId": staff_user, "sourceChannelId": channel}
        account = await new_customer(post_graphql, f"{mark} Partner", classification="PARTNER", email=f"{m}-partner@example.com", **people)
        referred = await new_customer(post_graphql, f"{mark} Referred", referringPartnerId=account, email=f"{m}-referred@example.com", **people)
        duplicate = await new_customer(post_graphql, f"{mark} Duplicate", referringPartnerId=account, **people)
        merge = (await ok(post_graphql, "mutation($i: ID!, $f: ID!) { customerMerge(intoId: $i, fromId: $f) { merge { id } errors { code } } }",
                          {"i": referred, "f": duplicate}, "customerMerge", as_=staff))["merge"]["id"]
        deal = (await ok(post_graphql, """mutation($i: OpportunityCreateInput!) { opportunityCreate(input: $i) { opportunity { id } errors { code } } }""",
                         {"i": {"customerId": referred, "name": f"{mark} Deal", "amount": {"amount": "10", "currency": "CNY"},
                                "registeringPartnerId": account, "ownerId": staff_user, "channelId": channel}}, "opportunityCreate", as_=staff))["opportunity"]["id"]
        await ok(post_graphql, "mutation($id: ID!) { opportunityMoveStage(id: $id, stage: QUALIFIED) { errors { code } } }",
                 {"id": deal}, "opportunityMoveStage", as_=staff)
        contact = (await ok(post_graphql, "mutation($i: ContactCreateInput!) { contactCreate(input: $i) { contact { id } errors { code } } }",
                            {"i": {"customerId": referred, "name": f"{mark} Contact", "email": f"{m}-contact@example.com"}},
                            "contactCreate", as_=staff))["contact"]["id"]
        activity = (await ok(post_graphql, "mutation($i: ActivityLogInput!) { activityLog(input: $i) { activity { id } errors { code } } }",
                             {"i": {"customerId": referred, "kind": "CALL", "subject": f"{mark} Call", "opportunityId": deal,
                                    "contactId": contact}}, "activityLog", as_=staff))["activity"]["id"]
        membership = (await enroll(post_graphql, account, setup["programme"], "B", "300000", "2026-01-05T00:00:00+08:00"))["membership"]["id"]
        override = (await ok(post_graphql, """mutation($m: ID!) { tierOverrideSet(membershipId: $m, kind: FLOOR, tierCode: "B",
            reason: "test") { membership { id } errors { code } } }""", {"m": membership}, "tierOverrideSet", as_=staff))
        order = (await ok(post_graphql, """mutation($i: OrderPlaceInput!) { orderPlace(input: $i) { order { id lines { id } } errors { code } } }""",
                          {"i": {"customerId": account, "lines": [{"productId": product, "quantity": 2}], "paid": True}},
                          "orderPlace", as_=staff))["order"]
        returned = (await ok(post_graphql, """mutation($id: ID!, $l: ID!) { orderReturn(id: $id, lines: [{lineId: $l, quantity: 1}]) {
            orderReturn { id } errors { code } } }""", {"id": order["id"], "l": order["lines"][0]["id"]}, "orderReturn", as_=staff))["orderReturn"]["id"]
        user = (await ok(post_graphql, "mutation($i: UserCreateInput!) { userCreate(input: $i) { user { id } errors { code } } }",
                         {"i": {"email": f"{m}-user@example.com", "name": f"{mark} User", "role": "PARTNER", "partnerAccountId": account}},
                         "userCreate"))["user"]["id"]
        principal = Principal(f"{m}-user@example.com", Role.PARTNER, account_id=pk_of(account), user_id=pk_of(user))
        # A customer the partner referred that its own user owns: a relation to the
        # partner's side (User.partnerAccount) that holds data.
        own_owned = await new_customer(post_graphql, f"{mark} Own owned", referringPartnerId=account, ownerId=user)
        created_key = await ok(post_graphql, "mutation($n: String!) { apiKeyCreate(name: $n) { key apiKey { id } errors { code } } }",
                               {"n": f"{mark} Key"}, "apiKeyCreate", as_=principal)
        api_key = created_key["apiKey"]["id"]
        booking = (await ok(post_graphql, """mutation($m: ID!, $t: String!) { trainingBook(membershipId: $m, title: $t, sessionAt: "2099-01-01T00:00:00Z") {
            booking { id } errors { code } } }""", {"m": membership, "t": f"{mark} Training"}, "trainingBook", as_=principal))["booking"]["id"]
        await ok(post_graphql, "mutation($c: ID!, $o: ID) { dealRegister(customerId: $c, opportunityId: $o) { registration { id } errors { code } } }",
                 {"c": referred, "o": deal}, "dealRegister", as_=principal)
        details = await post_graphql("""query($m: ID!, $d: ID!) {
            m: node(id: $m) { ... on Membership { feePayments { id } overrides { id } } }
            d: node(id: $d) { ... on Opportunity { stageHistory { id } } } }""", {"m": membership, "d": deal})
        assert not details.errors, details.body
        ids = {
            "Customer": [account, referred, duplicate, own_owned], "CustomerMerge": [merge], "Opportunity": [deal],
            "OpportunityStageChange": [s["id"] for s in details.data["d"]["stageHistory"]], "Contact": [contact],
            "Activity": [activity], "Membership": [membership], "FeePayment": [f["id"] for f in details.data["m"]["feePayments"]],
            "TierOverride": [o["id"] for o in details.data["m"]["overrides"]], "Order": [order["id"]],
            "OrderLine": [line["id"] for line in order["lines"]], "OrderReturn": [returned], "User": [user],
            "ApiKey": [api_key], "TrainingBooking": [booking],
        }
        assert override["membership"]["id"] == membership
        events = (await connection.execute(text("SELECT id FROM event WHERE account_id = :a ORDER BY id"),
                                           {"a": pk_of(account)})).scalars().all()
        ids["Event"] = [gid("Event", pk) for pk in events]
        out[key] = {"ids": ids, "staff_ids": out["staff"], "principal": principal, "account": account, "referred": referred, "membership": membership,
                    "deal": deal, "order": order["id"], "key": created_key["key"]}
    # A prospect B referred, with a deal staff registered for A: A reads the customer (the
    # customer of its deal), never that B referred it.
    shared = await new_customer(post_graphql, "Shared prospect", referringPartnerId=out["b"]["account"], ownerId=staff_user)
    await new_opportunity_for(post_graphql, shared, out["a"]["account"], staff)
    out["shared"] = shared
    return out


async def new_opportunity_for(post_graphql, customer: str, partner: str, staff: Principal) -> str:
    return (await ok(post_graphql, """mutation($i: OpportunityCreateInput!) { opportunityCreate(input: $i) { opportunity { id } errors { code } } }""",
                     {"i": {"customerId": customer, "name": "Shared deal", "amount": {"amount": "5", "currency": "CNY"},
                            "registeringPartnerId": partner}}, "opportunityCreate", as_=staff))["opportunity"]["id"]


# --- selections generated from the schema ----------------------------------------------


def literal(graphql_type: Any, name: str, own: dict[str, Any], world: dict[str, Any]) -> str:
    """A valid value for a required argument or input field, with the caller's own ids."""
    return required_literal(graphql_type, name, lambda id_name: own_id(id_name, own, world), day="2026-06-01")


def own_id(name: str, own: dict[str, Any], world: dict[str, Any]) -> str:
    kind = ID_NAMES.get(name)
    if kind == "Programme":
        return world["programme"]
    if kind == "Product":
        return world["product"]
    if kind == "Customer":
        return own["account"]
    return (own["ids"].get(kind) or [own["account"]])[0]


def selection(graphql_type: Any, levels: int, walked: set[tuple[str, str]], own: dict[str, Any], world: dict[str, Any],
              prefix: str = "") -> str:
    """Every field of the type a partner may read, objects followed `levels` deep. In a
    fragment of an abstract type each field is aliased `<Type>_<field>`, so fields of
    one name and different types in sibling fragments do not conflict."""
    target = named(graphql_type)
    if isinstance(target, (GraphQLScalarType, GraphQLEnumType)):
        return ""
    if isinstance(target, (GraphQLUnionType, GraphQLInterfaceType)):
        if levels <= 0:
            return "{ __typename }"
        possible = GRAPHQL.get_possible_types(target)
        return "{ __typename " + " ".join(f"... on {t.name} {selection(t, levels - 1, walked, own, world, f'{t.name}_')}"
                                          for t in possible) + " }"
    parts = ["__typename"]
    for name, field in target.fields.items():
        if not partner_may_call(target.name, name):
            continue
        required = [(a, arg) for a, arg in field.args.items() if isinstance(arg.type, GraphQLNonNull) and arg.default_value is Undefined]
        arguments = ", ".join(f"{a}: {literal(arg.type, a, own, world)}" for a, arg in required)
        if "first" in field.args:
            arguments = ", ".join(filter(None, [arguments, "first: 3"]))
        call = f"{name}({arguments})" if arguments else name
        if prefix:
            call = f"{prefix}{name}: {call}"
        inner = named(field.type)
        if isinstance(inner, (GraphQLScalarType, GraphQLEnumType)):
            parts.append(call)
            continue
        relation = inner.name.endswith("Connection") or isinstance(inner, (GraphQLUnionType, GraphQLInterfaceType)) or \
            any(i.name == "Node" for i in getattr(inner, "interfaces", []))
        if relation and levels <= 0:
            continue
        if relation:
            walked.add((target.name, name))
        below = levels - 1 if relation else levels
        if inner.name.endswith("Connection"):
            node_type = named(named(inner.fields["edges"].type).fields["node"].type)
            parts.append(f"{call} {{ totalCount edges {{ node {selection(node_type, below, walked, own, world)} }} }}")
        else:
            parts.append(f"{call} {selection(inner, below, walked, own, world)}")
    return "{ " + " ".join(parts) + " }"


def partner_roots(root: str) -> list[str]:
    definition = GRAPHQL.query_type if root == "Query" else GRAPHQL.mutation_type
    return [name for name in definition.fields if partner_may_call(root, name)]


def walk_queries(own: dict[str, Any], world: dict[str, Any], walked: set) -> list[str]:
    """One query per root field a partner may read, plus node(id:) of each own object."""
    queries = []
    for name in partner_roots("Query"):
        field = GRAPHQL.query_type.fields[name]
        if name == "node":
            continue
        arguments = [(a, arg) for a, arg in field.args.items() if isinstance(arg.type, GraphQLNonNull) and arg.default_value is Undefined]
        call = f"{name}({', '.join(f'{a}: {literal(arg.type, a, own, world)}' for a, arg in arguments)})" if arguments else name
        if "first" in field.args:
            call = f"{name}(first: 3)" if not arguments else call[:-1] + ", first: 3)"
        if name == "customer":
            call = f'customer(id: "{own["referred"]}")'
        if name == "priceQuote":
            call = f'priceQuote(accountId: "{own["account"]}", lines: [{{productId: "{world["product"]}", quantity: 1}}])'
        inner = named(field.type)
        if isinstance(inner, (GraphQLScalarType, GraphQLEnumType)):
            queries.append(f"{{ {call} }}")
        elif inner.name.endswith("Connection"):
            node_type = named(named(inner.fields["edges"].type).fields["node"].type)
            queries.append(f"{{ {call} {{ totalCount edges {{ node {selection(node_type, MAX_LEVELS, walked, own, world)} }} }} }}")
        else:
            queries.append(f"{{ {call} {selection(inner, MAX_LEVELS, walked, own, world)} }}")
    for type_name, ids in own["ids"].items():
        fragment = selection(GRAPHQL.get_type(type_name), MAX_LEVELS, walked, own, world)
        for node_id in ids:
            queries.append(f'{{ node(id: "{node_id}") {{ __typename ... on {type_name} {fragment} }} }}')
    return queries


# The feed's own walk, with committed events of two partners, is in
# tests/test_event_feed.py; here the events are walked by node(id:) through the same
# row scope.
NOT_FILLABLE = {("EventPage", "events")}

GLOBAL_ID = re.compile(r'"([A-Za-z0-9+/]{6,}={0,2})"')


def leaked(body: str, other: dict[str, Any], other_mark: str) -> list[str]:
    found = [mark for mark in (other_mark, STAFF_MARK, other_mark.lower(), STAFF_MARK.lower()) if mark in body]
    foreign_ids = {i for ids in other["ids"].values() for i in ids}
    found += [i for i in GLOBAL_ID.findall(body) if i in foreign_ids]
    return found


def filled(value: Any, path: tuple = ()) -> set[tuple]:
    """The response paths holding something (a non-null object or a non-empty list)."""
    out: set[tuple] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if item not in (None, [], {}):
                out.add(path + (key,))
            out |= filled(item, path + (key,))
    elif isinstance(value, list):
        for item in value:
            out |= filled(item, path)
    return out


def walked_fields_filled(query: str, data: Any) -> set[tuple[str, str]]:
    """(type, field) of every relation the admin's answer holds a value for."""
    from graphql import TypeInfo, parse, visit
    from graphql.language import Visitor

    present = filled(data)
    found: set[tuple[str, str]] = set()
    type_info = TypeInfo(GRAPHQL)

    class Collect(Visitor):
        def __init__(self) -> None:
            super().__init__()
            self.path: list[str] = []

        def enter_field(self, node, *_):
            parent = type_info.get_parent_type()
            self.path.append((node.alias or node.name).value)
            if parent is not None and tuple(p for p in self.path if p not in ("edges", "node")) in {
                    tuple(p for p in q if p not in ("edges", "node")) for q in present}:
                found.add((parent.name, node.name.value))

        def leave_field(self, *_):
            self.path.pop()

    from graphql.utilities import TypeInfoVisitor

    visit(parse(query), TypeInfoVisitor(type_info, Collect()))
    return found


def as_caller(query: str, tenant: dict[str, Any]) -> dict[str, Any]:
    """The tenant's token; its API key for `me`, so the key's own relations are walked."""
    if query.startswith("{ me "):
        return {"as_": None, "headers": {"Authorization": f"Bearer {tenant['key']}"}}
    return {"as_": tenant["principal"]}


async def test_a_partner_walking_every_relation_reaches_nothing_of_another(post_graphql, world):
    walked: set[tuple[str, str]] = set()
    reached: set[tuple[str, str]] = set()
    for me, other in DIRECTIONS:
        own, theirs = world[me], world[other]
        for query in walk_queries(own, world, walked):
            for attempt in ("normal path", "second time (single statement where it applies)"):
                result = await post_graphql(query, **as_caller(query, own))
                assert result.status == 200, (query, result.body)
                assert not result.errors, (query, result.body)
                body = json.dumps(result.body)
                assert not leaked(body, theirs, MARKS[other]), (attempt, query, leaked(body, theirs, MARKS[other]), body)
        # the same walk as an admin over the other partner's world (as that partner for
        # what only a partner may call, like myMembership): the data is there
        for query in walk_queries(theirs, world, set()):
            result = await post_graphql(query)
            if result.error_codes == ["FORBIDDEN"] or query.startswith("{ me "):
                result = await post_graphql(query, **as_caller(query, theirs))
            assert not result.errors, (query, result.body)
            reached |= walked_fields_filled(query, result.data)
    # every relation the walk follows held data at least once, so it was really tried
    empty = sorted(walked - reached - NOT_FILLABLE)
    assert not empty, f"relations the world holds no data for (add some to the fixture): {empty}"


def declared(type_name: str) -> dict[str, Any]:
    """GraphQL field name -> its declaration (schema/fields.py), for the fields the single
    statement writes in SQL."""
    definition = GRAPHQL.get_type(type_name)
    found = {}
    for name, graphql_field in definition.fields.items():
        source = declared_source((graphql_field.extensions or {}).get("strawberry-definition"))
        if source is not None:
            found[name] = source
    return found


def sql_selection(type_name: str, levels: int, walked: set[tuple[str, str]], *, lists: bool = True) -> str:
    """Every field the type declares for the single statement (schema/fields.py),
    relations and nested lists followed `levels` deep (no lists below a relation: that
    path does not take them)."""
    fields = declared(type_name)
    parts = ["__typename"] + [f"{name} {{ amount currency }}" if isinstance(source, MoneyOf) else name
                              for name, source in fields.items() if isinstance(source, (Column, MoneyOf, GlobalId))]
    if levels > 0:
        for name, source in fields.items():
            if isinstance(source, ToOne) and table_of(source.type_name) is not None:
                walked.add((type_name, name))
                parts.append(f"{name} {sql_selection(source.type_name, levels - 1, walked, lists=False)}")
        for name, source in fields.items() if lists else ():
            if not isinstance(source, ConnectionOf) or not partner_may_call(type_name, name):
                continue
            connection = named(GRAPHQL.get_type(type_name).fields[name].type)
            node_type = named(named(connection.fields["edges"].type).fields["node"].type).name
            walked.add((type_name, name))
            parts.append(f"{name}(first: 3) {{ totalCount edges {{ node {sql_selection(node_type, levels - 1, walked)} }} }}")
    return "{ " + " ".join(parts) + " }"


def sql_walk_queries(own: dict[str, Any], walked: set) -> list[str]:
    queries = []
    for name, graphql_field in GRAPHQL.query_type.fields.items():
        source = declared_source((graphql_field.extensions or {}).get("strawberry-definition"))
        target = named(graphql_field.type)
        if not partner_may_call("Query", name):
            continue
        if isinstance(source, RootConnection):
            node_type = named(named(target.fields["edges"].type).fields["node"].type).name
            queries.append(f"{{ {name}(first: 5) {{ totalCount edges {{ node {sql_selection(node_type, MAX_LEVELS, walked)} }} }} }}")
        elif isinstance(source, RootById):
            for customer in own["ids"]["Customer"]:
                queries.append(f'{{ {name}(id: "{customer}") {sql_selection(target.name, MAX_LEVELS, walked)} }}')
        elif isinstance(source, RootNode):
            for customer in own["ids"]["Customer"]:
                queries.append(f'{{ {name}(id: "{customer}") {{ ... on Customer '
                               f'{sql_selection("Customer", MAX_LEVELS, walked)} }} }}')
    return queries


async def test_the_single_statement_path_scopes_every_relation_alike(app, post_graphql, world):
    """The same walk over what the single statement declares: its answer (the second
    time a query is sent) holds nothing of the other partner either."""
    from tests.test_compiled import engine_of

    compiler = engine_of(app)
    walked: set[tuple[str, str]] = set()
    reached: set[tuple[str, str]] = set()
    for me, other in DIRECTIONS:
        own, theirs = world[me], world[other]
        for query in sql_walk_queries(own, walked):
            first = await post_graphql(query, as_=own["principal"])
            by_sql = compiler.paths["sql"]
            second = await post_graphql(query, as_=own["principal"])
            assert compiler.paths["sql"] == by_sql + 1, (query, compiler.gave_up)
            assert not first.errors and json.dumps(second.data, sort_keys=True) == json.dumps(first.data, sort_keys=True), query
            assert not leaked(json.dumps(second.body), theirs, MARKS[other]), (query, second.body)
        for query in sql_walk_queries(theirs, set()):
            result = await post_graphql(query)
            assert not result.errors, result.body
            reached |= walked_fields_filled(query, result.data)
    empty = sorted(walked - reached)
    assert not empty, f"relations the world holds no data for (add some to the fixture): {empty}"


# --- foreign ids ------------------------------------------------------------------------


def id_slots(root: str, field_name: str) -> list[tuple[str, list[str], str]]:
    """(argument, path inside it, type) of every ID the field takes: top-level ID
    arguments, and ID fields of its input objects (filters included), two levels deep."""
    field = (GRAPHQL.query_type if root == "Query" else GRAPHQL.mutation_type).fields[field_name]
    slots = []

    def within(graphql_type: Any, argument: str, path: list[str], owner: str, depth: int, container: str = "") -> None:
        inner = named(graphql_type)
        if isinstance(inner, GraphQLScalarType) and inner.name == "ID":
            kind = ID_ARGUMENT_TYPES.get((root, field_name, argument)) if not path else None
            if owner == "id" and container.endswith("Filter"):  # CustomerFilter.id: a Customer
                kind = container.removesuffix("Filter")
            kind = kind or ID_NAMES.get(owner) or ("*" if (root, field_name) == ("Query", "node") else None)
            assert kind, f"{root}.{field_name}({argument}: {'.'.join(path)}): declare which type this ID names in ID_ARGUMENT_TYPES"
            slots.append((argument, path, kind))
        elif isinstance(inner, GraphQLInputObjectType) and depth < 2:
            for name, f in inner.fields.items():
                if name in ("and", "or", "not"):
                    continue
                # filter operators (eq, in, ...) name the field they filter
                operator = name in ("eq", "in", "ne", "notIn")
                within(f.type, argument, path + [name], owner if operator else name, depth + 1,
                       container if operator else inner.name)

    for argument, arg in field.args.items():
        within(arg.type, argument, [], argument, 0)
    return slots


def value_at(graphql_type: Any, path: list[str], id_value: str, name: str, own: dict, world: dict) -> str:
    """The argument's literal with `id_value` at `path` and valid own values elsewhere."""
    if isinstance(graphql_type, GraphQLNonNull):
        return value_at(graphql_type.of_type, path, id_value, name, own, world)
    if isinstance(graphql_type, GraphQLList):
        return f"[{value_at(graphql_type.of_type, path, id_value, name, own, world)}]"
    if not path:
        return json.dumps(id_value)
    assert isinstance(graphql_type, GraphQLInputObjectType)
    head, rest = path[0], path[1:]
    parts = [f"{head}: {value_at(graphql_type.fields[head].type, rest, id_value, head, own, world)}"]
    parts += [f"{n}: {literal(f.type, n, own, world)}" for n, f in graphql_type.fields.items()
              if n != head and isinstance(f.type, GraphQLNonNull) and f.default_value is Undefined]
    return "{" + ", ".join(parts) + "}"


def call(root: str, field_name: str, argument: str, path: list[str], id_value: str, own: dict, world: dict) -> str:
    field = (GRAPHQL.query_type if root == "Query" else GRAPHQL.mutation_type).fields[field_name]
    arguments = [f"{argument}: {value_at(field.args[argument].type, path, id_value, argument, own, world)}"]
    for a, arg in field.args.items():
        if a == argument:
            continue
        if a == "lines" and field_name == "priceQuote":
            arguments.append(f'lines: [{{productId: "{world["product"]}", quantity: 1}}]')
        elif isinstance(arg.type, GraphQLNonNull) and arg.default_value is Undefined:
            arguments.append(f"{a}: {literal(arg.type, a, own, world)}")
    inner = named(field.type)
    shown = ""
    if not isinstance(inner, (GraphQLScalarType, GraphQLEnumType)):
        shown = selection(inner, 1, set(), own, world)
    keyword = "mutation " if root == "Mutation" else ""
    return f"{keyword}{{ {field_name}({', '.join(arguments)}) {shown} }}"


def normalised(body: dict[str, Any], *ids: str) -> str:
    """The answer with the request id and the ids given left out."""
    for error in body.get("errors") or []:
        (error.get("extensions") or {}).pop("requestId", None)
    text_ = json.dumps(body, sort_keys=True)
    for i in ids:
        text_ = text_.replace(i, "<ID>")
    return text_


async def fingerprint(connection) -> dict[str, str]:
    out = {}
    for table in Base.metadata.sorted_tables:
        row = await connection.execute(text(f'SELECT count(*), md5(coalesce(string_agg(t::text, \'|\' ORDER BY t::text), \'\')) FROM "{table.name}" t'))
        out[table.name] = str(tuple(row.one()))
    return out


ID_FIELDS = [(root, name) for root in ("Query", "Mutation") for name in partner_roots(root) if id_slots(root, name)]


def test_every_id_argument_a_partner_may_send_is_walked():
    # one entry per root field with an ID argument; the assertion inside id_slots fails
    # for an ID whose type is not declared
    assert ("Mutation", "dealRegister") in ID_FIELDS and ("Query", "node") in ID_FIELDS


async def test_another_partners_ids_answer_as_unknown_ones_and_change_nothing(post_graphql, world, connection):
    tried = 0
    for me, other in DIRECTIONS:
        own, theirs = world[me], world[other]
        for root, field_name in ID_FIELDS:
            for argument, path, kind in id_slots(root, field_name):
                foreign_ids = {t: theirs["ids"].get(t, []) + world["staff"].get(t, []) for t in set(theirs["ids"]) | set(world["staff"])}
                kinds = sorted(foreign_ids) if kind == "*" else [kind]
                for type_name in kinds:
                    if type_name not in foreign_ids:
                        continue  # public types (products, programmes): nothing of theirs
                    unknown = gid(type_name, UNKNOWN_PK)
                    for foreign in foreign_ids[type_name]:
                        before = await fingerprint(connection)
                        answers = []
                        for value in (foreign, unknown):
                            query = call(root, field_name, argument, path, value, own, world)
                            result = await post_graphql(query, as_=own["principal"])
                            assert result.status == 200 and "INTERNAL_SERVER_ERROR" not in result.error_codes, (query, result.body)
                            assert not leaked(json.dumps(result.body), theirs, MARKS[other]), (query, result.body)
                            answers.append(normalised(result.body, value))
                        assert answers[0] == answers[1], (root, field_name, argument, path, type_name, answers)
                        assert await fingerprint(connection) == before, (root, field_name, argument, path, type_name)
                        tried += 1
    assert tried > 50


PARTNER_LIST_FILTERS = {  # root list -> its filter's relation fields (resolvers/*_ID_FILTERS)
    "customers": ("resolvers.customers", "CUSTOMER_ID_FILTERS"),
    "opportunities": ("resolvers.opportunities", "OPPORTUNITY_ID_FILTERS"),
    "orders": ("resolvers.orders", "ORDER_ID_FILTERS"),
}


def test_every_list_a_partner_reads_is_checked_for_its_relation_filters():
    def filters_a_relation(name: str) -> bool:
        argument = GRAPHQL.query_type.fields[name].args.get("filter")
        return argument is not None and any(named(f.type).name == "IDFilter" for n, f in named(argument.type).fields.items()
                                            if n != "id")
    lists = {name for name in partner_roots("Query") if filters_a_relation(name)}
    assert lists == set(PARTNER_LIST_FILTERS)


async def test_a_relation_filter_agrees_with_the_relation_field_a_partner_reads(post_graphql, world):
    """Filtering on a relation (`owner: {isNull: ...}`, `referringPartner: {eq: ...}`)
    finds exactly the rows whose relation field the caller reads so: a partner cannot
    learn by filtering who owns its rows or who referred a customer."""
    import importlib

    for me in ("a", "b"):
        own = world[me]
        for list_name, (module, constant) in PARTNER_LIST_FILTERS.items():
            relations = {name: kind for name, kind in getattr(importlib.import_module(module), constant).items() if name != "id"}
            fields = " ".join(f"{camel(name)} {{ id }}" for name in relations)
            everything = await post_graphql(f"{{ {list_name}(first: 100) {{ edges {{ node {{ id {fields} }} }} }} }}", as_=own["principal"])
            assert not everything.errors, everything.body
            rows = [e["node"] for e in everything.data[list_name]["edges"]]
            for name, kind in relations.items():
                field = camel(name)
                candidates = {gid(kind, UNKNOWN_PK)} | {i for t in (world["a"], world["b"]) for i in t["ids"].get(kind, [])} | \
                    set(world["staff"].get(kind, [])) | {(row[field] or {}).get("id") for row in rows} - {None}
                cases = [({"isNull": flag}, lambda row, flag=flag: (row[field] is None) == flag) for flag in (True, False)]
                cases += [({"eq": value}, lambda row, value=value: (row[field] or {}).get("id") == value) for value in candidates]
                for condition, holds in cases:
                    query = f"query($f: {named(GRAPHQL.query_type.fields[list_name].args['filter'].type).name}) " \
                            f"{{ {list_name}(first: 100, filter: $f) {{ edges {{ node {{ id }} }} }} }}"
                    found = await post_graphql(query, {"f": {field: condition}}, as_=own["principal"])
                    assert not found.errors, found.body
                    assert [e["node"]["id"] for e in found.data[list_name]["edges"]] == [r["id"] for r in rows if holds(r)], \
                        (me, list_name, field, condition)


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
