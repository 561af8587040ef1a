"""Contacts, channels and spend, products, users: create/update/archive/restore and bad input."""

from __future__ import annotations

import pytest

from tests.helpers import count_of, gid, new_channel, new_customer, new_product, new_user, ok, refused

CONTACT_CREATE = """mutation($i: ContactCreateInput!) { contactCreate(input: $i) {
  contact { id name title email consent { smsOptOut } contactable smsOk: contactable(by: SMS) customer { name } } errors { field code } } }"""
CONTACT_UPDATE = """mutation($id: ID!, $i: ContactUpdateInput!) { contactUpdate(id: $id, input: $i) {
  contact { id name title email phone consent { doNotContact } } errors { field code } } }"""


async def test_contacts(post_graphql):
    org = await new_customer(post_graphql, "Org")
    contact = (await ok(post_graphql, CONTACT_CREATE, {"i": {"customerId": org, "name": "Nancy Davolio", "title": "Buyer",
                                                             "email": "Nancy@Org.example", "phone": "+1 555 0102",
                                                             "consent": {"smsOptOut": True}}}, "contactCreate"))["contact"]
    assert contact["email"] == "nancy@org.example" and contact["customer"] == {"name": "Org"}
    assert contact["contactable"] is True and contact["smsOk"] is False
    updated = (await ok(post_graphql, CONTACT_UPDATE, {"id": contact["id"], "i": {"title": None, "consent": {"doNotContact": True}}},
                        "contactUpdate"))["contact"]
    assert updated["title"] is None and updated["consent"] == {"doNotContact": True} and updated["name"] == "Nancy Davolio"
    listing = await post_graphql("query($id: ID!) { customer(id: $id) { contacts { totalCount edges { node { name } } } } }", {"id": org})
    assert listing.data["customer"]["contacts"]["totalCount"] == 1
    assert await count_of(post_graphql, "contacts", "ContactFilter", {"contactable": True}) == 0
    await ok(post_graphql, "mutation($id: ID!) { contactArchive(id: $id) { contact { id } errors { code } } }", {"id": contact["id"]}, "contactArchive")
    assert await count_of(post_graphql, "contacts") == 0
    await ok(post_graphql, "mutation($id: ID!) { contactRestore(id: $id) { contact { id } errors { code } } }", {"id": contact["id"]}, "contactRestore")
    assert await count_of(post_graphql, "contacts") == 1


@pytest.mark.parametrize(
    ("input", "field", "code"),
    [
        ({"name": ""}, "name", "REQUIRED"),
        ({"email": "x@"}, "email", "INVALID"),
        ({"phone": "abc"}, "phone", "INVALID"),
        ({"customerId": "person"}, "customerId", "NOT_AN_ORGANISATION"),
        ({"customerId": gid("Customer", 123456)}, "customerId", "NOT_FOUND"),
        ({"customerId": gid("Contact", 1)}, "customerId", "INVALID"),
        ({"consent": {"emailOptOut": None}}, "emailOptOut", "REQUIRED"),
    ],
)
async def test_contact_create_refusals(post_graphql, input, field, code):
    org = await new_customer(post_graphql, "Org")
    person = await new_customer(post_graphql, "Pat", kind="PERSON")
    values = {"customerId": org, "name": "Someone", **input}
    if values["customerId"] == "person":
        values["customerId"] = person
    assert await refused(post_graphql, CONTACT_CREATE, {"i": values}, "contactCreate") == [(field, code)]
    assert await count_of(post_graphql, "contacts") == 0


SPEND = """mutation($i: ChannelSpendRecordInput!) { channelSpendRecord(input: $i) {
  spend { id amount { amount currency } periodStart periodEnd channel { name } } errors { field code relatedId } } }"""


async def test_channels_and_spend(post_graphql):
    web = await new_channel(post_graphql, "Web", "WEB")
    assert await refused(post_graphql, "mutation($i: ChannelCreateInput!) { channelCreate(input: $i) { channel { id } errors { field code } } }",
                         {"i": {"name": " web ", "kind": "EVENT"}}, "channelCreate") == [("name", "DUPLICATE")]
    spend = (await ok(post_graphql, SPEND, {"i": {"channelId": web, "periodStart": "2026-01-01", "periodEnd": "2026-02-01",
                                                  "amount": {"amount": "1500.00", "currency": "EUR"}}}, "channelSpendRecord"))["spend"]
    assert spend["amount"] == {"amount": "1500.00", "currency": "EUR"} and spend["channel"] == {"name": "Web"}
    overlap = await post_graphql(SPEND, {"i": {"channelId": web, "periodStart": "2026-01-15", "periodEnd": "2026-03-01",
                                               "amount": {"amount": "10", "currency": "EUR"}}})
    assert [(e["field"], e["code"], e["relatedId"]) for e in overlap.data["channelSpendRecord"]["errors"]] == [
        ("periodStart", "OVERLAPPING_PERIOD", spend["id"])]
    # adjacent periods are fine: periods are half-open
    await ok(post_graphql, SPEND, {"i": {"channelId": web, "periodStart": "2026-02-01", "periodEnd": "2026-03-01",
                                         "amount": {"amount": "0", "currency": "EUR"}}}, "channelSpendRecord")
    listing = await post_graphql("query($id: ID!) { node(id: $id) { ... on Channel { spend { totalCount } } } }", {"id": web})
    assert listing.data["node"]["spend"]["totalCount"] == 2


