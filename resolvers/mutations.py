"""One plumbing for every mutation: a session and a transaction, the domain call, and
domain errors turned into the payload's typed errors (with nothing written)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import DomainError, FieldError
from resolvers.context import Context

T = TypeVar("T")


async def mutate(context: Context, action: Callable[[AsyncSession], Awaitable[T]]) -> tuple[T | None, list[FieldError]]:
    try:
        async with context.database.session() as session, session.begin():
            result = await action(session)
    except DomainError as error:
        return None, error.errors
    return result, []

