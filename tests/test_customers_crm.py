"""Customers beyond creation: updates, duplicates, archive/restore, merge, filters, ordering."""

from __future__ import annotations

import pytest

from tests.helpers import count_of, gid, new_channel, new_customer, new_opportunity, new_product, new_user, ok, refused

UPDATE = """mutation($id: ID!, $input: CustomerUpdateInput!, $dup: Boolean) {
  customerUpdate(id: $id, input: $input, allowDuplicate: $dup) {
    customer { id name email phone taxId classification tags attributes consent { doNotContact emailOptOut }
               owner { id } sourceChannel { id } referringPartner { id } }
    errors { field code message relatedId } } }"""
CREATE = """mutation($input: CustomerCreateInput!, $dup: Boolean) {
  customerCreate(input: $input, allowDuplicate: $dup) { customer { id name } errors { field code message relatedId } } }"""
ARCHIVE = "mutation($id: ID!) { customerArchive(id: $id) { customer { id archivedAt } errors { field code } } }"
RESTORE = "mutation($id: ID!) { customerRestore(id: $id) { customer { id archivedAt } errors { field code relatedId } } }"
MERGE = """mutation($into: ID!, $from: ID!) { customerMerge(intoId: $into, fromId: $from) {
  customer { id email tags attributes contacts { totalCount } opportunities { totalCount } orders { totalCount } }
  merge { id moved mergedSnapshot merged { id archivedAt mergedInto { id } } }
  errors { field code } } }"""


async def test_update_changes_only_what_is_sent(post_graphql):
    owner = await new_user(post_graphql)
    channel = await new_channel(post_graphql)
    customer = await new_customer(post_graphql, "Fabrikam", email="a@fabrikam.example", tags=["x"])
    payload = await ok(post_graphql, UPDATE, {"id": customer, "input": {
        "classification": "CUSTOMER", "ownerId": owner, "sourceChannelId": channel,
        "consent": {"doNotContact": True}}}, "customerUpdate")
    c = payload["customer"]
    assert c["name"] == "Fabrikam" and c["email"] == "a@fabrikam.example" and c["tags"] == ["x"]
    assert c["classification"] == "CUSTOMER" and c["owner"] == {"id": owner} and c["sourceChannel"] == {"id": channel}
    assert c["consent"] == {"doNotContact": True, "emailOptOut": False}
    # null clears an optional field
    payload = await ok(post_graphql, UPDATE, {"id": customer, "input": {"email": None, "ownerId": None}}, "customerUpdate")
    assert payload["customer"]["email"] is None and payload["customer"]["owner"] is None


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"name": None}, "name", "REQUIRED"),
        ({"name": "  "}, "name", "REQUIRED"),
        ({"classification": None}, "classification", "REQUIRED"),
        ({"consent": {"doNotContact": None}}, "doNotContact", "REQUIRED"),
        ({"email": "nope"}, "email", "INVALID"),
        ({"ownerId": "not-an-id"}, "ownerId", "INVALID"),
        ({"ownerId": gid("Customer", 1)}, "ownerId", "INVALID"),  # an ID of the wrong type
        ({"ownerId": gid("User", 999999)}, "ownerId", "NOT_FOUND"),
        ({"sourceChannelId": gid("Channel", 999999)}, "sourceChannelId", "NOT_FOUND"),
        ({"referringPartnerId": gid("Customer", 999999)}, "referringPartnerId", "NOT_FOUND"),
    ],
)
async def test_update_refuses_bad_input_and_changes_nothing(post_graphql, changes, field, code):
    customer = await new_customer(post_graphql, "Steady", email="s@steady.example")
    assert await refused(post_graphql, UPDATE, {"id": customer, "input": changes}, "customerUpdate") == [(field, code)]
    node = await post_graphql("query($id: ID!) { customer(id: $id) { name email classification owner { id } } }", {"id": customer})
    assert node.data["customer"] == {"name": "Steady", "email": "s@steady.example", "classification": "POTENTIAL", "owner": None}


