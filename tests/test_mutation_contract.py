"""Contract every mutation keeps, checked for each mutation the schema has: a payload with
typed errors, and IDs that are malformed, of the wrong type or of nothing answered as
payload errors (INVALID / NOT_FOUND) that change nothing."""

from __future__ import annotations

import pytest
from graphql import GraphQLNonNull, GraphQLObjectType, Undefined

from schema.root import schema
from tests.helpers import gid

MUTATIONS = schema._schema.mutation_type.fields
# Minimal values for required arguments other than `id`.
ONE_TIER = ('[{rank: 1, code: "B", name: "B", entryFee: "1", discountRate: "0.1", trainingQuota: 1, '
            'promotionThreshold: "10", retentionThreshold: "5"}]')
REQUIRED_ARGUMENTS = {"input": "{}", "stage": "WON", "tiers": ONE_TIER, "effectiveFrom": '"2030-01-01T00:00:00Z"',
                      "password": '"a sufficiently long password"'}
ID_MUTATIONS = sorted(name for name, field in MUTATIONS.items() if "id" in field.args)
# The node type each mutation's `id` refers to, from its name: customerUpdate -> Customer.
ID_TYPES = {"orderMarkPaid": "Order", "opportunityMoveStage": "Opportunity", "feeRefund": "FeePayment",
            "trainingCancel": "TrainingBooking", "tierOverrideRevoke": "TierOverride", "ruleVersionUpdate": "RuleVersion",
            "ruleVersionPublish": "RuleVersion", "apiKeyRevoke": "ApiKey", "userSetPassword": "User",
            "ruleVersionDelete": "RuleVersion", "programmeUpdate": "Programme", "programmeArchive": "Programme",
            "programmeRestore": "Programme", "webhookDeliveryRedeliver": "WebhookDelivery"}


def id_type(mutation: str) -> str:
    if mutation in ID_TYPES:
        return ID_TYPES[mutation]
    for prefix in ("customer", "contact", "channel", "product", "user", "opportunity", "activity", "order", "segment",
                   "webhookEndpoint"):
        if mutation.startswith(prefix):
            return prefix[0].upper() + prefix[1:]
    raise AssertionError(mutation)


def test_every_mutation_returns_a_payload_with_typed_errors():
    for name, field in MUTATIONS.items():
        payload = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
        assert isinstance(payload, GraphQLObjectType), name
        errors = payload.fields["errors"].type
        error_type = errors.of_type.of_type.of_type  # [XError!]!
        assert set(error_type.fields) >= {"field", "message", "code", "relatedId"}, name
        assert error_type.fields["code"].type.of_type.name.endswith("ErrorCode"), name


def mutation_text(name: str) -> str:
    field = MUTATIONS[name]
    required = [arg for arg, a in field.args.items()
                if arg != "id" and isinstance(a.type, GraphQLNonNull) and a.default_value is Undefined]
    args = ["id: $id"] + [f"{arg}: {REQUIRED_ARGUMENTS[arg]}" for arg in required]
    return f"mutation($id: ID!) {{ {name}({', '.join(args)}) {{ errors {{ field code }} }} }}"


@pytest.mark.parametrize("mutation", ID_MUTATIONS)
@pytest.mark.parametrize("case", ["malformed", "wrong_type", "unknown"])
async def test_bad_ids_are_payload_errors(post_graphql, mutation, case):
    kind = id_type(mutation)
    value = {"malformed": "not-an-id", "wrong_type": gid("Product" if kind != "Product" else "Customer", 1),
             "unknown": gid(kind, 987654321)}[case]
    result = await post_graphql(mutation_text(mutation), {"id": value})
    assert result.status == 200 and result.errors == [], result.body
    expected = "NOT_FOUND" if case == "unknown" else "INVALID"
    assert result.data[mutation]["errors"] == [{"field": "id", "code": expected}]
