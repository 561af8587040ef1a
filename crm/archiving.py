"""Archive and restore, the soft delete shared by customers, contacts, channels, products."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.errors import Code, DomainError
from kernel.references import get_row

M = TypeVar("M")


async def archive(session: AsyncSession, model: type[M], pk: int, what: str) -> M:
    row = await get_row(session, model, pk, lock=True)
    if row is None:
        raise DomainError.one("id", f"No {what} has this ID.", Code.NOT_FOUND)
    if row.archived_at is not None:  # type: ignore[attr-defined]
        raise DomainError.one("id", f"This {what} is already archived.", Code.NO_CHANGE)
    row.archived_at = func.now()  # type: ignore[attr-defined]
    await session.flush()
    await session.refresh(row)
    return row


async def restore(session: AsyncSession, model: type[M], pk: int, what: str) -> M:
    row = await get_row(session, model, pk, lock=True)
    if row is None:
        raise DomainError.one("id", f"No {what} has this ID.", Code.NOT_FOUND)
    if row.archived_at is None:  # type: ignore[attr-defined]
        raise DomainError.one("id", f"This {what} is not archived.", Code.NO_CHANGE)
    row.archived_at = None  # type: ignore[attr-defined]
    await session.flush()
    await session.refresh(row)
    return row
