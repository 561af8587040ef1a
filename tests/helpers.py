"""Building test data the way a client does: through the GraphQL mutations."""

from __future__ import annotations

import base64
from typing import Any


def gid(type_name: str, pk: int) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


async def ok(post_graphql, mutation: str, variables: dict[str, Any], field: str, **kwargs) -> dict[str, Any]:
    """Runs a mutation that must succeed; returns its payload."""
    result = await post_graphql(mutation, variables, **kwargs)
    assert result.status == 200 and not result.errors, result.body
    payload = result.data[field]
    assert payload["errors"] == [], payload["errors"]
    return payload


async def refused(post_graphql, mutation: str, variables: dict[str, Any], field: str, **kwargs) -> list[tuple]:
    """Runs a mutation that must be refused with payload errors; returns (field, code) pairs."""
    result = await post_graphql(mutation, variables, **kwargs)
    assert result.status == 200 and not result.errors, result.body
    payload = result.data[field]
    assert payload["errors"], payload
    assert all(v is None for k, v in payload.items() if k != "errors"), payload
    return [(e["field"], e["code"]) for e in payload["errors"]]


async def new_customer(post_graphql, name: str = "Acme", **fields) -> str:
    payload = await ok(post_graphql, """
        mutation($input: CustomerCreateInput!, $dup: Boolean) {
          customerCreate(input: $input, allowDuplicate: $dup) { customer { id } errors { field code } } }""",
        {"input": {"name": name, **fields}, "dup": True}, "customerCreate")
    return payload["customer"]["id"]


async def new_user(post_graphql, email: str = "sam@example.com", role: str = "SALES", **fields) -> str:
    payload = await ok(post_graphql, """
        mutation($input: UserCreateInput!) { userCreate(input: $input) { user { id } errors { field code } } }""",
        {"input": {"email": email, "name": email.split("@")[0].title(), "role": role, **fields}}, "userCreate")
    return payload["user"]["id"]


async def new_channel(post_graphql, name: str = "Web", kind: str = "WEB") -> str:
    payload = await ok(post_graphql, """
        mutation($input: ChannelCreateInput!) { channelCreate(input: $input) { channel { id } errors { field code } } }""",
        {"input": {"name": name, "kind": kind}}, "channelCreate")
    return payload["channel"]["id"]


async def new_product(post_graphql, sku: str = "SKU-1", price: str = "100.00", currency: str = "EUR", **fields) -> str:
    payload = await ok(post_graphql, """
        mutation($input: ProductCreateInput!) { productCreate(input: $input) { product { id } errors { field code } } }""",
        {"input": {"sku": sku, "name": f"Product {sku}", "listPrice": {"amount": price, "currency": currency}, **fields}},
        "productCreate")
    return payload["product"]["id"]


async def new_opportunity(post_graphql, customer_id: str, name: str = "Deal", amount: str = "1000.00",
                          currency: str = "EUR", **fields) -> str:
    payload = await ok(post_graphql, """
        mutation($input: OpportunityCreateInput!) {
          opportunityCreate(input: $input) { opportunity { id } errors { field code } } }""",
        {"input": {"customerId": customer_id, "name": name, "amount": {"amount": amount, "currency": currency}, **fields}},
        "opportunityCreate")
    return payload["opportunity"]["id"]


async def count_of(post_graphql, list_field: str, filter_type: str | None = None, filter: dict | None = None) -> int:
    if filter_type:
        query = f"query($f: {filter_type}) {{ {list_field}(filter: $f) {{ totalCount }} }}"
        result = await post_graphql(query, {"f": filter})
    else:
        result = await post_graphql(f"{{ {list_field} {{ totalCount }} }}")
    assert not result.errors, result.body
    return result.data[list_field]["totalCount"]


def required_literal(gql_type, name: str, id_for, *, list_items: bool = True, day: str = "2030-01-01") -> str:
    """A minimal GraphQL literal of a type, for required arguments and input fields (the
    required fields of input objects filled in turn): `id_for(name)` gives the value of
    an ID named `name`; lists hold one item, or none without `list_items`."""
    from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLList, GraphQLNonNull, Undefined

    if isinstance(gql_type, GraphQLNonNull):
        return required_literal(gql_type.of_type, name, id_for, list_items=list_items, day=day)
    if isinstance(gql_type, GraphQLList):
        return f"[{required_literal(gql_type.of_type, name, id_for, list_items=list_items, day=day)}]" if list_items else "[]"
    if isinstance(gql_type, GraphQLEnumType):
        return next(iter(gql_type.values))
    if isinstance(gql_type, GraphQLInputObjectType):
        parts = [f"{n}: {required_literal(f.type, n, id_for, list_items=list_items, day=day)}" for n, f in gql_type.fields.items()
                 if isinstance(f.type, GraphQLNonNull) and f.default_value is Undefined]
        return "{" + ", ".join(parts) + "}"
    if gql_type.name == "ID":
        return f'"{id_for(name)}"'
    return {"String": '"x"', "Int": "1", "Boolean": "false", "Decimal": '"1"', "DateTime": f'"{day}T00:00:00Z"',
            "Date": f'"{day}"', "JSON": "{}"}[gql_type.name]
