"""The channels domain's list builders and Query/Mutation bodies; its types are in schema/channels.py."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from crm import channels as service
from models import ChannelSpend
from resolvers.lists import filter_clause
from resolvers.loaders import NestedList
from resolvers.mutations import mutate
from resolvers.ids import decode_id
from schema.common import given, nested, payload_errors
from schema.filters import to_spec
from schema.fields import root_connection
from schema.pagination import PAGE_ARGUMENTS_HELP, Connection
from schema.permissions import Managers, Staff, guarded_mutation
from schema.channels import (
    ChannelCreateInput, ChannelError, ChannelErrorCode, ChannelFilter, ChannelPayload, ChannelSpendPayload,
    ChannelSpendRecordInput, ChannelSpendType, ChannelType, ChannelUpdateInput,
)


SPEND_BY_CHANNEL = nested("spend", None, service.spend_statement(), ChannelSpend.channel_id, service.SPEND_ORDERING)


def channel_spend(principal) -> NestedList:
    """A channel's `spend` (schema/fields.connection)."""
    return SPEND_BY_CHANNEL


def _payload(row, errors) -> ChannelPayload:
    return ChannelPayload(channel=ChannelType.from_row(row) if row else None,
                          errors=payload_errors(errors, ChannelError, ChannelErrorCode))


def channels_list(principal, filter: ChannelFilter | None = None):
    """The rows and ordering of `channels`."""
    spec = to_spec(filter, {})
    condition = filter_clause(spec, service.FILTER_FIELDS, service.FILTER_SPECIAL)
    statement = service.channels_statement(condition, include_archived=bool(spec and spec.get("archived")))
    return statement, service.CHANNEL_ORDERING


@strawberry.type
class ChannelQueries:
    channels: Connection[ChannelType] = root_connection(
        channels_list, description=f"Channels, by id. {PAGE_ARGUMENTS_HELP}", permissions=[Staff])


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
