"""Who may call a field: declared on the field, written into its description, checked
before it resolves. Row scoping (a partner sees only its own account) is applied in the
queries themselves (resolvers/scoping.py)."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.permission import BasePermission
from strawberry.types import Info

from crm.auth import Role
from resolvers.errors import ApiError, ErrorCode
from resolvers.mutations import Idempotent

STAFF = (Role.ADMIN, Role.MANAGER, Role.SALES)


class RolePermission(BasePermission):
    """Base of the role rules: `roles` may call the field."""

    roles: tuple[Role, ...] = ()
    requirement = ""

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        principal = await info.context.authenticate()
        if principal is None:
            raise ApiError(ErrorCode.UNAUTHENTICATED, "Sign in first: send `Authorization: Bearer <token or API key>`.")
        if principal.role not in self.roles:
            raise ApiError(ErrorCode.FORBIDDEN, "Your role may not do this.")
        return True


def allow(*roles: Role, note: str = "") -> type[RolePermission]:
    names = ", ".join(role.value for role in roles)
    return type(f"Allow{''.join(r.value.title() for r in roles)}", (RolePermission,), {
        "roles": tuple(roles), "requirement": f"role {names}{note}",
    })


AnyRole = allow(Role.ADMIN, Role.MANAGER, Role.SALES, Role.PARTNER)
IsAuthenticated = AnyRole  # any signed-in caller
Staff = allow(*STAFF)
Managers = allow(Role.ADMIN, Role.MANAGER)
Admins = allow(Role.ADMIN)
# Partners reach these for their own account only; the resolver scopes the rows.
StaffOrOwnAccount = allow(*STAFF, Role.PARTNER, note=" (a partner: its own account's rows only)")
# Sales may change only what it owns (checked on the row).
StaffOwning = allow(*STAFF, note=" (sales: only what it owns)")
Partners = allow(Role.PARTNER, note=" (its own account)")
ManagersOrOwnMembership = allow(Role.ADMIN, Role.MANAGER, Role.PARTNER, note=" (a partner: its own membership only)")


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


def guarded_subscription(*, description: str, permissions: list[type[BasePermission]], **kwargs: Any) -> Any:
    """`strawberry.subscription` with its permission requirement in the description."""
    return strawberry.subscription(
        description=_describe(description, permissions), permission_classes=permissions, **kwargs
    )


def guarded_mutation(*, description: str, permissions: list[type[BasePermission]], idempotent: bool = False,
                     **kwargs: Any) -> Any:
    """`strawberry.mutation` with its permission requirement in the description.

    `idempotent`: the mutation takes an `idempotencyKey` (resolvers.mutations.Idempotent);
    every mutation that creates a record or moves money does, so a client may retry it."""
    # Permission extensions wrap the others, so the caller is known before the key is read.
    extensions = [*kwargs.pop("extensions", []), *([Idempotent()] if idempotent else [])]
    return strawberry.mutation(
        description=_describe(description, permissions), permission_classes=permissions, extensions=extensions, **kwargs
    )
