"""The GraphQL schema: root Query, Mutation and Subscription composed from the per-domain classes of
resolvers/<domain>.py, and the types reachable only through node(id:)."""

from __future__ import annotations

import strawberry
from strawberry.extensions import AddValidationRules, DisableIntrospection, MaxTokensLimiter, ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig

from resolvers.activities import ActivityMutations, ActivityQueries
from resolvers.analytics import AnalyticsQueries
from resolvers.channels import ChannelMutations, ChannelQueries
from resolvers.conflicts import ConflictMutations, ConflictQueries
from resolvers.contacts import ContactMutations, ContactQueries
from resolvers.customers import CustomerMutations, CustomerQueries
from resolvers.events import EventQueries
from resolvers.identity import IdentityMutations, IdentityQueries
from resolvers.memberships import MembershipMutations, MembershipQueries
from resolvers.node import NodeQueries
from resolvers.opportunities import OpportunityMutations, OpportunityQueries
from resolvers.orders import OrderMutations, OrderQueries
from resolvers.products import ProductMutations, ProductQueries
from resolvers.programmes import ProgrammeMutations, ProgrammeQueries
from resolvers.scoping import ROW_SCOPES
from resolvers.segments import SegmentMutations, SegmentQueries
from resolvers.subscriptions import EventSubscriptions
from resolvers.users import UserMutations, UserQueries
from resolvers.webhooks import WebhookMutations, WebhookQueries
from schema.activities import ActivityType
from schema.channels import ChannelSpendType, ChannelType
from schema.contacts import ContactType
from schema.customers import CustomerMergeType, CustomerType
from schema.events import EventType
from schema.defaults import publish_literal_defaults
from schema.descriptions import describe, describe_row_scopes
from schema.extensions import NamedScalarErrors, OperationName
from schema.fields import bind_builders
from schema.identity import ApiKeyType
from schema.limits import Limits, limit_rules
from schema.memberships import FeePaymentType, MembershipType, TierOverrideType, TrainingBookingType
from schema.opportunities import OpportunityType, StageChangeType
from schema.orders import OrderLineType, OrderReturnType, OrderType
from schema.products import ProductType
from schema.programmes import ProgrammeType, RuleVersionType
from schema.scalars import SCALAR_OVERRIDES, harden_builtin_scalars
from schema.segments import SegmentType
from schema.users import UserType
from schema.webhooks import WebhookDeliveryType, WebhookEndpointType


@strawberry.type(description="Everything that can be read.")
class Query(NodeQueries, CustomerQueries, ContactQueries, OpportunityQueries, ActivityQueries, OrderQueries,
            ProductQueries, ChannelQueries, UserQueries, ProgrammeQueries, MembershipQueries, IdentityQueries,
            AnalyticsQueries, SegmentQueries, ConflictQueries, EventQueries, WebhookQueries):
    pass


@strawberry.type(description="Everything that can be changed. Each mutation returns a payload with typed errors.")
class Mutation(CustomerMutations, ContactMutations, OpportunityMutations, ActivityMutations, OrderMutations,
               ProductMutations, ChannelMutations, UserMutations, ProgrammeMutations, MembershipMutations,
               IdentityMutations, SegmentMutations, ConflictMutations, WebhookMutations):
    pass


@strawberry.type(description="Everything that can be followed live, over a WebSocket on /graphql "
                 "(graphql-transport-ws; docs/subscriptions.md).")
class Subscription(EventSubscriptions):
    pass


# Node types reachable only through node(id:) must be listed to be in the schema.
NODE_TYPES = [
    ActivityType, ChannelSpendType, ChannelType, ContactType, CustomerMergeType, CustomerType, OpportunityType,
    OrderLineType, OrderReturnType, OrderType, ProductType, StageChangeType, UserType, ProgrammeType, RuleVersionType,
    MembershipType, FeePaymentType, TrainingBookingType, TierOverrideType, ApiKeyType, SegmentType, EventType,
    WebhookEndpointType, WebhookDeliveryType,
]


class Schema(strawberry.Schema):
    def process_errors(self, errors, execution_context=None) -> None:
        # shape_errors logs what deserves logging; the default would log every
        # validation error and permission refusal as if it were a server fault.
        return None


def build_schema(limits: Limits | None = None, *, introspection: bool = True) -> strawberry.Schema:
    """The schema with the request limits (schema/limits.py) and, when `introspection` is
    False, introspection refused."""
    limits = limits or Limits()
    # Built once: the validation cache is keyed by the rule classes, so a class made per
    # request would miss it every time.
    rules = limit_rules(limits)
    harden_builtin_scalars()
    bind_builders()
    extensions = [
        OperationName,
        NamedScalarErrors,
        lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
        lambda: AddValidationRules(rules),
        lambda: ParserCache(maxsize=512),
        lambda: ValidationCache(maxsize=512),
    ]
    if not introspection:
        extensions.append(DisableIntrospection)
    built = Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=NODE_TYPES,
        config=StrawberryConfig(auto_camel_case=True, scalar_map=SCALAR_OVERRIDES),
        extensions=extensions,
    )
    describe(built._schema)
    describe_row_scopes(built._schema, ROW_SCOPES)
    publish_literal_defaults(built._schema)
    return built


schema = build_schema()


def schema_sdl() -> str:
    """The schema in SDL, as committed in schema.graphql."""
    return strawberry.printer.print_schema(schema) + "\n"
