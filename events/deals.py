"""Events of deal registrations: they concern the registering partner."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from events.catalogue import Ref, event

REGISTRANT = "staff, and the registering partner"


@dataclass(frozen=True, kw_only=True)
class OfRegistration:
    registration: Annotated[int, Ref("DealRegistration")]
    partner: Annotated[int, Ref("Customer")]
    customer: Annotated[int, Ref("Customer")]
    opportunity: Annotated[int, Ref("Opportunity")] | None


@event("deal.registered", aggregate="DealRegistration", audience=REGISTRANT)
class DealRegistered(OfRegistration):
    """A partner registered a deal: exclusivity on the customer until `expiresAt`."""
    registered_at: datetime
    expires_at: datetime


@event("deal.contested", aggregate="DealRegistration", audience=REGISTRANT)
class DealContested(OfRegistration):
    """A registration left its customer claimed by more than one party (another partner
    referred it or registered one of its open deals): a channel conflict to settle.
    Says which kinds of claim compete, never whose."""
    competing: list[str]  # kinds of the other claims: referral, registered_deal, ...
    at: datetime
