"""One plumbing for every mutation: a session and a transaction, the domain call, and
domain errors turned into the payload's typed errors (with nothing written).

Mutations declared idempotent (`guarded_mutation(idempotent=True)`) take an
`idempotencyKey` argument; `Idempotent` reads it and `mutate` presents it in the
mutation's own transaction (crm.idempotency), so the effect and the stored answer
commit together or not at all.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry import UNSET
from strawberry.annotation import StrawberryAnnotation
from strawberry.extensions import FieldExtension
from strawberry.types.arguments import StrawberryArgument
from strawberry.types import Info

from crm import idempotency
from crm.auth import Principal
from kernel.errors import DomainError, FieldError, duplicate_of
from resolvers.context import Context
from resolvers.errors import ApiError, ErrorCode

T = TypeVar("T")

KEY_ARGUMENT = "idempotencyKey"
KEY_HELP = (f"Makes a retry safe: the same key with the same arguments, from the same caller within "
            f"{int(idempotency.RETENTION.total_seconds() // 3600)} hours, returns the first request's result (its "
            f"objects as they are now) instead of doing it again; with other arguments it is refused "
            f"(IDEMPOTENCY_KEY_REUSED). A refused request does not use up its key. 1 to "
            f"{idempotency.MAX_KEY_LENGTH} printable characters, e.g. a UUID.")


@dataclass
class _Key:
    caller: str
    operation: str
    key: str
    fingerprint: bytes
    presented: bool = False


# Set around one mutation field's resolver: mutation fields run one after another, and
# the resolver's awaits run in the task that set it.
_current_key: ContextVar[_Key | None] = ContextVar("idempotency_key", default=None)


async def mutate(context: Context, action: Callable[[AsyncSession], Awaitable[T]]) -> tuple[T | None, list[FieldError]]:
    key = _current_key.get()
    if key is not None:
        if key.presented:
            raise RuntimeError(f"{key.operation} runs more than one transaction; its key covers one")
        key.presented = True
    try:
        async with context.database.session() as session, session.begin():
            result = await action(session) if key is None else await _once(session, key, action)
    except DomainError as error:
        return None, error.errors
    except IntegrityError as error:
        duplicate = duplicate_of(error)
        if duplicate is None:
            raise
        return None, duplicate.errors
    return result, []


async def _once(session: AsyncSession, key: _Key, action: Callable[[AsyncSession], Awaitable[T]]) -> T:
    try:
        claim = await idempotency.claim(session, caller=key.caller, operation=key.operation, key=key.key,
                                        fingerprint=key.fingerprint)
    except idempotency.KeyReused:
        raise ApiError(ErrorCode.IDEMPOTENCY_KEY_REUSED,
                       f"This idempotency key was used for {key.operation} with other arguments; use a new key.",
                       argument=KEY_ARGUMENT) from None
    if not claim.owned:
        return await idempotency.decode(session, claim.result)
    result = await action(session)
    await idempotency.complete(session, claim, idempotency.encode(result))
    return result


def caller_of(principal: Principal) -> str:
    """Whose keys these are: the user (whether by login or API key), else the subject of
    a token that names no user."""
    return f"user:{principal.user_id}" if principal.user_id is not None else f"subject:{principal.subject}"


class Idempotent(FieldExtension):
    """Adds `idempotencyKey` to a mutation and runs the mutation under it."""

    def apply(self, field) -> None:
        field.arguments = [*field.arguments, StrawberryArgument(
            python_name="idempotency_key", graphql_name=None, type_annotation=StrawberryAnnotation(str | None),
            description=KEY_HELP, default=None)]

    async def resolve_async(self, next_: Callable[..., Any], source: Any, info: Info, **kwargs: Any) -> Any:
        value = kwargs.pop("idempotency_key", None)
        if value is None:
            return await _awaited(next_(source, info, **kwargs))
        problem = idempotency.key_problem(value)
        if problem:
            raise ApiError(ErrorCode.BAD_USER_INPUT, problem, argument=KEY_ARGUMENT)
        key = _Key(caller=caller_of(info.context.principal), operation=info.field_name, key=value,
                   fingerprint=idempotency.fingerprint(_plain(kwargs)))
        token = _current_key.set(key)
        try:
            result = await _awaited(next_(source, info, **kwargs))
        finally:
            _current_key.reset(token)
        if not key.presented:
            raise RuntimeError(f"{info.field_name} takes an idempotency key but does not run in mutate()")
        return result


def _plain(value: Any) -> Any:
    """Arguments as Strawberry converted them, as plain values: input objects become
    dicts of the fields the client gave (an omitted field and an explicit null differ
    for inputs that tell them apart)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if getattr(value, f.name) is not UNSET}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not UNSET}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


async def _awaited(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value
