"""Orders: pricing snapshot, replays, payment, cancellation, returns."""

from __future__ import annotations

import pytest

from tests.helpers import gid, new_customer, new_product, ok, refused

PLACE = """mutation($input: OrderPlaceInput!) { orderPlace(input: $input) {
  order { id status total { amount currency } netTotal { amount } source externalReference
          lines { id quantity returnedQuantity listUnitPrice { amount } discountRate netUnitPrice { amount }
                  lineTotal { amount currency } product { id sku } } }
  errors { field code relatedId } } }"""
RETURN = """mutation($id: ID!, $lines: [OrderReturnLineInput!], $reason: String) { orderReturn(id: $id, lines: $lines, reason: $reason) {
  order { id status returnedTotal { amount } netTotal { amount } lines { returnedQuantity } }
  orderReturn { amount { amount currency } reason lines { quantity amount { amount } } }
  errors { field code } } }"""
PAY = "mutation($id: ID!) { orderMarkPaid(id: $id) { order { id status paidAt } errors { field code } } }"
CANCEL = "mutation($id: ID!) { orderCancel(id: $id) { order { id status cancelledAt } errors { field code } } }"


async def order_count(post_graphql) -> int:
    return (await post_graphql("{ orders { totalCount } }")).data["orders"]["totalCount"]


@pytest.fixture
async def shop(post_graphql):
    return {
        "customer": await new_customer(post_graphql, "Buyer"),
        "a": await new_product(post_graphql, "A", "19.99"),
        "b": await new_product(post_graphql, "B", "0.35"),
        "usd": await new_product(post_graphql, "U", "5.00", currency="USD"),
        "inactive": await new_product(post_graphql, "I", "1.00", active=False),
    }


async def test_place_prices_lines_from_list_prices(post_graphql, shop):
    payload = await ok(post_graphql, PLACE, {"input": {"customerId": shop["customer"], "lines": [
        {"productId": shop["a"], "quantity": 3}, {"productId": shop["b"], "quantity": 7}]}}, "orderPlace")
    order = payload["order"]
    assert order["status"] == "PLACED"
    assert order["total"] == {"amount": "62.42", "currency": "EUR"}  # 3 x 19.99 + 7 x 0.35
    assert [(l["quantity"], l["listUnitPrice"]["amount"], l["discountRate"], l["netUnitPrice"]["amount"], l["lineTotal"]["amount"])
            for l in order["lines"]] == [(3, "19.99", "0.0000", "19.99", "59.97"), (7, "0.35", "0.0000", "0.35", "2.45")]
    # a later price change does not touch the order
    await ok(post_graphql, "mutation($id: ID!) { productUpdate(id: $id, input: {listPrice: {amount: \"25.00\", currency: \"EUR\"}}) { product { id } errors { code } } }",
             {"id": shop["a"]}, "productUpdate")
    again = await post_graphql("query($id: ID!) { node(id: $id) { ... on Order { total { amount } lines { listUnitPrice { amount } } } } }", {"id": order["id"]})
    assert again.data["node"]["total"]["amount"] == "62.42" and again.data["node"]["lines"][0]["listUnitPrice"]["amount"] == "19.99"


@pytest.mark.parametrize(
    ("lines", "field", "code"),
    [
        ([], "lines", "REQUIRED"),
        ([{"product": "a", "quantity": 0}], "lines.0.quantity", "OUT_OF_RANGE"),
        ([{"product": "a", "quantity": -2}], "lines.0.quantity", "OUT_OF_RANGE"),
        ([{"product": "a", "quantity": 1_000_001}], "lines.0.quantity", "OUT_OF_RANGE"),
        ([{"product": "a", "quantity": 1}, {"product": "inactive", "quantity": 1}], "lines.1.productId", "INACTIVE_PRODUCT"),
        ([{"product": "a", "quantity": 1}, {"product": "usd", "quantity": 1}], "lines", "CURRENCY_MISMATCH"),
        ([{"product": "missing", "quantity": 1}], "lines.0.productId", "NOT_FOUND"),
        ([{"product": "garbage", "quantity": 1}], "lines.0.productId", "INVALID"),
        ([{"product": "customer", "quantity": 1}], "lines.0.productId", "INVALID"),
    ],
)
async def test_place_refuses_bad_lines_and_writes_nothing(post_graphql, shop, lines, field, code):
    ids = {**shop, "missing": gid("Product", 99999), "garbage": "garbage", "customer": shop["customer"]}
    variables = {"input": {"customerId": shop["customer"], "lines": [{"productId": ids[l["product"]], "quantity": l["quantity"]} for l in lines]}}
    assert await refused(post_graphql, PLACE, variables, "orderPlace") == [(field, code)]
    assert await order_count(post_graphql) == 0


async def test_more_than_a_hundred_lines_is_refused_before_anything_runs(post_graphql, shop):
    lines = [{"productId": shop["a"], "quantity": 1}] * 101
    result = await post_graphql(PLACE, {"input": {"customerId": shop["customer"], "lines": lines}})
    assert result.status == 400 and result.error_codes == ["LIST_TOO_LONG"]
    assert await order_count(post_graphql) == 0


async def test_inactive_product_error_names_the_product(post_graphql, shop):
    result = await post_graphql(PLACE, {"input": {"customerId": shop["customer"], "lines": [{"productId": shop["inactive"], "quantity": 1}]}})
    assert result.data["orderPlace"]["errors"][0]["relatedId"] == shop["inactive"]