@pytest.mark.parametrize(
    ("input", "field", "code"),
    [
        ({"amount": {"amount": "-0.01", "currency": "EUR"}}, "amount", "OUT_OF_RANGE"),
        ({"amount": {"amount": "1", "currency": "EURO"}}, "currency", "UNKNOWN_CURRENCY"),
        ({"periodEnd": "2026-01-01"}, "periodEnd", "INVALID"),
        ({"channelId": gid("Channel", 4040)}, "channelId", "NOT_FOUND"),
    ],
)
async def test_spend_refusals(post_graphql, input, field, code):
    web = await new_channel(post_graphql)
    base = {"channelId": web, "periodStart": "2026-01-01", "periodEnd": "2026-02-01", "amount": {"amount": "1", "currency": "EUR"}}
    assert await refused(post_graphql, SPEND, {"i": {**base, **input}}, "channelSpendRecord") == [(field, code)]


async def test_archived_channel_takes_no_spend_and_no_customers(post_graphql):
    web = await new_channel(post_graphql)
    await ok(post_graphql, "mutation($id: ID!) { channelArchive(id: $id) { channel { id } errors { code } } }", {"id": web}, "channelArchive")
    base = {"channelId": web, "periodStart": "2026-01-01", "periodEnd": "2026-02-01", "amount": {"amount": "1", "currency": "EUR"}}
    assert await refused(post_graphql, SPEND, {"i": base}, "channelSpendRecord") == [("channelId", "ARCHIVED")]
    result = await post_graphql("mutation($i: CustomerCreateInput!) { customerCreate(input: $i) { customer { id } errors { field code } } }",
                                {"i": {"name": "X", "sourceChannelId": web}})
    assert [(e["field"], e["code"]) for e in result.data["customerCreate"]["errors"]] == [("sourceChannelId", "ARCHIVED")]


PRODUCT_UPDATE = """mutation($id: ID!, $i: ProductUpdateInput!) { productUpdate(id: $id, input: $i) {
  product { sku listPrice { amount currency } active } errors { field code relatedId } } }"""


async def test_products(post_graphql):
    a = await new_product(post_graphql, "abc-1", "10.00")
    b = await new_product(post_graphql, "XYZ-2", "20.00")
    errors = (await post_graphql(PRODUCT_UPDATE, {"id": b, "i": {"sku": "ABC-1"}})).data["productUpdate"]["errors"]
    assert [(e["field"], e["code"], e["relatedId"]) for e in errors] == [("sku", "DUPLICATE", a)]
    updated = (await ok(post_graphql, PRODUCT_UPDATE, {"id": b, "i": {"listPrice": {"amount": "21.5", "currency": "usd"}, "active": False}},
                        "productUpdate"))["product"]
    assert updated == {"sku": "XYZ-2", "listPrice": {"amount": "21.50", "currency": "USD"}, "active": False}
    assert await refused(post_graphql, PRODUCT_UPDATE, {"id": b, "i": {"active": None}}, "productUpdate") == [("active", "REQUIRED")]
    assert await refused(post_graphql, PRODUCT_UPDATE, {"id": b, "i": {"listPrice": {"amount": "-3", "currency": "EUR"}}},
                         "productUpdate") == [("listPrice", "OUT_OF_RANGE")]
    names = await post_graphql("{ products(orderBy: [{field: NAME, direction: DESC}], filter: {active: {eq: true}}) { edges { node { sku } } } }")
    assert [e["node"]["sku"] for e in names.data["products"]["edges"]] == ["abc-1"]


USER_CREATE = "mutation($i: UserCreateInput!) { userCreate(input: $i) { user { id email role partnerAccount { name } } errors { field code } } }"


