"""Webhooks over GraphQL: endpoints (an admin's receive every event, a partner's its own
account's), their deliveries and each delivery's attempts (docs/webhooks.md)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from events import endpoints as service
from models import WebhookAttempt as AttemptRow
from models import WebhookDelivery as DeliveryRow
from models import WebhookEndpoint as EndpointRow
from schema.errors import error_codes, error_type
from schema.fields import column, connection, global_id, to_one
from schema.node import NODE_TYPES, Node
from schema.pagination import PAGE_ARGUMENTS_HELP, Connection

if TYPE_CHECKING:
    from schema.customers import CustomerType
    from schema.events import EventType

WebhookErrorCode = error_codes(service.WebhookErrorCode, "webhook")
WebhookError = error_type("WebhookError", WebhookErrorCode, "webhook")


@strawberry.type(name="WebhookEndpoint", description="Where events are POSTed, signed as Standard Webhooks "
                 "(docs/webhooks.md). An admin's endpoint receives every event; a partner's only the events of its "
                 "own account. The secret is shown once, by webhookEndpointCreate and webhookEndpointRotateSecret.")
class WebhookEndpointType(Node):
    id: strawberry.ID = global_id("WebhookEndpoint")
    url: str = column("url", description="The http(s) URL deliveries are POSTed to.")
    description: str | None = column("description", description="What it is for.")
    event_types: list[str] = column("event_types", description="The event types it receives (docs/events.md); empty: "
                                    "every type.")
    active: bool = column("active", description="Whether deliveries go out; false when switched off or disabled.")
    consecutive_failures: int = column("consecutive_failures", description="Failed attempts in a row; a success resets "
                                       "it, reaching CRM_WEBHOOK_DISABLE_AFTER disables the endpoint.")
    disabled_at: datetime | None = column("disabled_at", description="When sustained failure disabled it "
                                          "(webhook.endpoint_disabled); null unless disabled.")
    disabled_reason: str | None = column("disabled_reason", description="Why it was disabled.")
    previous_secret_expires_at: datetime | None = column(
        "previous_secret_expires_at", description="After a rotation, until when the previous secret signs beside the "
        "new one (both signatures are sent).")
    created_at: datetime = column("created_at", description="When it was registered.")
    _row: strawberry.Private[EndpointRow]

    account: Annotated["CustomerType", strawberry.lazy("schema.customers")] | None = to_one(
        "Customer", "account_id", description="The partner account whose events it receives; null: an admin's "
        "endpoint, which receives every event.")
    deliveries: Connection[WebhookDeliveryType] = connection(
        "resolvers.webhooks:endpoint_deliveries", description=f"Its deliveries, oldest first. {PAGE_ARGUMENTS_HELP}")


@strawberry.type(name="WebhookAttempt", description="One HTTP attempt of a delivery.")
class WebhookAttemptType:
    _row: strawberry.Private[AttemptRow]

    @strawberry.field(description="1, 2, ... since the delivery was (re)queued.")
    def attempt(self) -> int:
        return self._row.attempt

    @strawberry.field(description="When it was sent.")
    def attempted_at(self) -> datetime:
        return self._row.attempted_at

    @strawberry.field(description="The HTTP status answered; null when there was no answer (refused, timed out).")
    def status_code(self) -> int | None:
        return self._row.status_code

    @strawberry.field(description="Milliseconds from sending to the answer (or the failure).")
    def latency_ms(self) -> int:
        return self._row.latency_ms

    @strawberry.field(description="Why it failed; null for a 2xx.")
    def error(self) -> str | None:
        return self._row.error

    @strawberry.field(description="When the next attempt was scheduled by this failure; null after a success or the "
                      "last attempt.")
    def next_attempt_at(self) -> datetime | None:
        return self._row.next_attempt_at


@strawberry.type(name="WebhookDelivery", description="One event to one endpoint: `pending` until an attempt gets a "
                 "2xx (`succeeded`) or the attempts run out (`dead`, the dead letter; webhookDeliveryRedeliver queues "
                 "it again). Every attempt sends the event's ID as webhook-id.")
class WebhookDeliveryType(Node):
    id: strawberry.ID = global_id("WebhookDelivery")
    status: str = column("status", description="pending, succeeded or dead.")
    attempts: int = column("attempts", description="Attempts made since it was (re)queued.")
    next_attempt_at: datetime | None = column("next_attempt_at", description="When it is attempted next; null once "
                                              "succeeded or dead.")
    last_attempt_at: datetime | None = column("last_attempt_at", description="When it was last attempted.")
    last_status_code: int | None = column("last_status_code", description="The last attempt's HTTP status.")
    last_latency_ms: int | None = column("last_latency_ms", description="The last attempt's latency in milliseconds.")
    last_error: str | None = column("last_error", description="Why the last attempt failed; null after a success.")
    delivered_at: datetime | None = column("delivered_at", description="When an attempt succeeded.")
    created_at: datetime = column("created_at", description="When the event was queued for the endpoint.")
    _row: strawberry.Private[DeliveryRow]

    endpoint: WebhookEndpointType = to_one("WebhookEndpoint", "endpoint_id", description="The endpoint.")
    event: Annotated["EventType", strawberry.lazy("schema.events")] = to_one("Event", "event_id",
                                                                             description="The event delivered.")

    @strawberry.field(description="Every attempt, oldest first (at most the last 100).")
    async def attempt_log(self, info: Info) -> list[WebhookAttemptType]:
        from resolvers.webhooks import AttemptsByDeliveryLoader

        rows = await info.context.loader(AttemptsByDeliveryLoader).load(self._row.id)
        return [WebhookAttemptType(_row=row) for row in rows]


NODE_TYPES["WebhookEndpoint"] = WebhookEndpointType.from_row
NODE_TYPES["WebhookDelivery"] = WebhookDeliveryType.from_row


@strawberry.input(description="A new webhook endpoint.")
class WebhookEndpointCreateInput:
    url: str = strawberry.field(description="http or https, at most 2048 characters, a host that resolves to public "
                                "addresses only (unless the server allows private ones: CRM_WEBHOOK_ALLOW_PRIVATE).")
    event_types: list[str] = strawberry.field(default_factory=list, description="Event types to receive "
                                              "(docs/events.md); empty or omitted: every type.")
    description: str | None = strawberry.field(default=None, description="What it is for, up to 200 characters.")
    active: bool = strawberry.field(default=True, description="false: registered, nothing delivered yet.")


@strawberry.input(description="Changes to an endpoint; only the fields sent change.")
class WebhookEndpointUpdateInput:
    url: str | None = strawberry.field(default=strawberry.UNSET, description="The URL (checked as at creation).")
    event_types: list[str] | None = strawberry.field(default=strawberry.UNSET, description="Event types; empty: every "
                                                     "type.")
    description: str | None = strawberry.field(default=strawberry.UNSET, description="What it is for.")
    active: bool | None = strawberry.field(default=strawberry.UNSET, description="Switch deliveries on or off; true "
                                           "also enables an endpoint that sustained failure disabled.")


@strawberry.type(description="Result of a webhook endpoint mutation.")
class WebhookEndpointPayload:
    endpoint: WebhookEndpointType | None = strawberry.field(description="The endpoint; null on errors.")
    errors: list[WebhookError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="An endpoint and its new secret, shown this once: keep it where the receiver verifies "
                 "signatures.")
class WebhookEndpointSecretPayload:
    endpoint: WebhookEndpointType | None = strawberry.field(description="The endpoint; null on errors.")
    secret: str | None = strawberry.field(description="whsec_<base64 key>; never shown again.")
    errors: list[WebhookError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="Result of a redelivery.")
class WebhookDeliveryPayload:
    delivery: WebhookDeliveryType | None = strawberry.field(description="The delivery, queued again; null on errors.")
    errors: list[WebhookError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="What the endpoint answered to a signed test message (type webhook.ping), sent now.")
class WebhookPingPayload:
    status_code: int | None = strawberry.field(description="The HTTP status; null when there was no answer.")
    latency_ms: int | None = strawberry.field(description="Milliseconds to the answer.")
    error: str | None = strawberry.field(description="Why it failed; null for a 2xx.")
    errors: list[WebhookError] = strawberry.field(description="Empty when the endpoint was found.")
