"""The webhooks domain's list builders, loaders and Query/Mutation bodies; its types are
in schema/webhooks.py, the domain in events/endpoints.py and events/delivery.py."""

from __future__ import annotations

from datetime import timedelta

import strawberry
from sqlalchemy import and_, func, select
from strawberry.types import Info

from events import delivery
from events import endpoints as service
from kernel.errors import not_found
from kernel.pagination import build_ordering
from models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from resolvers.context import DatabaseLoader
from resolvers.errors import ApiError, ErrorCode
from resolvers.ids import decode_id
from resolvers.loaders import NestedList
from resolvers.mutations import mutate
from resolvers.scoping import partner_account, readable, row_scope
from schema.common import given, nested, payload_errors
from schema.fields import root_connection
from schema.pagination import PAGE_ARGUMENTS_HELP, Connection
from schema.permissions import allow, guarded_mutation
from schema.webhooks import (
    WebhookDeliveryPayload, WebhookDeliveryType, WebhookEndpointCreateInput, WebhookEndpointPayload,
    WebhookEndpointSecretPayload, WebhookEndpointType, WebhookEndpointUpdateInput, WebhookError, WebhookErrorCode,
    WebhookPingPayload,
)
from crm.auth import Role

AdminsOrOwnAccount = allow(Role.ADMIN, Role.PARTNER, note=" (a partner: its own account's endpoints only)")
ENDPOINT_ORDERING = build_ordering({}, [], WebhookEndpoint.id)
DELIVERY_ORDERING = build_ordering({}, [], WebhookDelivery.id, default=())
MAX_LOG = 100


def webhook_endpoints_list(principal):
    """The rows and ordering of `webhookEndpoints`: the caller's scope."""
    return select(WebhookEndpoint).where(row_scope("WebhookEndpoint", principal)), ENDPOINT_ORDERING


def endpoint_deliveries(principal) -> NestedList:
    """An endpoint's `deliveries` (schema/fields.connection)."""
    statement = select(WebhookDelivery).where(row_scope("WebhookDelivery", principal))
    return nested("webhookEndpoint.deliveries", None, statement, WebhookDelivery.endpoint_id, DELIVERY_ORDERING)


class AttemptsByDeliveryLoader(DatabaseLoader):
    """Keys: delivery ids (already read through the caller's scope). Values: the last
    MAX_LOG attempts of each, oldest first, in one statement."""

    async def batch_load_fn(self, ids: list[int]) -> list[list[WebhookAttempt]]:
        ranked = select(WebhookAttempt, func.row_number().over(
            partition_by=WebhookAttempt.delivery_id, order_by=WebhookAttempt.id.desc()).label("n")).where(
            WebhookAttempt.delivery_id.in_(list(ids))).subquery()
        latest = select(WebhookAttempt).join(ranked, ranked.c.id == WebhookAttempt.id).where(ranked.c.n <= MAX_LOG) \
            .order_by(WebhookAttempt.delivery_id, WebhookAttempt.id)
        async with self.database.read_session() as session:
            rows = (await session.execute(latest)).scalars().all()
        found: dict[int, list[WebhookAttempt]] = {pk: [] for pk in ids}
        for row in rows:
            found[row.delivery_id].append(row)
        return [found[pk] for pk in ids]


def _bad(error: service.BadInput) -> ApiError:
    return ApiError(ErrorCode.BAD_USER_INPUT, error.message, argument=error.argument)


def _payload(row, errors) -> WebhookEndpointPayload:
    return WebhookEndpointPayload(endpoint=WebhookEndpointType.from_row(row) if row is not None else None,
                                  errors=payload_errors(errors, WebhookError, WebhookErrorCode))


def _secret_payload(result, errors) -> WebhookEndpointSecretPayload:
    return WebhookEndpointSecretPayload(
        endpoint=WebhookEndpointType.from_row(result.endpoint) if result is not None else None,
        secret=result.secret if result is not None else None,
        errors=payload_errors(errors, WebhookError, WebhookErrorCode))


async def _own(session, info: Info, type_name: str, pk: int, what: str) -> None:
    """NOT_FOUND for an endpoint or delivery out of the caller's scope, worded as for a
    missing one."""
    if not await readable(session, info.context.principal, type_name, pk):
        raise not_found("id", what)


async def _guarded(info: Info, action):
    try:
        return await mutate(info.context, action)
    except service.BadInput as error:
        raise _bad(error) from None


@strawberry.type
class WebhookQueries:
    webhook_endpoints: Connection[WebhookEndpointType] = root_connection(
        webhook_endpoints_list, description=f"Webhook endpoints, by id: an admin's every one, a partner's its own. "
        f"{PAGE_ARGUMENTS_HELP}", permissions=[AdminsOrOwnAccount])


