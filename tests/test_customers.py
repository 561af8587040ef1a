"""customers connection, node(id:) and customerCreate, as a client uses them."""

from __future__ import annotations

import base64

import pytest

from tests.conftest import ADMIN

CREATE = """
mutation Create($input: CustomerCreateInput!) {
  customerCreate(input: $input) {
    customer { id name kind classification lifecycleStage email phone tags attributes createdAt updatedAt }
    errors { field message code }
  }
}
"""

PAGE = """
query Page($first: Int, $after: String, $last: Int, $before: String) {
  customers(first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { id name } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""

COUNT = "{ customers(first: 1) { totalCount } }"


async def create(post_graphql, **fields):
    result = await post_graphql(CREATE, {"input": fields})
    assert result.status == 200 and not result.errors, result.body
    return result.data["customerCreate"]


async def total(post_graphql) -> int:
    result = await post_graphql(COUNT)
    assert not result.errors, result.body
    return result.data["customers"]["totalCount"]


async def seed(post_graphql, n: int) -> list[str]:
    names = [f"Customer {i:02d}" for i in range(n)]
    for name in names:
        payload = await create(post_graphql, name=name)
        assert payload["errors"] == []
    return names


# --- customerCreate -------------------------------------------------------------------


async def test_create_returns_the_stored_customer(post_graphql):
    payload = await create(
        post_graphql,
        name="  Northwind Traders ",
        kind="ORGANISATION",
        classification="PARTNER",
        lifecycleStage="LOYAL",
        email=" Sales@Northwind.Example ",
        phone="+44 (20) 7946-0000",
        tags=["wholesale", "a-level", "wholesale"],
        attributes={"industry": "distribution", "team_size": 40, "listed": False, "note": None},
    )
    assert payload["errors"] == []
    customer = payload["customer"]
    assert customer["name"] == "Northwind Traders"
    assert customer["kind"] == "ORGANISATION"
    assert customer["classification"] == "PARTNER"
    assert customer["lifecycleStage"] == "LOYAL"
    assert customer["email"] == "sales@northwind.example"
    assert customer["phone"] == "+44 (20) 7946-0000"
    assert customer["tags"] == ["wholesale", "a-level"]
    assert customer["attributes"] == {"industry": "distribution", "team_size": 40, "listed": False, "note": None}
    assert customer["createdAt"].endswith("+00:00")
    # What came back is what a later read returns.
    node = await post_graphql(
        "query($id: ID!) { node(id: $id) { id ... on Customer { name email tags attributes } } }",
        {"id": customer["id"]},
    )
    assert node.data["node"] == {
        "id": customer["id"],
        "name": "Northwind Traders",
        "email": "sales@northwind.example",
        "tags": ["wholesale", "a-level"],
        "attributes": customer["attributes"],
    }


async def test_create_defaults(post_graphql):
    customer = (await create(post_graphql, name="Ana Trujillo"))["customer"]
    assert customer["kind"] == "ORGANISATION"
    assert customer["classification"] == "POTENTIAL"
    assert customer["lifecycleStage"] == "LEAD"
    assert customer["email"] is None and customer["tags"] == [] and customer["attributes"] == {}


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"name": ""}, "name", "REQUIRED"),
        ({"name": "   \t "}, "name", "REQUIRED"),
        ({"name": "x" * 201}, "name", "TOO_LONG"),
        ({"name": "Bell\x07"}, "name", "INVALID"),
        ({"name": "Ok", "email": "not-an-email"}, "email", "INVALID"),
        ({"name": "Ok", "email": "a@b"}, "email", "INVALID"),
        ({"name": "Ok", "email": "two@@example.com"}, "email", "INVALID"),
        ({"name": "Ok", "email": "sp ace@example.com"}, "email", "INVALID"),
        ({"name": "Ok", "email": "a" * 250 + "@example.com"}, "email", "TOO_LONG"),
        ({"name": "Ok", "phone": "call me"}, "phone", "INVALID"),
        ({"name": "Ok", "phone": "1" * 41}, "phone", "TOO_LONG"),
        ({"name": "Ok", "tags": ["ok", ""]}, "tags", "INVALID"),
        ({"name": "Ok", "tags": ["t" * 65]}, "tags", "TOO_LONG"),
        ({"name": "Ok", "tags": [f"t{i}" for i in range(51)]}, "tags", "TOO_MANY"),
        ({"name": "Ok", "attributes": ["not", "an", "object"]}, "attributes", "INVALID"),
        ({"name": "Ok", "attributes": "text"}, "attributes", "INVALID"),
        ({"name": "Ok", "attributes": {"nested": {"a": 1}}}, "attributes", "INVALID"),
        ({"name": "Ok", "attributes": {"": 1}}, "attributes", "INVALID"),
        ({"name": "Ok", "attributes": {"k": "v" * 1001}}, "attributes", "TOO_LONG"),
        ({"name": "Ok", "attributes": {f"k{i}": i for i in range(51)}}, "attributes", "TOO_MANY"),
    ],
)
async def test_create_refuses_bad_input_and_writes_nothing(post_graphql, fields, field, code):
    before = await total(post_graphql)
    result = await post_graphql(CREATE, {"input": fields})
    assert result.status == 200 and not result.errors, result.body
    payload = result.data["customerCreate"]
    assert payload["customer"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [(field, code)]
    assert payload["errors"][0]["message"]
    assert await total(post_graphql) == before


async def test_create_reports_every_bad_field_at_once(post_graphql):
    result = await post_graphql(CREATE, {"input": {"name": "", "email": "nope", "phone": "x"}})
    errors = result.data["customerCreate"]["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [
        ("name", "REQUIRED"), ("email", "INVALID"), ("phone", "INVALID"),
    ]


@pytest.mark.parametrize(
    "variables",
    [
        {"input": {}},  # no name
        {"input": {"name": None}},
        {"input": {"name": 42}},
        {"input": {"name": "Ok", "kind": "ROBOT"}},
        {"input": {"name": "Ok", "classification": "partner"}},  # enum names, not values
        {"input": {"name": "Ok", "tags": [None]}},
        {"input": {"name": "Ok", "unknownField": 1}},
        {"input": "not an object"},
        {},
    ],
)
async def test_create_with_ill_typed_input_is_a_validation_error(post_graphql, variables):
    before = await total(post_graphql)
    result = await post_graphql(CREATE, variables)
    assert result.status == 200
    assert result.data is None
    assert set(result.error_codes) == {"GRAPHQL_VALIDATION_FAILED"}
    assert "Traceback" not in str(result.body)
    assert await total(post_graphql) == before


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
async def test_non_finite_numbers_in_raw_json_are_refused(client, post_graphql, constant):
    # Python's JSON parser accepts NaN and Infinity, which PostgreSQL's jsonb does not.
    body = '{"query": %s, "variables": {"input": {"name": "Ok", "attributes": {"x": CONSTANT}}}}'.replace("CONSTANT", constant)
    import json

    from tests.conftest import token_for

    before = await total(post_graphql)
    response = await client.post(
        "/graphql",
        content=body % json.dumps(CREATE),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token_for(ADMIN)}"},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert await total(post_graphql) == before


def test_the_service_refuses_non_finite_attribute_values_too():
    from kernel.errors import DomainError
    from kernel.validation import Checker

    for value in (float("nan"), float("inf")):
        check = Checker()
        check.attributes("attributes", {"x": value})
        with pytest.raises(DomainError) as refused:
            check.done()
        assert [(e.field, e.code) for e in refused.value.errors] == [("attributes", "invalid")]


async def test_create_needs_a_caller(post_graphql):
    before = await total(post_graphql)
    result = await post_graphql(CREATE, {"input": {"name": "Anonymous Ltd"}}, as_=None)
    assert result.data is None
    assert result.error_codes == ["UNAUTHENTICATED"]
    assert await total(post_graphql) == before


# --- customers connection -------------------------------------------------------------


async def walk(post_graphql, *, forward: bool, size: int) -> list[str]:
    """Every name, page by page, following the cursors the server hands out."""
    names: list[str] = []
    cursor = None
    while True:
        if forward:
            variables = {"first": size, "after": cursor}
        else:
            variables = {"last": size, "before": cursor}
        result = await post_graphql(PAGE, variables)
        assert not result.errors, result.body
        connection = result.data["customers"]
        page = [edge["node"]["name"] for edge in connection["edges"]]
        assert len(page) <= size
        info = connection["pageInfo"]
        if forward:
            names += page
            more, cursor = info["hasNextPage"], info["endCursor"]
        else:
            names = page + names
            more, cursor = info["hasPreviousPage"], info["startCursor"]
        if page:
            assert info["startCursor"] == connection["edges"][0]["cursor"]
            assert info["endCursor"] == connection["edges"][-1]["cursor"]
        if not more:
            return names


@pytest.mark.parametrize("size", [1, 3, 7, 100])
async def test_paging_forwards_and_backwards_sees_every_customer_once(post_graphql, size):
    names = await seed(post_graphql, 7)
    assert await walk(post_graphql, forward=True, size=size) == names
    assert await walk(post_graphql, forward=False, size=size) == names


async def test_page_info_flags(post_graphql):
    await seed(post_graphql, 5)
    first = (await post_graphql(PAGE, {"first": 2})).data["customers"]
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["pageInfo"]["hasPreviousPage"] is False
    middle = (await post_graphql(PAGE, {"first": 2, "after": first["pageInfo"]["endCursor"]})).data["customers"]
    assert [e["node"]["name"] for e in middle["edges"]] == ["Customer 02", "Customer 03"]
    assert middle["pageInfo"]["hasPreviousPage"] is True and middle["pageInfo"]["hasNextPage"] is True
    last = (await post_graphql(PAGE, {"last": 2})).data["customers"]
    assert [e["node"]["name"] for e in last["edges"]] == ["Customer 03", "Customer 04"]
    assert last["pageInfo"]["hasNextPage"] is False and last["pageInfo"]["hasPreviousPage"] is True
    # A range between two cursors.
    between = (await post_graphql(PAGE, {
        "after": first["edges"][0]["cursor"], "before": last["edges"][-1]["cursor"], "first": 10,
    })).data["customers"]
    assert [e["node"]["name"] for e in between["edges"]] == ["Customer 01", "Customer 02", "Customer 03"]


async def test_default_page_is_twenty(post_graphql):
    await seed(post_graphql, 21)
    result = await post_graphql("{ customers { edges { node { name } } pageInfo { hasNextPage } } }")
    assert len(result.data["customers"]["edges"]) == 20
    assert result.data["customers"]["pageInfo"]["hasNextPage"] is True


async def test_empty_list_and_zero_page(post_graphql):
    empty = (await post_graphql(PAGE, {"first": 5})).data["customers"]
    assert empty == {"edges": [], "pageInfo": {
        "hasNextPage": False, "hasPreviousPage": False, "startCursor": None, "endCursor": None}}
    await seed(post_graphql, 2)
    zero = (await post_graphql(PAGE, {"first": 0})).data["customers"]
    assert zero["edges"] == [] and zero["pageInfo"]["hasNextPage"] is True


async def test_total_count_counts_everything(post_graphql):
    assert await total(post_graphql) == 0
    await seed(post_graphql, 4)
    assert await total(post_graphql) == 4


def forged_cursor(payload: str) -> str:
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("variables", "argument"),
    [
        ({"first": 2, "last": 2}, "last"),
        ({"first": 101}, "first"),
        ({"first": 100000}, "first"),
        ({"last": 101}, "last"),
        ({"first": -1}, "first"),
        ({"last": -5}, "last"),
        ({"after": "garbage!!"}, "after"),
        ({"before": ""}, "before"),
        ({"after": forged_cursor('["name",[1]]')}, "after"),  # another ordering's cursor
        ({"after": forged_cursor('["id",["1"]]')}, "after"),  # wrong value type
        ({"after": forged_cursor('["id",[99999999999999999999]]')}, "after"),  # beyond bigint
        ({"after": forged_cursor('["id",[1,2]]')}, "after"),
        ({"after": forged_cursor("{}")}, "after"),
        ({"after": "x" * 5000}, "after"),
    ],
)
async def test_bad_page_arguments_are_refused_with_a_code(post_graphql, variables, argument):
    result = await post_graphql(PAGE, variables)
    assert result.status == 200
    assert result.data is None
    assert result.error_codes == ["BAD_USER_INPUT"]
    assert result.errors[0]["extensions"]["argument"] == argument
    assert result.errors[0]["path"] == ["customers"]


async def test_listing_needs_a_caller(post_graphql):
    result = await post_graphql(PAGE, {"first": 1}, as_=None)
    assert result.data is None and result.error_codes == ["UNAUTHENTICATED"]


@pytest.mark.parametrize("size", [5, 50])
async def test_statement_count_does_not_grow_with_page_size(post_graphql, count_statements, size):
    await seed(post_graphql, 60)
    async with count_statements() as log:
        result = await post_graphql(
            "query($n: Int) { customers(first: $n) { totalCount edges { cursor node { id name tags createdAt } } } }",
            {"n": size},
        )
    assert len(result.data["customers"]["edges"]) == size
    # One SELECT for the page, one COUNT for totalCount.
    assert len(log) == 2, log.statements


async def test_total_count_is_not_computed_unless_asked(post_graphql, count_statements):
    await seed(post_graphql, 3)
    async with count_statements() as log:
        await post_graphql(PAGE, {"first": 3})
    assert len(log) == 1 and "count(" not in log.statements[0].lower()


# --- node(id:) ------------------------------------------------------------------------

NODE = "query($id: ID!) { node(id: $id) { __typename id ... on Customer { name } } }"


async def test_node_finds_a_customer_by_global_id(post_graphql):
    customer = (await create(post_graphql, name="Coho Winery"))["customer"]
    result = await post_graphql(NODE, {"id": customer["id"]})
    assert result.data["node"] == {"__typename": "Customer", "id": customer["id"], "name": "Coho Winery"}
    # IDs are opaque strings, not the database key.
    assert customer["id"] != "1" and not customer["id"].isdigit()


async def test_node_of_a_missing_customer_is_null(post_graphql):
    missing = base64.b64encode(b"Customer:987654321").decode()
    result = await post_graphql(NODE, {"id": missing})
    assert result.errors == [] and result.data == {"node": None}


@pytest.mark.parametrize(
    "bad_id",
    ["", "not base64 at all", base64.b64encode(b"Customer:abc").decode(),
     base64.b64encode(b"Spaceship:1").decode(), base64.b64encode(b"Customer:99999999999999999999").decode(),
     base64.b64encode(b"\xff\xfe").decode(), "A" * 500],
)
async def test_node_with_a_malformed_id_is_invalid_id(post_graphql, bad_id):
    result = await post_graphql(NODE, {"id": bad_id})
    assert result.error_codes == ["INVALID_ID"]
    assert result.data == {"node": None}


async def test_node_needs_a_caller(post_graphql):
    customer = (await create(post_graphql, name="Secret Co"))["customer"]
    result = await post_graphql(NODE, {"id": customer["id"]}, as_=None)
    assert result.error_codes == ["UNAUTHENTICATED"] and result.data == {"node": None}


async def test_nodes_in_one_request_are_loaded_in_one_statement(post_graphql, count_statements):
    ids = [(await create(post_graphql, name=f"N{i}"))["customer"]["id"] for i in range(4)]
    query = "query(" + ", ".join(f"$i{k}: ID!" for k in range(4)) + ") {" + " ".join(
        f"n{k}: node(id: $i{k}) {{ id }}" for k in range(4)) + "}"
    async with count_statements() as log:
        result = await post_graphql(query, {f"i{k}": ids[k] for k in range(4)})
    assert [result.data[f"n{k}"]["id"] for k in range(4)] == ids
    assert len(log) == 1, log.statements


async def test_admin_principal_is_the_default_caller(post_graphql):
    # Guards the helper itself: requests are made as ADMIN unless a test says otherwise.
    assert ADMIN.role.value == "admin"
    assert (await post_graphql(COUNT)).errors == []
