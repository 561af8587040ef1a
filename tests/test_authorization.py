"""Who may call what: a matrix generated from the schema (every root field x every role),
and two partners trying every read and write path into each other's account."""

from __future__ import annotations

import pytest
from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType, Undefined

from crm.auth import Principal, Role
from schema.root import schema
from schema.permissions import Public, RolePermission
from tests.helpers import gid, new_customer, new_product, ok, required_literal
from tests.programme_helpers import agents_programme, enroll

PARTNER_ACCOUNT = 987_654
ROLES = {
    "admin": Principal("admin", Role.ADMIN),
    "manager": Principal("manager", Role.MANAGER),
    "sales": Principal("sales", Role.SALES),
    "partner": Principal("partner", Role.PARTNER, account_id=PARTNER_ACCOUNT),
    "anonymous": None,
}


def declared(root: str) -> dict[str, list]:
    definition = schema.get_type_by_name(root)
    return {schema.config.name_converter.get_graphql_name(f): list(f.permission_classes) for f in definition.fields}


def test_every_root_field_declares_who_may_call_it():
    for root in ("Query", "Mutation"):
        for name, permissions in declared(root).items():
            assert permissions, f"{root}.{name} declares no permission"
            assert all(issubclass(p, (RolePermission, Public)) for p in permissions), f"{root}.{name}"


def literal(gql_type, argument: str, role: str) -> str:
    """A minimal value of a type, for required arguments and input fields."""
    return required_literal(gql_type, argument, lambda name: gid("Customer", PARTNER_ACCOUNT if name == "accountId" else 999_999),
                            list_items=False)


def operation(root: str, name: str, role: str) -> str:
    field = getattr(schema._schema, "query_type" if root == "Query" else "mutation_type").fields[name]
    args = [f"{arg}: {literal(a.type, arg, role)}" for arg, a in field.args.items()
            if isinstance(a.type, GraphQLNonNull) and a.default_value is Undefined]
    named = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
    while isinstance(named, (GraphQLList, GraphQLNonNull)):
        named = named.of_type
    selection = " { __typename }" if isinstance(named, GraphQLObjectType) or hasattr(named, "types") or hasattr(named, "fields") else ""
    call = f"{name}({', '.join(args)})" if args else name
    return f"{'mutation ' if root == 'Mutation' else ''}{{ {call}{selection} }}"


FIELDS = [(root, name) for root in ("Query", "Mutation") for name in declared(root)]


@pytest.mark.parametrize(("root", "name"), FIELDS, ids=[f"{r}.{n}" for r, n in FIELDS])
async def test_authorization_matrix(post_graphql, root, name):
    permissions = declared(root)[name]
    public = any(issubclass(p, Public) for p in permissions)
    allowed = set() if public else {role.value for p in permissions for role in p.roles}
    for role, principal in ROLES.items():
        result = await post_graphql(operation(root, name, role), as_=principal)
        assert result.status == 200, (role, result.body)
        codes = set(result.error_codes)
        assert "GRAPHQL_VALIDATION_FAILED" not in codes, (role, result.body)
        if public:
            assert not codes & {"UNAUTHENTICATED", "FORBIDDEN"}, (role, result.body)
        elif principal is None:
            assert "UNAUTHENTICATED" in codes, (role, result.body)
        elif role in allowed:
            assert not codes & {"UNAUTHENTICATED", "FORBIDDEN"}, (role, result.body)
        else:
            assert codes == {"FORBIDDEN"}, (role, result.body)


# --- two partners ---------------------------------------------------------------------


@pytest.fixture
async def tenants(post_graphql):
    setup = await agents_programme(post_graphql, effective_from="2020-01-01T00:00:00+08:00")
    product = await new_product(post_graphql, "STD", "100.00", currency="CNY")
    world = {"programme": setup["programme"], "product": product}
    for key in ("a", "b"):
        account = await new_customer(post_graphql, f"Partner {key}", classification="PARTNER")
        referred = await new_customer(post_graphql, f"Referred by {key}", referringPartnerId=account)
        membership = (await enroll(post_graphql, account, setup["programme"], "B", "300000", "2026-01-05T00:00:00+08:00"))["membership"]["id"]
        deal = (await ok(post_graphql, """mutation($i: OpportunityCreateInput!) { opportunityCreate(input: $i) { opportunity { id } errors { code } } }""",
                         {"i": {"customerId": referred, "name": f"Deal {key}", "amount": {"amount": "10", "currency": "CNY"},
                                "registeringPartnerId": account}}, "opportunityCreate"))["opportunity"]["id"]
        order = (await ok(post_graphql, """mutation($i: OrderPlaceInput!) { orderPlace(input: $i) { order { id } errors { code } } }""",
                          {"i": {"customerId": account, "lines": [{"productId": product, "quantity": 1}]}}, "orderPlace"))["order"]["id"]
        _, pk = __import__("base64").b64decode(account).decode().split(":")
        principal = Principal(f"partner-{key}", Role.PARTNER, account_id=int(pk))
        booking = (await ok(post_graphql, """mutation($m: ID!) { trainingBook(membershipId: $m, title: "T", sessionAt: "2099-01-01T00:00:00Z") {
            booking { id } errors { code } } }""", {"m": membership}, "trainingBook", as_=principal))["booking"]["id"]
        world[key] = {"account": account, "referred": referred, "membership": membership, "deal": deal, "order": order,
                      "booking": booking, "principal": principal}
    return world


