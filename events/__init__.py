"""Events: what happened, written in the transaction that made it happen (the outbox),
and everything that reads them (the feed, webhooks, subscriptions). GraphQL-free.

`catalogue` declares every event type once (name, version, aggregate, payload fields and
their meaning); the JSON Schemas in docs/events/ and the API's descriptions derive from
it. `outbox` writes and reads them."""

# Each domain's declarations register themselves in the catalogue when imported.
from events import customers, deals, memberships, orders, webhooks  # noqa: E402,F401