async def test_referring_partner_must_be_a_partner(post_graphql):
    not_partner = await new_customer(post_graphql, "Plain")
    partner = await new_customer(post_graphql, "Agent", classification="PARTNER")
    customer = await new_customer(post_graphql, "Referred")
    assert await refused(post_graphql, UPDATE, {"id": customer, "input": {"referringPartnerId": not_partner}},
                         "customerUpdate") == [("referringPartnerId", "NOT_A_PARTNER")]
    assert await refused(post_graphql, UPDATE, {"id": partner, "input": {"referringPartnerId": partner}},
                         "customerUpdate") == [("referringPartnerId", "INVALID")]
    payload = await ok(post_graphql, UPDATE, {"id": customer, "input": {"referringPartnerId": partner}}, "customerUpdate")
    assert payload["customer"]["referringPartner"] == {"id": partner}
    referred = await post_graphql("query($id: ID!) { customer(id: $id) { referredCustomers { edges { node { name } } } } }", {"id": partner})
    assert referred.data["customer"]["referredCustomers"]["edges"] == [{"node": {"name": "Referred"}}]


async def test_update_of_a_missing_or_malformed_customer(post_graphql):
    assert await refused(post_graphql, UPDATE, {"id": gid("Customer", 424242), "input": {"name": "X"}}, "customerUpdate") == [("id", "NOT_FOUND")]
    assert await refused(post_graphql, UPDATE, {"id": "garbage", "input": {"name": "X"}}, "customerUpdate") == [("id", "INVALID")]
    assert await refused(post_graphql, UPDATE, {"id": gid("Product", 1), "input": {"name": "X"}}, "customerUpdate") == [("id", "INVALID")]


# --- duplicates -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "field"),
    [
        ({"email": "Ops@Contoso.example"}, {"email": " ops@contoso.EXAMPLE "}, "email"),
        ({"phone": "+44 (20) 7946-0000"}, {"phone": "+44 20 79460000"}, "phone"),
        ({"taxId": "DE 123.456-789"}, {"taxId": "de123456789"}, "taxId"),
    ],
)
async def test_duplicates_are_refused_naming_the_existing_customer(post_graphql, first, second, field):
    existing = await new_customer(post_graphql, "Contoso", **first)
    before = await count_of(post_graphql, "customers")
    result = await post_graphql(CREATE, {"input": {"name": "Contoso Ltd", **second}})
    [error] = result.data["customerCreate"]["errors"]
    assert (error["field"], error["code"], error["relatedId"]) == (field, "DUPLICATE", existing)
    assert "Contoso" in error["message"]
    assert await count_of(post_graphql, "customers") == before
    # unless the client asks for it
    forced = await post_graphql(CREATE, {"input": {"name": "Contoso Ltd", **second}, "dup": True})
    assert forced.data["customerCreate"]["errors"] == []


async def test_duplicate_check_on_update_ignores_the_customer_itself_and_archived_ones(post_graphql):
    a = await new_customer(post_graphql, "A", email="same@example.com")
    payload = await ok(post_graphql, UPDATE, {"id": a, "input": {"email": "same@example.com", "name": "A2"}}, "customerUpdate")
    assert payload["customer"]["name"] == "A2"
    b = await new_customer(post_graphql, "B")
    errors = (await post_graphql(UPDATE, {"id": b, "input": {"email": "SAME@example.com"}})).data["customerUpdate"]["errors"]
    assert [(e["field"], e["code"], e["relatedId"]) for e in errors] == [("email", "DUPLICATE", a)]
    await ok(post_graphql, ARCHIVE, {"id": a}, "customerArchive")
    await ok(post_graphql, UPDATE, {"id": b, "input": {"email": "same@example.com"}}, "customerUpdate")


