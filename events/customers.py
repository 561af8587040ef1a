"""Events of customers: a merge concerns the surviving customer's account when it is a
partner; otherwise staff only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from events.catalogue import Ref, event

SURVIVOR = "staff, and the surviving customer's account when it is a partner"


@event("customer.merged", aggregate="Customer", audience=SURVIVOR)
class CustomerMerged:
    """A duplicate customer was merged into another: its contacts, deals, orders and
    memberships now belong to `survivor`, and `merged` is archived."""
    survivor: Annotated[int, Ref("Customer")]
    merged: Annotated[int, Ref("Customer")]
    merge: Annotated[int, Ref("CustomerMerge")]
    moved: dict[str, Any]  # rows moved, per kind
    merged_at: datetime