async def test_users(post_graphql):
    partner = await new_customer(post_graphql, "Agent Co", classification="PARTNER")
    plain = await new_customer(post_graphql, "Plain Co")
    user = (await ok(post_graphql, USER_CREATE, {"i": {"email": "Agent@Co.example", "name": "Agent", "role": "PARTNER",
                                                       "partnerAccountId": partner}}, "userCreate"))["user"]
    assert user["email"] == "agent@co.example" and user["partnerAccount"] == {"name": "Agent Co"}
    assert await refused(post_graphql, USER_CREATE, {"i": {"email": "AGENT@co.example", "name": "Again", "role": "SALES"}},
                         "userCreate") == [("email", "DUPLICATE")]
    assert await refused(post_graphql, USER_CREATE, {"i": {"email": "p@x.example", "name": "P", "role": "PARTNER"}},
                         "userCreate") == [("partnerAccountId", "REQUIRED")]
    assert await refused(post_graphql, USER_CREATE, {"i": {"email": "p@x.example", "name": "P", "role": "PARTNER",
                                                           "partnerAccountId": plain}}, "userCreate") == [("partnerAccountId", "NOT_A_PARTNER")]
    assert await refused(post_graphql, USER_CREATE, {"i": {"email": "s@x.example", "name": "S", "role": "SALES",
                                                           "partnerAccountId": partner}}, "userCreate") == [("partnerAccountId", "INVALID")]
    # a partner with active partner users stays a partner
    result = await post_graphql("mutation($id: ID!) { customerUpdate(id: $id, input: {classification: CUSTOMER}) { errors { field code } } }", {"id": partner})
    assert result.data["customerUpdate"]["errors"] == [{"field": "classification", "code": "INVALID"}]
    # deactivated users own nothing new
    sales = await new_user(post_graphql, "sales@example.com")
    await ok(post_graphql, "mutation($id: ID!) { userUpdate(id: $id, input: {active: false}) { user { id } errors { code } } }", {"id": sales}, "userUpdate")
    result = await post_graphql("mutation($i: CustomerCreateInput!) { customerCreate(input: $i) { errors { field code } } }",
                                {"i": {"name": "Owned", "ownerId": sales}})
    assert result.data["customerCreate"]["errors"] == [{"field": "ownerId", "code": "ARCHIVED"}]
    assert await count_of(post_graphql, "users", "UserFilter", {"role": {"eq": "PARTNER"}}) == 1


PRODUCT_CREATE = "mutation($i: ProductCreateInput!) { productCreate(input: $i) { product { id } errors { field code } } }"


@pytest.mark.parametrize(
    ("input", "field", "code"),
    [
        ({"sku": " "}, "sku", "REQUIRED"),
        ({"sku": "s" * 65}, "sku", "TOO_LONG"),
        ({"name": ""}, "name", "REQUIRED"),
        ({"listPrice": {"amount": "-1", "currency": "EUR"}}, "listPrice", "OUT_OF_RANGE"),
        ({"listPrice": {"amount": "1.005", "currency": "EUR"}}, "listPrice", "INVALID"),
        ({"listPrice": {"amount": "1", "currency": "ABC"}}, "currency", "UNKNOWN_CURRENCY"),
    ],
)
async def test_product_create_refusals(post_graphql, input, field, code):
    values = {"sku": "NEW-1", "name": "New", "listPrice": {"amount": "1.00", "currency": "EUR"}, **input}
    assert await refused(post_graphql, PRODUCT_CREATE, {"i": values}, "productCreate") == [(field, code)]
    assert await count_of(post_graphql, "products") == 0


async def test_channel_and_user_update_refusals(post_graphql):
    web = await new_channel(post_graphql, "Web", "WEB")
    fair = await new_channel(post_graphql, "Fair", "EVENT")
    query = "mutation($id: ID!, $i: ChannelUpdateInput!) { channelUpdate(id: $id, input: $i) { channel { name } errors { field code relatedId } } }"
    result = await post_graphql(query, {"id": fair, "i": {"name": "WEB"}})
    assert result.data["channelUpdate"]["errors"] == [{"field": "name", "code": "DUPLICATE", "relatedId": web}]
    assert await refused(post_graphql, query, {"id": fair, "i": {"kind": None}}, "channelUpdate") == [("kind", "REQUIRED")]
    user = await new_user(post_graphql, "one@example.com")
    await new_user(post_graphql, "two@example.com")
    update = "mutation($id: ID!, $i: UserUpdateInput!) { userUpdate(id: $id, input: $i) { user { email } errors { field code } } }"
    assert await refused(post_graphql, update, {"id": user, "i": {"email": "TWO@example.com"}}, "userUpdate") == [("email", "DUPLICATE")]
    assert await refused(post_graphql, update, {"id": user, "i": {"name": ""}}, "userUpdate") == [("name", "REQUIRED")]
    assert await refused(post_graphql, update, {"id": user, "i": {"email": None}}, "userUpdate") == [("email", "REQUIRED")]
