"""Channels customers come from, and what they cost."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.archiving import archive, restore
from kernel.errors import Code, DomainError, domain_codes
from kernel.filtering import FilterField
from kernel.pagination import build_ordering
from kernel.references import ensure_unique, live
from kernel.validation import Checker
from models import Channel, ChannelKind, ChannelSpend

ChannelErrorCode = domain_codes("ChannelErrorCode", "duplicate", "overlapping_period")


def _clean(values: Mapping[str, Any]) -> dict[str, Any]:
    check = Checker()
    clean: dict[str, Any] = {}
    for name, value in values.items():
        if name == "name":
            clean[name] = check.text("name", value, max_len=100, required=True)
        elif name == "kind":
            clean[name] = check.choice("kind", value, ChannelKind)
        elif name == "active":
            clean[name] = check.flag("active", value)
        else:
            clean[name] = value
    check.done()
    return clean


async def _unique_name(session: AsyncSession, name: str, channel_id: int | None) -> None:
    await ensure_unique(session, Channel, func.lower(Channel.name), name.lower(), channel_id, field="name",
                        message="Another channel has this name.", code=ChannelErrorCode.DUPLICATE)


async def create_channel(session: AsyncSession, *, name: str, kind: ChannelKind, active: bool = True) -> Channel:
    values = _clean({"name": name, "kind": kind, "active": active})
    await _unique_name(session, values["name"], None)
    channel = Channel(**values)
    session.add(channel)
    await session.flush()
    return channel


async def update_channel(session: AsyncSession, channel_id: int, changes: Mapping[str, Any]) -> Channel:
    channel = await live(session, Channel, channel_id, "id", "channel", lock=True)
    values = _clean(changes)
    if "name" in values:
        await _unique_name(session, values["name"], channel_id)
    for name, value in values.items():
        setattr(channel, name, value)
    await session.flush()
    return channel


async def archive_channel(session: AsyncSession, channel_id: int) -> Channel:
    return await archive(session, Channel, channel_id, "channel")


async def restore_channel(session: AsyncSession, channel_id: int) -> Channel:
    return await restore(session, Channel, channel_id, "channel")


async def record_spend(session: AsyncSession, *, channel_id: int, period_start: date, period_end: date,
                       amount: Decimal, currency: str, actor_id: int | None) -> ChannelSpend:
    """Spend over [period_start, period_end). Periods of one channel in one currency may
    not overlap, so analytics never count a cost twice."""
    check = Checker()
    period_start = check.day("period_start", period_start)
    period_end = check.day("period_end", period_end)
    amount = check.money("amount", amount)
    currency = check.currency("currency", currency)
    if period_start and period_end and period_end <= period_start:
        check.fail("period_end", "The period ends after it starts (the end day is not included).", Code.INVALID)
    check.done()
    await live(session, Channel, channel_id, "channel_id", "channel", lock=True)
    overlap = (await session.execute(
        select(ChannelSpend.id).where(
            ChannelSpend.channel_id == channel_id,
            ChannelSpend.currency == currency,
            ChannelSpend.period_start < period_end,
            ChannelSpend.period_end > period_start,
        ).limit(1)
    )).scalar_one_or_none()
    if overlap is not None:
        raise DomainError.one("period_start", "Spend is already recorded for part of this period.",
                              ChannelErrorCode.OVERLAPPING_PERIOD, ("ChannelSpend", overlap))
    spend = ChannelSpend(channel_id=channel_id, period_start=period_start, period_end=period_end,
                         amount=amount, currency=currency, recorded_by_id=actor_id)
    session.add(spend)
    await session.flush()
    return spend


FILTER_FIELDS = {"kind": FilterField(Channel.kind, "enum"), "active": FilterField(Channel.active, "bool")}
FILTER_SPECIAL = {"archived": lambda v: Channel.archived_at.is_not(None) if v else Channel.archived_at.is_(None)}
# A handful of channels: listed by id.
CHANNEL_ORDERING = build_ordering({}, [], Channel.id)
SPEND_ORDERING = build_ordering({}, [], ChannelSpend.id)


def spend_statement() -> Select:
    return select(ChannelSpend)


def channels_statement(condition: Any = None, *, include_archived: bool = False) -> Select:
    statement = select(Channel)
    if condition is not None:
        statement = statement.where(condition)
    if not include_archived:
        statement = statement.where(Channel.archived_at.is_(None))
    return statement