async def test_order_for_an_archived_customer_is_refused(post_graphql, shop):
    await ok(post_graphql, "mutation($id: ID!) { customerArchive(id: $id) { customer { id } errors { code } } }", {"id": shop["customer"]}, "customerArchive")
    assert await refused(post_graphql, PLACE, {"input": {"customerId": shop["customer"], "lines": [{"productId": shop["a"], "quantity": 1}]}},
                         "orderPlace") == [("customerId", "ARCHIVED")]


async def test_a_replayed_import_creates_no_second_order(post_graphql, shop):
    variables = {"input": {"customerId": shop["customer"], "source": "erp", "externalReference": "SO-1001",
                           "lines": [{"productId": shop["a"], "quantity": 2}]}}
    first = (await ok(post_graphql, PLACE, variables, "orderPlace"))["order"]
    replay = (await ok(post_graphql, PLACE, variables, "orderPlace"))["order"]
    assert replay["id"] == first["id"]
    assert await order_count(post_graphql) == 1
    # the same reference with other contents is a conflict
    variables["input"]["lines"][0]["quantity"] = 5
    result = await post_graphql(PLACE, variables)
    errors = result.data["orderPlace"]["errors"]
    assert [(e["field"], e["code"], e["relatedId"]) for e in errors] == [("externalReference", "DUPLICATE", first["id"])]
    # another source may use the same reference
    variables["input"]["source"] = "webshop"
    await ok(post_graphql, PLACE, variables, "orderPlace")
    assert await order_count(post_graphql) == 2


async def test_pay_cancel_rules(post_graphql, shop):
    line = [{"productId": shop["a"], "quantity": 1}]
    order = (await ok(post_graphql, PLACE, {"input": {"customerId": shop["customer"], "lines": line}}, "orderPlace"))["order"]["id"]
    paid = (await ok(post_graphql, PAY, {"id": order}, "orderMarkPaid"))["order"]
    assert paid["status"] == "PAID" and paid["paidAt"]
    assert await refused(post_graphql, PAY, {"id": order}, "orderMarkPaid") == [("id", "INVALID_STATUS")]
    assert await refused(post_graphql, CANCEL, {"id": order}, "orderCancel") == [("id", "INVALID_STATUS")]
    other = (await ok(post_graphql, PLACE, {"input": {"customerId": shop["customer"], "lines": line}}, "orderPlace"))["order"]["id"]
    assert (await ok(post_graphql, CANCEL, {"id": other}, "orderCancel"))["order"]["status"] == "CANCELLED"
    assert await refused(post_graphql, RETURN, {"id": other}, "orderReturn") == [("id", "INVALID_STATUS")]
    assert await refused(post_graphql, PAY, {"id": gid("Order", 99999)}, "orderMarkPaid") == [("id", "NOT_FOUND")]


async def test_partial_then_full_return(post_graphql, shop):
    payload = await ok(post_graphql, PLACE, {"input": {"customerId": shop["customer"], "paid": True, "lines": [
        {"productId": shop["a"], "quantity": 3}, {"productId": shop["b"], "quantity": 10}]}}, "orderPlace")
    order = payload["order"]
    line_a, line_b = (l["id"] for l in order["lines"])
    first = await ok(post_graphql, RETURN, {"id": order["id"], "lines": [{"lineId": line_a, "quantity": 2}], "reason": "damaged"}, "orderReturn")
    assert first["orderReturn"] == {"amount": {"amount": "39.98", "currency": "EUR"}, "reason": "damaged",
                                    "lines": [{"quantity": 2, "amount": {"amount": "39.98"}}]}
    assert first["order"]["status"] == "PAID" and first["order"]["returnedTotal"]["amount"] == "39.98"
    assert first["order"]["netTotal"]["amount"] == "23.49"  # 63.47 - 39.98
    # more than remains on the line
    assert await refused(post_graphql, RETURN, {"id": order["id"], "lines": [{"lineId": line_a, "quantity": 2}]},
                         "orderReturn") == [("lines.0.quantity", "OUT_OF_RANGE")]
    # a line of another order, or twice the same line
    assert await refused(post_graphql, RETURN, {"id": order["id"], "lines": [{"lineId": gid("OrderLine", 99999), "quantity": 1}]},
                         "orderReturn") == [("lines.0.lineId", "NOT_FOUND")]
    assert await refused(post_graphql, RETURN, {"id": order["id"], "lines": [{"lineId": line_b, "quantity": 1}, {"lineId": line_b, "quantity": 1}]},
                         "orderReturn") == [("lines.1.lineId", "INVALID")]
    # everything else
    rest = await ok(post_graphql, RETURN, {"id": order["id"]}, "orderReturn")
    assert rest["orderReturn"]["amount"]["amount"] == "23.49"
    assert rest["order"]["status"] == "RETURNED" and rest["order"]["netTotal"]["amount"] == "0.00"
    assert [l["returnedQuantity"] for l in rest["order"]["lines"]] == [3, 10]
    assert await refused(post_graphql, RETURN, {"id": order["id"]}, "orderReturn") == [("id", "INVALID_STATUS")]
    returns = await post_graphql("query($id: ID!) { node(id: $id) { ... on Order { returns { amount { amount } } } } }", {"id": order["id"]})
    assert [r["amount"]["amount"] for r in returns.data["node"]["returns"]] == ["39.98", "23.49"]
