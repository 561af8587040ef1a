from __future__ import annotations

from datetime import date, datetime

import strawberry
from strawberry.types import Info

from crm import channels as service
from models import Channel as ChannelRow
from models import ChannelKind, ChannelSpend
from resolvers import sql_json
from resolvers.lists import filter_clause
from resolvers.loaders import ChannelByIdLoader
from resolvers.mutations import mutate
from resolvers.node import decode_id
from schema.common import list_connection, Money, MoneyInput, gid, given, nested, nested_connection, payload_errors
from schema.errors import error_codes, error_type
from schema.filters import BooleanFilter, EnumFilter, to_spec
from schema.node import NODE_TYPES, Node
from schema.pagination import PAGE_ARGUMENTS_HELP, Connection
from schema.permissions import Managers, Staff, guarded_field, guarded_mutation

strawberry.enum(ChannelKind, description="What sort of channel.")
ChannelErrorCode = error_codes(service.ChannelErrorCode, "channel")
ChannelError = error_type("ChannelError", ChannelErrorCode, "channel")

SPEND_BY_CHANNEL = nested("spend", None, service.spend_statement(), ChannelSpend.channel_id, service.SPEND_ORDERING)


@strawberry.type(name="ChannelSpend", description="What a channel cost over [periodStart, periodEnd).")
class ChannelSpendType(Node):
    period_start: date = strawberry.field(description="First day of the period.")
    period_end: date = strawberry.field(description="Day after the last day of the period.")
    amount: Money = strawberry.field(description="The cost.")
    recorded_at: datetime = strawberry.field(description="When it was recorded.")
    _row: strawberry.Private[ChannelSpend]

    @strawberry.field(description="The channel.")
    async def channel(self, info: Info) -> ChannelType:
        return ChannelType.from_row(await info.context.loader(ChannelByIdLoader).load(self._row.channel_id))

    @classmethod
    def from_row(cls, row: ChannelSpend) -> ChannelSpendType:
        return cls(id=gid("ChannelSpend", row.id), period_start=row.period_start, period_end=row.period_end,
                   amount=Money.of(row.amount, row.currency), recorded_at=row.recorded_at, _row=row)


@strawberry.type(name="Channel", description="Where customers come from: direct, web, event, partner, ...")
class ChannelType(Node):
    name: str = strawberry.field(description="Unique name.")
    kind: ChannelKind = strawberry.field(description="Kind of channel.")
    active: bool = strawberry.field(description="Whether new customers and deals may be attributed to it.")
    archived_at: datetime | None = strawberry.field(description="When it was archived; null while live.")
    created_at: datetime = strawberry.field(description="When it was created.")
    _row: strawberry.Private[ChannelRow]

    @strawberry.field(description=f"Recorded spend, oldest first. {PAGE_ARGUMENTS_HELP}")
    async def spend(self, info: Info, first: int | None = None, after: str | None = None,
                    last: int | None = None, before: str | None = None) -> Connection[ChannelSpendType]:
        return await nested_connection(info, SPEND_BY_CHANNEL, self._row.id, ChannelSpendType.from_row,
                                       first=first, after=after, last=last, before=before)

    @classmethod
    def from_row(cls, row: ChannelRow) -> ChannelType:
        return cls(id=gid("Channel", row.id), name=row.name, kind=ChannelKind(row.kind), active=row.active,
                   archived_at=row.archived_at, created_at=row.created_at, _row=row)


NODE_TYPES["Channel"] = ChannelType.from_row
NODE_TYPES["ChannelSpend"] = ChannelSpendType.from_row


async def load_channel(info: Info, pk: int | None) -> ChannelType | None:
    if pk is None:
        return None
    row = await info.context.loader(ChannelByIdLoader).load(pk)
    return ChannelType.from_row(row) if row else None


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


def _payload(row, errors) -> ChannelPayload:
    return ChannelPayload(channel=ChannelType.from_row(row) if row else None,
                          errors=payload_errors(errors, ChannelError, ChannelErrorCode))


@strawberry.type
class ChannelQueries:
    @guarded_field(description=f"Channels, by id. {PAGE_ARGUMENTS_HELP}", permissions=[Staff])
    async def channels(self, info: Info, filter: ChannelFilter | None = None, first: int | None = None,
                       after: str | None = None, last: int | None = None, before: str | None = None) -> Connection[ChannelType]:
        spec = to_spec(filter, {})
        condition = filter_clause(spec, service.FILTER_FIELDS, service.FILTER_SPECIAL)
        statement = service.channels_statement(condition, include_archived=bool(spec and spec.get("archived")))
        return await list_connection(info, statement, service.CHANNEL_ORDERING, ChannelType.from_row,
                                     first=first, after=after, last=last, before=before)


@strawberry.type
class ChannelMutations:
    @guarded_mutation(description="Create a channel.", idempotent=True, permissions=[Managers])
    async def channel_create(self, info: Info, input: ChannelCreateInput) -> ChannelPayload:
        return _payload(*await mutate(info.context, lambda session: service.create_channel(
            session, name=input.name, kind=input.kind, active=input.active)))

    @guarded_mutation(description="Change a channel.", permissions=[Managers])
    async def channel_update(self, info: Info, id: strawberry.ID, input: ChannelUpdateInput) -> ChannelPayload:
        async def action(session):
            return await service.update_channel(session, decode_id(id, "Channel", "id"), given(input))
        return _payload(*await mutate(info.context, action))

    @guarded_mutation(description="Archive a channel (soft delete; its history stays).", permissions=[Managers])
    async def channel_archive(self, info: Info, id: strawberry.ID) -> ChannelPayload:
        return _payload(*await mutate(info.context, lambda s: service.archive_channel(s, decode_id(id, "Channel", "id"))))

    @guarded_mutation(description="Restore an archived channel.", permissions=[Managers])
    async def channel_restore(self, info: Info, id: strawberry.ID) -> ChannelPayload:
        return _payload(*await mutate(info.context, lambda s: service.restore_channel(s, decode_id(id, "Channel", "id"))))

    @guarded_mutation(description="Record what a channel cost over a period. Periods of one channel and currency may not overlap.",
                      idempotent=True, permissions=[Managers])
    async def channel_spend_record(self, info: Info, input: ChannelSpendRecordInput) -> ChannelSpendPayload:
        async def action(session):
            return await service.record_spend(
                session, channel_id=decode_id(input.channel_id, "Channel", "channel_id"),
                period_start=input.period_start, period_end=input.period_end,
                amount=input.amount.amount, currency=input.amount.currency, actor_id=info.context.actor_id)
        row, errors = await mutate(info.context, action)
        return ChannelSpendPayload(spend=ChannelSpendType.from_row(row) if row else None,
                                   errors=payload_errors(errors, ChannelError, ChannelErrorCode))


sql_json.register_type("Channel", ChannelRow, {
    "id": sql_json.GlobalId("Channel"), "name": "name", "kind": "kind", "active": "active",
    "archivedAt": "archived_at", "createdAt": "created_at",
})
