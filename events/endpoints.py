"""Registering webhook endpoints: who registers what, checked before anything is written.

An admin's endpoint (account None) receives every event; a partner's receives only the
events of its own account (the feed's row scope, events.outbox.Emission.account_id).
The secret is made here and returned to the caller once (at creation and at rotation);
queries never show it again. Refusals of the URL or of event types raise `BadInput`
(the API answers BAD_USER_INPUT naming the argument); a missing endpoint or delivery is
a DomainError (NOT_FOUND)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from events import destinations, signing
from events.catalogue import CATALOGUE
from events.delivery import START_POSITION
from kernel.errors import Code, DomainError, domain_codes, not_found
from kernel.references import get_row
from kernel.validation import Checker
from models import WebhookDelivery, WebhookEndpoint

WebhookErrorCode = domain_codes("WebhookErrorCode")
MAX_EVENT_TYPES = 100
MAX_ENDPOINTS = 20  # per partner account, and for staff


class BadInput(ValueError):
    def __init__(self, argument: str, message: str) -> None:
        super().__init__(message)
        self.argument, self.message = argument, message


@dataclass(frozen=True)
class WithSecret:
    endpoint: WebhookEndpoint
    secret: str  # shown once


async def checked_url(url: Any, *, allow_private: bool, argument: str = "url") -> str:
    try:
        await destinations.check(url, allow_private=allow_private)
    except destinations.Refused as refused:
        raise BadInput(argument, str(refused)) from None
    return url


def checked_types(types: Sequence[str] | None, *, argument: str = "eventTypes") -> list[str]:
    types = list(types or [])
    if len(types) > MAX_EVENT_TYPES:
        raise BadInput(argument, f"At most {MAX_EVENT_TYPES} event types.")
    unknown = sorted({t for t in types if t not in CATALOGUE}, key=repr)
    if unknown:
        shown = ", ".join(repr(t)[:60] for t in unknown[:5])
        raise BadInput(argument, f"Unknown event types: {shown} (docs/events.md lists the types).")
    return sorted(set(types))


def _description(value: Any) -> str | None:
    check = Checker()
    clean = check.text("description", value, max_len=200)
    check.done()
    return clean


async def create_endpoint(session: AsyncSession, *, account_id: int | None, url: str, event_types: Sequence[str] | None,
                          description: str | None = None, active: bool = True, allow_private: bool = False) -> WithSecret:
    types = checked_types(event_types)
    await checked_url(url, allow_private=allow_private)
    clean = _description(description)
    owner = WebhookEndpoint.account_id.is_(None) if account_id is None else WebhookEndpoint.account_id == account_id
    existing = (await session.execute(select(func.count()).select_from(WebhookEndpoint).where(owner))).scalar_one()
    if existing >= MAX_ENDPOINTS:
        raise DomainError.one(None, f"At most {MAX_ENDPOINTS} endpoints; delete one first.", Code.TOO_MANY)
    secret = signing.new_secret()
    start = (await session.execute(START_POSITION)).scalar_one()
    endpoint = WebhookEndpoint(account_id=account_id, url=url, event_types=types, description=clean,
                               active=bool(active), secret=secret, position=start)
    session.add(endpoint)
    await session.flush()
    return WithSecret(endpoint, secret)


async def _endpoint(session: AsyncSession, endpoint_id: int) -> WebhookEndpoint:
    endpoint = await get_row(session, WebhookEndpoint, endpoint_id, lock=True)
    if endpoint is None:
        raise not_found("id", "webhook endpoint")
    return endpoint


async def update_endpoint(session: AsyncSession, endpoint_id: int, changes: Mapping[str, Any], *,
                          allow_private: bool = False) -> WebhookEndpoint:
    """Changes what is given; `active: true` also enables a disabled endpoint again (its
    failure count starts over, its waiting deliveries go out)."""
    values: dict[str, Any] = {}
    if "event_types" in changes:
        values["event_types"] = checked_types(changes["event_types"], argument="input.eventTypes")
    if "url" in changes:
        values["url"] = await checked_url(changes["url"], allow_private=allow_private, argument="input.url")
    if "description" in changes:
        values["description"] = _description(changes["description"])
    if "active" in changes:
        if changes["active"] is None:
            raise BadInput("input.active", "active is true or false, not null.")
        values["active"] = bool(changes["active"])
        if values["active"]:
            values.update(disabled_at=None, disabled_reason=None, consecutive_failures=0)
    endpoint = await _endpoint(session, endpoint_id)
    for name, value in values.items():
        setattr(endpoint, name, value)
    await session.flush()
    return endpoint


async def delete_endpoint(session: AsyncSession, endpoint_id: int) -> WebhookEndpoint:
    """Removes the endpoint with its deliveries and their log."""
    endpoint = await _endpoint(session, endpoint_id)
    await session.delete(endpoint)
    await session.flush()
    return endpoint


async def rotate_secret(session: AsyncSession, endpoint_id: int, *, grace: timedelta) -> WithSecret:
    """A new secret signs from now on; the current one keeps signing beside it for
    `grace`, so receivers can switch without missing a delivery."""
    endpoint = await _endpoint(session, endpoint_id)
    secret = signing.new_secret()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = datetime.now(timezone.utc) + grace
    endpoint.secret = secret
    await session.flush()
    return WithSecret(endpoint, secret)


async def redeliver(session: AsyncSession, delivery_id: int) -> WebhookDelivery:
    """Queues a delivery again, now (a succeeded or dead one too), with a fresh count of
    attempts; its log keeps the earlier attempts. Same webhook-id as before."""
    found = (await session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(
        status="pending", attempts=0, next_attempt_at=datetime.now(timezone.utc), claimed_until=None, claim_token=None)
        .returning(WebhookDelivery.id))).scalar_one_or_none()
    if found is None:
        raise not_found("id", "webhook delivery")
    return (await session.execute(select(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
                                  .execution_options(populate_existing=True))).scalar_one()
