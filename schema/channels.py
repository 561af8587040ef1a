from __future__ import annotations

from datetime import date, datetime

import strawberry

from crm import channels as service
from models import Channel as ChannelRow
from models import ChannelKind, ChannelSpend
from schema.common import Money, MoneyInput
from schema.errors import error_codes, error_type
from schema.filters import BooleanFilter, EnumFilter
from schema.fields import column, connection, global_id, money, to_one
from schema.node import NODE_TYPES, Node
from schema.pagination import PAGE_ARGUMENTS_HELP, Connection

strawberry.enum(ChannelKind, description="What sort of channel.")
ChannelErrorCode = error_codes(service.ChannelErrorCode, "channel")
ChannelError = error_type("ChannelError", ChannelErrorCode, "channel")


@strawberry.type(name="ChannelSpend", description="What a channel cost over [periodStart, periodEnd).")
class ChannelSpendType(Node):
    id: strawberry.ID = global_id("ChannelSpend")
    period_start: date = column("period_start", description="First day of the period.")
    period_end: date = column("period_end", description="Day after the last day of the period.")
    amount: Money = money("amount", description="The cost.")
    recorded_at: datetime = column("recorded_at", description="When it was recorded.")
    _row: strawberry.Private[ChannelSpend]

    channel: ChannelType = to_one("Channel", "channel_id", description="The channel.")


@strawberry.type(name="Channel", description="Where customers come from: direct, web, event, partner, ...")
class ChannelType(Node):
    id: strawberry.ID = global_id("Channel")
    name: str = column("name", description="Unique name.")
    kind: ChannelKind = column("kind", description="Kind of channel.")
    active: bool = column("active", description="Whether new customers and deals may be attributed to it.")
    archived_at: datetime | None = column("archived_at", description="When it was archived; null while live.")
    created_at: datetime = column("created_at", description="When it was created.")
    _row: strawberry.Private[ChannelRow]

    spend: Connection[ChannelSpendType] = connection(
        "resolvers.channels:channel_spend", description=f"Recorded spend, oldest first. {PAGE_ARGUMENTS_HELP}")


NODE_TYPES["Channel"] = ChannelType.from_row
NODE_TYPES["ChannelSpend"] = ChannelSpendType.from_row


@strawberry.input(description="Which channels to list. Archived ones only when `archived: true`.")
class ChannelFilter:
    kind: EnumFilter[ChannelKind] | None = strawberry.field(default=None, description="By kind.")
    active: BooleanFilter | None = strawberry.field(default=None, description="Active or not.")
    archived: bool | None = strawberry.field(default=None, description="true: archived only; false or absent: live only.")


@strawberry.input(description="A new channel.")
class ChannelCreateInput:
    name: str = strawberry.field(description="Unique name (case-insensitive), 1 to 100 characters.")
    kind: ChannelKind = strawberry.field(description="Kind of channel.")
    active: bool = strawberry.field(default=True, description="Default true.")


@strawberry.input(description="Changes to a channel; only the fields sent change.")
class ChannelUpdateInput:
    name: str | None = strawberry.field(default=strawberry.UNSET, description="New name.")
    kind: ChannelKind | None = strawberry.field(default=strawberry.UNSET, description="New kind.")
    active: bool | None = strawberry.field(default=strawberry.UNSET, description="Active or not.")


@strawberry.input(description="Spend of a channel over a period.")
class ChannelSpendRecordInput:
    channel_id: strawberry.ID = strawberry.field(description="The channel.")
    period_start: date = strawberry.field(description="First day of the period.")
    period_end: date = strawberry.field(description="Day after the last day (half-open period).")
    amount: MoneyInput = strawberry.field(description="The cost.")


@strawberry.type(description="Result of a channel mutation.")
class ChannelPayload:
    channel: ChannelType | None = strawberry.field(description="The channel; null when errors is not empty.")
    errors: list[ChannelError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="Result of channelSpendRecord.")
class ChannelSpendPayload:
    spend: ChannelSpendType | None = strawberry.field(description="The recorded spend; null when errors is not empty.")
    errors: list[ChannelError] = strawberry.field(description="Empty on success.")