async def test_each_partner_sees_only_its_own(post_graphql, tenants):
    for me, other in (("a", "b"), ("b", "a")):
        mine, theirs, as_me = tenants[me], tenants[other], {"as_": tenants[me]["principal"]}
        lists = await post_graphql("""{ customers { edges { node { id } } } orders { edges { node { id } } }
            opportunities { edges { node { id } } } myMembership { id } }""", **as_me)
        assert not lists.errors, lists.body
        assert [e["node"]["id"] for e in lists.data["customers"]["edges"]] == [mine["referred"]]
        assert [e["node"]["id"] for e in lists.data["orders"]["edges"]] == [mine["order"]]
        assert [e["node"]["id"] for e in lists.data["opportunities"]["edges"]] == [mine["deal"]]
        assert lists.data["myMembership"]["id"] == mine["membership"]
        # no path into the other account: not found, not even forbidden
        for node_id in (theirs["account"], theirs["referred"], theirs["membership"], theirs["order"], theirs["deal"], theirs["booking"]):
            result = await post_graphql("query($id: ID!) { node(id: $id) { id } }", {"id": node_id}, **as_me)
            assert result.errors == [] and result.data == {"node": None}, node_id
        for customer in (theirs["account"], theirs["referred"]):
            result = await post_graphql("query($id: ID!) { customer(id: $id) { id } }", {"id": customer}, **as_me)
            assert result.data == {"customer": None}
        result = await post_graphql("query($a: ID!) { membership(accountId: $a) { id } tierAt(accountId: $a, at: \"2026-06-01T00:00:00Z\") { toRank } }",
                                    {"a": theirs["account"]}, **as_me)
        assert result.errors == [] and result.data == {"membership": None, "tierAt": None}
        quote = await post_graphql("query($a: ID!, $p: ID!) { priceQuote(accountId: $a, lines: [{productId: $p, quantity: 1}]) { total { amount } } }",
                                   {"a": theirs["account"], "p": tenants["product"]}, **as_me)
        unknown = await post_graphql("query($a: ID!, $p: ID!) { priceQuote(accountId: $a, lines: [{productId: $p, quantity: 1}]) { total { amount } } }",
                                     {"a": "Q3VzdG9tZXI6OTk5OTk5OTk=", "p": tenants["product"]}, **as_me)
        # another partner's account is not found, exactly as an account that does not exist
        assert quote.error_codes == unknown.error_codes == ["INVALID_ID"]
        assert quote.errors[0]["message"] == unknown.errors[0]["message"]
        own_quote = await post_graphql("query($a: ID!, $p: ID!) { priceQuote(accountId: $a, lines: [{productId: $p, quantity: 1}]) { total { amount } } }",
                                       {"a": mine["account"], "p": tenants["product"]}, **as_me)
        assert own_quote.data["priceQuote"]["total"]["amount"] == "90.00"
        # nested paths: its own account's orders only; no contacts or activities of anyone
        nested = await post_graphql("query($id: ID!) { customer(id: $id) { orders { totalCount } referredCustomers { totalCount } } }",
                                    {"id": mine["account"]}, **as_me)
        assert nested.data["customer"] == {"orders": {"totalCount": 1}, "referredCustomers": {"totalCount": 1}}
        hidden = await post_graphql("query($id: ID!) { customer(id: $id) { contacts { totalCount } } }", {"id": mine["referred"]}, **as_me)
        assert hidden.error_codes == ["FORBIDDEN"]
        referred_orders = await post_graphql("query($id: ID!) { customer(id: $id) { orders { totalCount } } }", {"id": mine["referred"]}, **as_me)
        assert referred_orders.data["customer"]["orders"]["totalCount"] == 0


async def test_each_partner_changes_only_its_own(post_graphql, tenants):
    for me, other in (("a", "b"), ("b", "a")):
        theirs, as_me = tenants[other], {"as_": tenants[me]["principal"]}
        book = await post_graphql("""mutation($m: ID!) { trainingBook(membershipId: $m, title: "T", sessionAt: "2099-01-01T00:00:00Z") {
            booking { id } errors { field code } } }""", {"m": theirs["membership"]}, **as_me)
        assert book.data["trainingBook"] == {"booking": None, "errors": [{"field": "membershipId", "code": "NOT_FOUND"}]}
        cancel = await post_graphql("mutation($id: ID!) { trainingCancel(id: $id) { booking { id } errors { field code } } }",
                                    {"id": theirs["booking"]}, **as_me)
        assert cancel.data["trainingCancel"] == {"booking": None, "errors": [{"field": "id", "code": "NOT_FOUND"}]}
        for mutation, variables in (
            ("mutation($id: ID!) { customerUpdate(id: $id, input: {name: \"Mine now\"}) { errors { code } } }", {"id": theirs["account"]}),
            ("mutation($id: ID!) { opportunityMoveStage(id: $id, stage: WON) { errors { code } } }", {"id": theirs["deal"]}),
            ("mutation($id: ID!) { orderCancel(id: $id) { errors { code } } }", {"id": theirs["order"]}),
            ("mutation($m: ID!) { qualifyingAdjust(membershipId: $m, amount: \"1\", reason: \"x\") { errors { code } } }", {"m": theirs["membership"]}),
        ):
            assert (await post_graphql(mutation, variables, **as_me)).error_codes == ["FORBIDDEN"], mutation
    # the other partner's booking is still there
    view = await post_graphql("query($a: ID!) { membership(accountId: $a) { training { used } } }", {"a": tenants["b"]["account"]})
    assert view.data["membership"]["training"]["used"] == 1


