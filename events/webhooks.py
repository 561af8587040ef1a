"""Events of webhook endpoints: they concern the account that registered the endpoint
(staff only for staff's endpoints)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from events.catalogue import Ref, event

OWNER = "staff, and the partner account that registered the endpoint"


@event("webhook.endpoint_disabled", aggregate="WebhookEndpoint", audience=OWNER)
class WebhookEndpointDisabled:
    """An endpoint failed `consecutiveFailures` delivery attempts in a row and was
    disabled: nothing is delivered to it until it is enabled again (`webhookEndpointUpdate`
    with `active: true`); its pending deliveries wait, none is lost."""
    endpoint: Annotated[int, Ref("WebhookEndpoint")]
    url: str
    consecutive_failures: int
    disabled_at: datetime
