"""Who may call a field, declared on the field and written into its description."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.permission import BasePermission
from strawberry.types import Info

from resolvers.errors import ErrorCode


class IsAuthenticated(BasePermission):
    """Any signed-in principal. Issue [4/6] adds the per-role classes."""

    requirement = "an authenticated caller (any role)"
    message = "Sign in first: send `Authorization: Bearer <token>`."
    error_extensions = {"code": ErrorCode.UNAUTHENTICATED.value}

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return await info.context.authenticate() is not None


class Public(BasePermission):
    """Anyone, signed in or not (logging in, refreshing a token)."""

    requirement = "nothing: anyone may call it"

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        # A bad credential on a public field is ignored rather than refused: logging in
        # must work with a stale token still configured in the client.
        return True


def _describe(description: str, permissions: list[type[BasePermission]]) -> str:
    needs = "; ".join(getattr(p, "requirement", p.__name__) for p in permissions)
    return f"{description}\n\nRequires: {needs}."


def guarded_field(*, description: str, permissions: list[type[BasePermission]], **kwargs: Any) -> Any:
    """`strawberry.field` with permission classes whose requirement is added to the
    description, so `schema.graphql` says who may call every field."""
    return strawberry.field(
        description=_describe(description, permissions), permission_classes=permissions, **kwargs
    )


def guarded_mutation(*, description: str, permissions: list[type[BasePermission]], **kwargs: Any) -> Any:
    """`strawberry.mutation` with its permission requirement in the description."""
    return strawberry.mutation(
        description=_describe(description, permissions), permission_classes=permissions, **kwargs
    )