async def test_sales_changes_only_what_it_owns(post_graphql):
    import base64

    owner = await post_graphql("""mutation { userCreate(input: {email: "s1@example.com", name: "S1", role: SALES}) { user { id } } }""")
    user_id = owner.data["userCreate"]["user"]["id"]
    pk = int(base64.b64decode(user_id).decode().split(":")[1])
    sales = Principal("s1", Role.SALES, user_id=pk)
    mine = await new_customer(post_graphql, "Mine", ownerId=user_id)
    theirs = await new_customer(post_graphql, "Theirs")
    update = "mutation($id: ID!) { customerUpdate(id: $id, input: {name: \"Renamed\"}) { customer { name } errors { code } } }"
    assert (await post_graphql(update, {"id": mine}, as_=sales)).data["customerUpdate"]["customer"]["name"] == "Renamed"
    assert (await post_graphql(update, {"id": theirs}, as_=sales)).error_codes == ["FORBIDDEN"]
    # but sales reads every customer
    assert (await post_graphql("{ customers { totalCount } }", as_=sales)).data["customers"]["totalCount"] == 2


async def test_the_isolation_holes_found_from_outside_stay_closed(post_graphql, tenants):
    """The three holes an outside test found: dealRegister on another partner's account,
    referred customer or deal (it re-assigned the deal); another partner's account
    reached through a deal's customer and a merged customer; and dealRegister's answers
    telling a claimed foreign customer, a foreign deal and a missing id apart."""
    a, b = tenants["a"], tenants["b"]
    as_a = {"as_": a["principal"]}
    register = """mutation($c: ID!, $o: ID) { dealRegister(customerId: $c, opportunityId: $o) {
        registration { id } errors { field code message relatedId } } }"""
    not_found = {"registration": None, "errors": [{"field": "customerId", "code": "NOT_FOUND",
                                                    "message": "No customer has this ID.", "relatedId": None}]}
    # b holds a registration on its referred customer
    assert (await post_graphql(register, {"c": b["referred"]}, as_=b["principal"])).data["dealRegister"]["errors"] == []
    for customer in (b["account"], b["referred"], gid("Customer", 999_999_999)):
        assert (await post_graphql(register, {"c": customer}, **as_a)).data["dealRegister"] == not_found, customer
    foreign_deal = await post_graphql(register, {"c": a["referred"], "o": b["deal"]}, **as_a)
    missing_deal = await post_graphql(register, {"c": a["referred"], "o": gid("Opportunity", 999_999_999)}, **as_a)
    assert foreign_deal.data == missing_deal.data == {"dealRegister": {"registration": None, "errors": [
        {"field": "opportunityId", "code": "NOT_FOUND", "message": "No opportunity has this ID.", "relatedId": None}]}}
    mine = await post_graphql("{ opportunities { edges { node { id } } } }", as_=b["principal"])
    assert [e["node"]["id"] for e in mine.data["opportunities"]["edges"]] == [b["deal"]]  # still b's
    # a customer a referred, merged into b's: mergedInto reads null for a
    duplicate = await new_customer(post_graphql, "Duplicate by a", referringPartnerId=a["account"])
    await ok(post_graphql, "mutation($i: ID!, $f: ID!) { customerMerge(intoId: $i, fromId: $f) { errors { code } } }",
             {"i": b["referred"], "f": duplicate}, "customerMerge")
    merged = await post_graphql("query($id: ID!) { customer(id: $id) { name mergedInto { id referringPartner { name } } } }",
                                {"id": duplicate}, **as_a)
    assert merged.data == {"customer": {"name": "Duplicate by a", "mergedInto": None}}
    # a deal staff registered for a on b's referred customer: a reads the customer, not who referred it
    shared = await ok(post_graphql, """mutation($i: OpportunityCreateInput!) { opportunityCreate(input: $i) { opportunity { id } errors { code } } }""",
                      {"i": {"customerId": b["referred"], "name": "Shared", "amount": {"amount": "1", "currency": "CNY"},
                             "registeringPartnerId": a["account"]}}, "opportunityCreate")
    seen = await post_graphql("query($id: ID!) { node(id: $id) { ... on Opportunity { customer { name referringPartner { name email } } } } }",
                              {"id": shared["opportunity"]["id"]}, **as_a)
    assert seen.data == {"node": {"customer": {"name": "Referred by b", "referringPartner": None}}}