async def test_customer_duplicates_lists_groups(post_graphql):
    a = await new_customer(post_graphql, "A", email="dup@example.com", phone="+1 555 0100")
    b = await new_customer(post_graphql, "B", email="dup@example.com")
    c = await new_customer(post_graphql, "C", phone="1-555-0100")
    await new_customer(post_graphql, "D", email="unique@example.com")
    result = await post_graphql("{ customerDuplicates { totalCount edges { node { reason value customers { id } } } } }")
    assert not result.errors, result.body
    groups = [e["node"] for e in result.data["customerDuplicates"]["edges"]]
    assert groups == [
        {"reason": "EMAIL", "value": "dup@example.com", "customers": [{"id": a}, {"id": b}]},
        {"reason": "PHONE", "value": "15550100", "customers": [{"id": a}, {"id": c}]},
    ]
    assert result.data["customerDuplicates"]["totalCount"] == 2


# --- archive / restore ----------------------------------------------------------------


async def test_archive_hides_from_lists_and_restore_brings_back(post_graphql):
    customer = await new_customer(post_graphql, "Gone Soon")
    archived = (await ok(post_graphql, ARCHIVE, {"id": customer}, "customerArchive"))["customer"]
    assert archived["archivedAt"] is not None
    assert await count_of(post_graphql, "customers") == 0
    assert await count_of(post_graphql, "customers", "CustomerFilter", {"archived": True}) == 1
    assert await refused(post_graphql, ARCHIVE, {"id": customer}, "customerArchive") == [("id", "NO_CHANGE")]
    # an archived customer cannot be changed until restored
    assert await refused(post_graphql, UPDATE, {"id": customer, "input": {"name": "X"}}, "customerUpdate") == [("id", "ARCHIVED")]
    restored = (await ok(post_graphql, RESTORE, {"id": customer}, "customerRestore"))["customer"]
    assert restored["archivedAt"] is None
    assert await count_of(post_graphql, "customers") == 1
    assert await refused(post_graphql, RESTORE, {"id": customer}, "customerRestore") == [("id", "NO_CHANGE")]


# --- merge ----------------------------------------------------------------------------


async def test_merge_moves_everything_and_keeps_an_audit_record(post_graphql):
    survivor = await new_customer(post_graphql, "Northwind", tags=["a"], attributes={"region": "north"})
    merged = await new_customer(post_graphql, "Northwind Traders", email="info@northwind.example", tags=["a", "b"],
                                attributes={"region": "south", "industry": "retail"})
    await ok(post_graphql, """mutation($input: ContactCreateInput!) { contactCreate(input: $input) { contact { id } errors { code } } }""",
             {"input": {"customerId": merged, "name": "Nancy"}}, "contactCreate")
    await new_opportunity(post_graphql, merged)
    product = await new_product(post_graphql)
    await ok(post_graphql, """mutation($input: OrderPlaceInput!) { orderPlace(input: $input) { order { id } errors { code } } }""",
             {"input": {"customerId": merged, "lines": [{"productId": product, "quantity": 1}]}}, "orderPlace")

    payload = await ok(post_graphql, MERGE, {"into": survivor, "from": merged}, "customerMerge")
    customer = payload["customer"]
    assert customer["id"] == survivor
    assert customer["email"] == "info@northwind.example"  # taken, since the survivor had none
    assert customer["tags"] == ["a", "b"]
    assert customer["attributes"] == {"region": "north", "industry": "retail"}  # the survivor's value wins
    assert customer["contacts"]["totalCount"] == 1
    assert customer["opportunities"]["totalCount"] == 1
    assert customer["orders"]["totalCount"] == 1
    merge = payload["merge"]
    assert merge["moved"]["contacts"] == 1 and merge["moved"]["orders"] == 1 and merge["moved"]["opportunities"] == 1
    assert merge["mergedSnapshot"]["name"] == "Northwind Traders"
    assert merge["merged"]["archivedAt"] is not None and merge["merged"]["mergedInto"] == {"id": survivor}
    # the merged customer is gone from lists and cannot be restored
    assert await count_of(post_graphql, "customers") == 1
    assert await refused(post_graphql, RESTORE, {"id": merged}, "customerRestore") == [("id", "MERGED")]
    timeline = await post_graphql("query($id: ID!) { customer(id: $id) { timeline { edges { node { item { __typename } } } } } }", {"id": survivor})
    assert "CustomerMerge" in [e["node"]["item"]["__typename"] for e in timeline.data["customer"]["timeline"]["edges"]]


