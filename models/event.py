from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Identity, Index, Integer, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base

class Event(Base):
    """One thing that happened, written by the transaction that made it happen (the
    outbox: a rolled-back change leaves no event), in the catalogue's form
    (events.catalogue). Append-only: a trigger refuses UPDATE and DELETE, except the
    sequencer's giving a row its position, once."""

    __tablename__ = "event"
    __table_args__ = (
        UniqueConstraint("aggregate_type", "aggregate_id", "sequence"),
        Index("ix_event_position", "position", unique=True),
        Index("ix_event_account_id", "account_id", "position"),
        Index("ix_event_unpositioned", "id", postgresql_where=text("position IS NULL")),
    )

    # Its global ID (base64("Event:<id>")) is the event's stable id (webhook-id).
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # Its place in the feed, 1, 2, 3, ..., given after its transaction committed
    # (events.outbox.advance); None until then. Readers page by it, so a late commit
    # lands after what they have read, never before it.
    position: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    type: Mapped[str] = mapped_column(Text, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    # When it happened in the domain (an order's placedAt, an assessment's asOf) ...
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # ... and when it was written.
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=text("now()"))
    aggregate_type: Mapped[str] = mapped_column(Text, nullable=False)
    aggregate_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # 1, 2, ... per aggregate, in the order the aggregate's transactions committed
    # (event_stream serialises them).
    sequence: Mapped[int] = mapped_column(Integer, nullable=False)
    # The partner account the event is about (a partner reads only its own); None: staff only.
    account_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    payload: Mapped[Any] = mapped_column(JSONB, nullable=False)


class EventStream(Base):
    """The last sequence number of each aggregate's events. Its row is locked by the
    transaction that writes the aggregate's next event until that transaction ends, so
    the aggregate's events are numbered in commit order."""

    __tablename__ = "event_stream"

    aggregate_type: Mapped[str] = mapped_column(Text, primary_key=True)
    aggregate_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    last_sequence: Mapped[int] = mapped_column(Integer, nullable=False)