@strawberry.type
class WebhookMutations:
    @guarded_mutation(description="Register an endpoint. An admin's receives every event, a partner's the events of its "
                      "own account only. The URL is refused (BAD_USER_INPUT, argument input.url) unless it is http(s) "
                      "and its host resolves to public addresses only; unknown event types are refused likewise. The "
                      "payload's `secret` is shown this once.", permissions=[AdminsOrOwnAccount])
    async def webhook_endpoint_create(self, info: Info, input: WebhookEndpointCreateInput) -> WebhookEndpointSecretPayload:
        principal, policy = info.context.principal, info.context.webhooks
        try:
            types = service.checked_types(input.event_types, argument="input.eventTypes")
            await service.checked_url(input.url, allow_private=policy.allow_private, argument="input.url")
        except service.BadInput as error:
            raise _bad(error) from None
        return _secret_payload(*await _guarded(info, lambda s: service.create_endpoint(
            s, account_id=partner_account(principal), url=input.url, event_types=types, description=input.description,
            active=input.active, allow_private=policy.allow_private)))

    @guarded_mutation(description="Change an endpoint (only the fields sent); `active: true` enables one that sustained "
                      "failure disabled.", permissions=[AdminsOrOwnAccount])
    async def webhook_endpoint_update(self, info: Info, id: strawberry.ID, input: WebhookEndpointUpdateInput
                                      ) -> WebhookEndpointPayload:
        changes = given(input)

        async def action(session):
            pk = decode_id(id, "WebhookEndpoint", "id")
            await _own(session, info, "WebhookEndpoint", pk, "webhook endpoint")
            return await service.update_endpoint(session, pk, changes, allow_private=info.context.webhooks.allow_private)
        return _payload(*await _guarded(info, action))

    @guarded_mutation(description="Delete an endpoint with its deliveries and their log.", permissions=[AdminsOrOwnAccount])
    async def webhook_endpoint_delete(self, info: Info, id: strawberry.ID) -> WebhookEndpointPayload:
        async def action(session):
            pk = decode_id(id, "WebhookEndpoint", "id")
            await _own(session, info, "WebhookEndpoint", pk, "webhook endpoint")
            return await service.delete_endpoint(session, pk)
        return _payload(*await _guarded(info, action))

    @guarded_mutation(description="Give an endpoint a new secret, shown this once. The previous secret keeps signing "
                      "beside it (two signatures per delivery) for CRM_WEBHOOK_ROTATION_GRACE_HOURS.",
                      permissions=[AdminsOrOwnAccount])
    async def webhook_endpoint_rotate_secret(self, info: Info, id: strawberry.ID) -> WebhookEndpointSecretPayload:
        grace = timedelta(seconds=info.context.webhooks.rotation_grace)

        async def action(session):
            pk = decode_id(id, "WebhookEndpoint", "id")
            await _own(session, info, "WebhookEndpoint", pk, "webhook endpoint")
            return await service.rotate_secret(session, pk, grace=grace)
        return _secret_payload(*await _guarded(info, action))

    @guarded_mutation(description="Send a signed test message (type webhook.ping) to an endpoint now and say what it "
                      "answered; nothing is logged or retried.", permissions=[AdminsOrOwnAccount])
    async def webhook_endpoint_ping(self, info: Info, id: strawberry.ID) -> WebhookPingPayload:
        async def action(session):
            pk = decode_id(id, "WebhookEndpoint", "id")
            await _own(session, info, "WebhookEndpoint", pk, "webhook endpoint")
            return await session.get(WebhookEndpoint, pk)
        endpoint, errors = await mutate(info.context, action)
        if endpoint is None:
            return WebhookPingPayload(status_code=None, latency_ms=None, error=None,
                                      errors=payload_errors(errors, WebhookError, WebhookErrorCode))
        answer = await delivery.ping(endpoint, info.context.webhooks)
        return WebhookPingPayload(status_code=answer.status, latency_ms=answer.latency_ms, error=answer.error, errors=[])

    @guarded_mutation(description="Queue a delivery again, now (a dead one too), with the same webhook-id; its attempt "
                      "log keeps the earlier attempts.", permissions=[AdminsOrOwnAccount])
    async def webhook_delivery_redeliver(self, info: Info, id: strawberry.ID) -> WebhookDeliveryPayload:
        async def action(session):
            pk = decode_id(id, "WebhookDelivery", "id")
            await _own(session, info, "WebhookDelivery", pk, "webhook delivery")
            return await service.redeliver(session, pk)
        row, errors = await mutate(info.context, action)
        return WebhookDeliveryPayload(delivery=WebhookDeliveryType.from_row(row) if row is not None else None,
                                      errors=payload_errors(errors, WebhookError, WebhookErrorCode))