@pytest.mark.parametrize("case", ["self", "missing", "archived", "malformed"])
async def test_merge_refusals_change_nothing(post_graphql, case):
    a = await new_customer(post_graphql, "A")
    b = await new_customer(post_graphql, "B")
    if case == "self":
        variables, expected = {"into": a, "from": a}, [("fromId", "MERGE_INTO_SELF")]
    elif case == "missing":
        variables, expected = {"into": a, "from": gid("Customer", 987654)}, [("fromId", "NOT_FOUND")]
    elif case == "archived":
        await ok(post_graphql, ARCHIVE, {"id": b}, "customerArchive")
        variables, expected = {"into": a, "from": b}, [("fromId", "ARCHIVED")]
    else:
        variables, expected = {"into": "nope", "from": b}, [("intoId", "INVALID")]
    assert await refused(post_graphql, MERGE, variables, "customerMerge") == expected
    assert await count_of(post_graphql, "customers", "CustomerFilter", {"archived": True}) == (1 if case == "archived" else 0)


async def test_a_partner_merges_only_into_a_partner(post_graphql):
    partner = await new_customer(post_graphql, "Agent", classification="PARTNER")
    plain = await new_customer(post_graphql, "Plain")
    assert await refused(post_graphql, MERGE, {"into": plain, "from": partner}, "customerMerge") == [("intoId", "NOT_A_PARTNER")]


# --- filters and ordering -------------------------------------------------------------

LIST = "query($f: CustomerFilter, $o: [CustomerOrder!]) { customers(filter: $f, orderBy: $o, first: 100) { edges { node { name } } } }"


async def names(post_graphql, filter=None, order=None) -> list[str]:
    result = await post_graphql(LIST, {"f": filter, "o": order})
    assert not result.errors, result.body
    return [e["node"]["name"] for e in result.data["customers"]["edges"]]


@pytest.fixture
async def book(post_graphql):
    owner = await new_user(post_graphql, "owner@example.com")
    await new_customer(post_graphql, "Alpha Retail", classification="CUSTOMER", tags=["retail", "vip"],
                       attributes={"industry": "retail", "size": 10}, email="a@alpha.example", ownerId=owner)
    await new_customer(post_graphql, "Beta Foods", classification="TARGET", tags=["food"],
                       attributes={"industry": "food"}, phone="+1 555 0101", consent={"doNotContact": True})
    await new_customer(post_graphql, "Gamma Retail", classification="CUSTOMER", tags=["retail"],
                       attributes={"industry": "retail", "size": 200}, email="g@gamma.example", consent={"emailOptOut": True})
    await new_customer(post_graphql, "Delta", kind="PERSON", lifecycleStage="LOYAL")
    return {"owner": owner}


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({"classification": {"eq": "CUSTOMER"}}, ["Alpha Retail", "Gamma Retail"]),
        ({"classification": {"in": ["TARGET", "POTENTIAL"]}}, ["Beta Foods", "Delta"]),
        ({"name": {"ilike": "%retail%"}}, ["Alpha Retail", "Gamma Retail"]),
        ({"name": {"eq": "Delta"}}, ["Delta"]),
        ({"email": {"isNull": False}}, ["Alpha Retail", "Gamma Retail"]),
        ({"tags": {"containsAny": ["vip", "food"]}}, ["Alpha Retail", "Beta Foods"]),
        ({"tags": {"containsAll": ["retail", "vip"]}}, ["Alpha Retail"]),
        ({"attributes": [{"key": "industry", "eq": "retail"}]}, ["Alpha Retail", "Gamma Retail"]),
        ({"attributes": [{"key": "industry", "in": ["food", "none"]}]}, ["Beta Foods"]),
        ({"attributes": [{"key": "size", "eq": 200}]}, ["Gamma Retail"]),
        ({"attributes": [{"key": "industry", "isNull": True}]}, ["Delta"]),
        ({"kind": {"eq": "PERSON"}}, ["Delta"]),
        ({"lifecycleStage": {"eq": "LOYAL"}}, ["Delta"]),
        ({"contactable": True}, ["Alpha Retail", "Gamma Retail", "Delta"]),
        ({"contactable": False}, ["Beta Foods"]),
        ({"contactableBy": "EMAIL"}, ["Alpha Retail"]),
        ({"contactableBy": "PHONE"}, []),
        ({"or": [{"name": {"eq": "Delta"}}, {"tags": {"containsAny": ["food"]}}]}, ["Beta Foods", "Delta"]),
        ({"not": {"classification": {"eq": "CUSTOMER"}}}, ["Beta Foods", "Delta"]),
        ({"and": [{"classification": {"eq": "CUSTOMER"}}, {"not": {"tags": {"containsAny": ["vip"]}}}]}, ["Gamma Retail"]),
        ({"classification": {"in": []}}, []),
    ],
)
async def test_customer_filters(post_graphql, book, filter, expected):
    assert await names(post_graphql, filter) == expected


