"""The identity domain's Query/Mutation bodies; its types are in schema/identity.py."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from crm import identity as service
from crm.auth import Role
from kernel.errors import DomainError
from models import UserRole
from resolvers import scoping
from resolvers.mutations import mutate
from resolvers.ids import decode_id, decode_optional_id
from schema.common import payload_errors
from schema.permissions import Admins, AnyRole, Public, guarded_field, guarded_mutation
from schema.identity import (
    AccessScope, ApiKeyCreatePayload, ApiKeyType, AuthPayload, CredentialKind, IdentityError, IdentityErrorCode,
    IdentityPayload, Viewer,
)


def _done(result, errors) -> IdentityPayload:
    return IdentityPayload(ok=not errors, errors=payload_errors(errors, IdentityError, IdentityErrorCode))


def _source(info: Info) -> str:
    client = info.context.request.client
    return client.host if client else "unknown"


@strawberry.type
class IdentityQueries:
    @guarded_field(description="The caller as this API sees it: the credential's effective role (an API key's own "
                   "role, not its user's), which rows it reaches, and the user, key and partner account behind it.",
                   permissions=[AnyRole])
    async def me(self, info: Info) -> Viewer:
        principal = info.context.principal
        credential = (CredentialKind.API_KEY if principal.api_key_id is not None else
                      CredentialKind.ACCESS_TOKEN if principal.session_id is not None else CredentialKind.SERVICE_TOKEN)
        scope = (AccessScope.OWN_ACCOUNT if principal.role == Role.PARTNER else
                 AccessScope.READ_ALL_CHANGE_OWNED if principal.role == Role.SALES else AccessScope.EVERYTHING)
        return Viewer(role=UserRole(principal.role.value), credential=credential, scope=scope, _principal=principal)

    @guarded_field(description="The caller's own API keys, newest first.", permissions=[AnyRole])
    async def api_keys(self, info: Info) -> list[ApiKeyType]:
        async with info.context.database.session() as session:
            rows = await service.api_keys_of(session, info.context.principal.user_id)
        return [ApiKeyType.from_row(r) for r in rows]


@strawberry.type
class IdentityMutations:
    @guarded_mutation(description="Log in with email and password. Failed attempts are throttled per email and per "
                      "source (THROTTLED); the answer never says whether the email exists.", permissions=[Public])
    async def login(self, info: Info, email: str, password: str) -> AuthPayload:
        context = info.context
        # The attempt is recorded even when refused, so this transaction commits either way.
        async with context.database.session() as session, session.begin():
            try:
                tokens = await service.login(session, email=email, password=password, source=_source(info),
                                             secret_key=context.secret_key)
                errors = []
            except DomainError as error:
                tokens, errors = None, error.errors
        return AuthPayload.of(tokens, errors)

    @guarded_mutation(description="New tokens for a refresh token, which is spent (rotation).", permissions=[Public])
    async def token_refresh(self, info: Info, refresh_token: str) -> AuthPayload:
        context = info.context
        tokens, errors = await mutate(context, lambda s: service.refresh(s, refresh_token=refresh_token,
                                                                         secret_key=context.secret_key))
        return AuthPayload.of(tokens, errors)

    @guarded_mutation(description="End the caller's login: its access and refresh tokens stop working at once.",
                      permissions=[AnyRole])
    async def logout(self, info: Info) -> IdentityPayload:
        return _done(*await mutate(info.context, lambda s: service.logout(s, info.context.principal.session_id)))

    @guarded_mutation(description="Set a user's password (12 to 200 characters).", permissions=[Admins])
    async def user_set_password(self, info: Info, id: strawberry.ID, password: str) -> IdentityPayload:
        return _done(*await mutate(info.context, lambda s: service.set_password(s, decode_id(id, "User", "id"), password)))

    @guarded_mutation(description="Create an API key for the caller (or, with userId, another user), acting with the "
                      "user's role or a lesser staff role. The key is in the payload once.", permissions=[AnyRole])
    async def api_key_create(self, info: Info, name: str, role: UserRole | None = None, expires_at: datetime | None = None,
                             user_id: strawberry.ID | None = None) -> ApiKeyCreatePayload:
        async def action(session):
            principal = info.context.principal
            owner = decode_optional_id(user_id, "User", "user_id") or principal.user_id
            if owner != principal.user_id and principal.role != Role.ADMIN:
                raise scoping.forbidden("Only admins create keys for other users.")
            if owner is None:
                raise DomainError.one("user_id", "Say which user the key is for.", "required")
            return await service.create_api_key(session, user_id=owner, name=name, role=Role(role.value) if role else None,
                                                expires_at=expires_at, creator_role=principal.role)
        created, errors = await mutate(info.context, action)
        return ApiKeyCreatePayload(api_key=ApiKeyType.from_row(created.row) if created else None,
                                   key=created.key if created else None,
                                   errors=payload_errors(errors, IdentityError, IdentityErrorCode))

    @guarded_mutation(description="Revoke an API key: it stops working at once.", permissions=[AnyRole])
    async def api_key_revoke(self, info: Info, id: strawberry.ID) -> IdentityPayload:
        principal = info.context.principal
        return _done(*await mutate(info.context, lambda s: service.revoke_api_key(
            s, decode_id(id, "ApiKey", "id"), user_id=principal.user_id, any_user=principal.role == Role.ADMIN)))
