"""Per-request batch loaders: one statement per batch, results in key order.

- `<Model>ByIdLoader`: rows by primary key (None for a miss);
- `PagesByParentLoader`: one page of a nested list for every parent in the batch;
- `CountByParentLoader`: totalCount of a nested list for every parent in the batch;
- `ListByParentLoader`: a short nested list (lines of an order, a deal's history) whole.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.sql.elements import ColumnElement

from kernel.pagination import Ordering, Page, count_by_parent, fetch_pages_by_parent
from models import (
    ApiKey,
    Event,
    Segment,
    Activity, Channel, ChannelSpend, Contact, Customer, CustomerMerge, Opportunity, OpportunityStageChange,
    FeePayment, Membership, Order, OrderLine, OrderReturn, Product, Programme, RuleVersion, TierOverride, TrainingBooking, User,
    WebhookDelivery, WebhookEndpoint,
)
from resolvers.context import DatabaseLoader
from resolvers.ids import NODE_LOADERS
from resolvers.scoping import row_scope


class ByIdLoader(DatabaseLoader):
    """Rows the caller may read (resolvers/scoping.py), by primary key: a row out of
    scope is a miss, as a missing one is. Every to-one relation, `node(id:)` and by-id
    argument reads through these, so none can reach a row its caller may not see."""

    model: Any
    type_name: str

    async def batch_load_fn(self, ids: list[int]) -> list[Any]:
        scope = row_scope(self.type_name, self.principal)
        async with self.database.read_session() as session:
            rows = (await session.execute(select(self.model).where(self.model.id.in_(list(ids)), scope))).scalars()
            found = {row.id: row for row in rows}
        return [found.get(pk) for pk in ids]


def _by_id(model: Any, node_type: str) -> type[ByIdLoader]:
    loader = type(f"{model.__name__}ByIdLoader", (ByIdLoader,), {"model": model, "type_name": node_type})
    NODE_LOADERS[node_type] = loader
    return loader


CustomerByIdLoader = _by_id(Customer, "Customer")
UserByIdLoader = _by_id(User, "User")
ChannelByIdLoader = _by_id(Channel, "Channel")
ChannelSpendByIdLoader = _by_id(ChannelSpend, "ChannelSpend")
ContactByIdLoader = _by_id(Contact, "Contact")
OpportunityByIdLoader = _by_id(Opportunity, "Opportunity")
StageChangeByIdLoader = _by_id(OpportunityStageChange, "OpportunityStageChange")
ActivityByIdLoader = _by_id(Activity, "Activity")
ProductByIdLoader = _by_id(Product, "Product")
OrderByIdLoader = _by_id(Order, "Order")
OrderLineByIdLoader = _by_id(OrderLine, "OrderLine")
OrderReturnByIdLoader = _by_id(OrderReturn, "OrderReturn")
CustomerMergeByIdLoader = _by_id(CustomerMerge, "CustomerMerge")
ProgrammeByIdLoader = _by_id(Programme, "Programme")
RuleVersionByIdLoader = _by_id(RuleVersion, "RuleVersion")
MembershipByIdLoader = _by_id(Membership, "Membership")
FeePaymentByIdLoader = _by_id(FeePayment, "FeePayment")
TrainingBookingByIdLoader = _by_id(TrainingBooking, "TrainingBooking")
TierOverrideByIdLoader = _by_id(TierOverride, "TierOverride")
ApiKeyByIdLoader = _by_id(ApiKey, "ApiKey")
SegmentByIdLoader = _by_id(Segment, "Segment")
EventByIdLoader = _by_id(Event, "Event")
WebhookEndpointByIdLoader = _by_id(WebhookEndpoint, "WebhookEndpoint")
WebhookDeliveryByIdLoader = _by_id(WebhookDelivery, "WebhookDelivery")


class NestedList:
    """A nested list: its rows' statement (with any filter), parent column, ordering.
    Loader arguments must be hashable; `key` identifies statement + filter."""

    def __init__(self, key: Any, statement: Select, parent: ColumnElement[Any], ordering: Ordering) -> None:
        self.key, self.statement, self.parent, self.ordering = key, statement, parent, ordering

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NestedList) and other.key == self.key


class PagesByParentLoader(DatabaseLoader):
    """Loader args: (NestedList, PageRequest). Keys: parent ids. Values: Page."""

    async def batch_load_fn(self, parent_ids: list[Any]) -> list[Page[Any]]:
        nested, request = self.args
        async with self.database.read_session() as session:
            pages = await fetch_pages_by_parent(session, nested.statement, nested.parent, list(parent_ids),
                                                nested.ordering, request)
        return [pages[pid] for pid in parent_ids]


class CountByParentLoader(DatabaseLoader):
    """Loader args: (NestedList,). Keys: parent ids. Values: counts."""

    async def batch_load_fn(self, parent_ids: list[Any]) -> list[int]:
        (nested,) = self.args
        async with self.database.read_session() as session:
            counts = await count_by_parent(session, nested.statement, nested.parent, list(parent_ids))
        return [counts[pid] for pid in parent_ids]


class ListByParentLoader(DatabaseLoader):
    """Loader args: (NestedList,). Keys: parent ids. Values: every row, in order."""

    async def batch_load_fn(self, parent_ids: list[Any]) -> list[list[Any]]:
        (nested,) = self.args
        order_by = [k.column.desc() if k.descending else k.column.asc() for k in nested.ordering.keys]
        grouped: dict[Any, list[Any]] = {pid: [] for pid in parent_ids}
        async with self.database.read_session() as session:
            rows = (await session.execute(
                nested.statement.where(nested.parent.in_(list(parent_ids))).order_by(*order_by)
            )).scalars()
            for row in rows:
                grouped[getattr(row, nested.parent.key)].append(row)
        return [grouped[pid] for pid in parent_ids]