async def test_filter_by_owner_id(post_graphql, book):
    assert await names(post_graphql, {"owner": {"eq": book["owner"]}}) == ["Alpha Retail"]
    assert await names(post_graphql, {"owner": {"isNull": True}}) == ["Beta Foods", "Gamma Retail", "Delta"]


@pytest.mark.parametrize(
    ("filter", "code"),
    [
        ({"owner": {"eq": "garbage"}}, "INVALID_ID"),
        ({"owner": {"eq": gid("Customer", 1)}}, "INVALID_ID"),
        ({"classification": {"in": ["CUSTOMER"] * 101}}, "LIST_TOO_LONG"),
        ({"name": {"ilike": "x" * 201}}, "BAD_USER_INPUT"),
        ({"not": {"not": {"not": {"not": {"not": {"name": {"eq": "x"}}}}}}}, "BAD_USER_INPUT"),
        ({"attributes": [{"key": ""}]}, "BAD_USER_INPUT"),
    ],
)
async def test_bad_filters_are_refused_with_a_code(post_graphql, filter, code):
    result = await post_graphql(LIST, {"f": filter})
    assert result.data is None and result.error_codes == [code]


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ([{"field": "NAME"}], ["Alpha Retail", "Beta Foods", "Delta", "Gamma Retail"]),
        ([{"field": "NAME", "direction": "DESC"}], ["Gamma Retail", "Delta", "Beta Foods", "Alpha Retail"]),
        ([{"field": "CLASSIFICATION"}, {"field": "NAME", "direction": "DESC"}],
         ["Gamma Retail", "Alpha Retail", "Delta", "Beta Foods"]),
        ([{"field": "CREATED_AT", "direction": "DESC"}], ["Delta", "Gamma Retail", "Beta Foods", "Alpha Retail"]),
    ],
)
async def test_customer_ordering(post_graphql, book, order, expected):
    assert await names(post_graphql, None, order) == expected


async def test_paging_under_an_ordering_follows_it(post_graphql, book):
    query = """query($after: String) { customers(first: 1, after: $after, orderBy: [{field: NAME, direction: DESC}]) {
      edges { node { name } } pageInfo { endCursor hasNextPage } } }"""
    seen, after = [], None
    while True:
        result = (await post_graphql(query, {"after": after})).data["customers"]
        seen += [e["node"]["name"] for e in result["edges"]]
        if not result["pageInfo"]["hasNextPage"]:
            break
        after = result["pageInfo"]["endCursor"]
    assert seen == ["Gamma Retail", "Delta", "Beta Foods", "Alpha Retail"]
    # a cursor of one ordering is refused under another
    other = await post_graphql("query($a: String) { customers(first: 1, after: $a) { totalCount } }", {"a": after})
    assert other.error_codes == ["BAD_USER_INPUT"]
