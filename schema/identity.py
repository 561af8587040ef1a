"""Logging in, tokens, API keys, passwords."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from crm import identity as service
from crm.auth import Principal, Role
from kernel.errors import DomainError
from models import ApiKey as ApiKeyRow
from models import UserRole
from resolvers import scoping
from resolvers.mutations import mutate
from resolvers.ids import decode_id, decode_optional_id
from schema.fields import column, global_id, load_node
from schema.common import payload_errors
from schema.errors import error_codes, error_type
from schema.node import NODE_TYPES, Node
from schema.permissions import Admins, AnyRole, Public, guarded_field, guarded_mutation
from schema.users import UserType

if TYPE_CHECKING:
    from schema.customers import CustomerType

IdentityErrorCode = error_codes(service.IdentityErrorCode, "identity")
IdentityError = error_type("IdentityError", IdentityErrorCode, "identity")


@strawberry.type(description="Tokens of a login: a short-lived access token and a refresh token that rotates.")
class AuthPayload:
    access_token: str | None = strawberry.field(description="Send as `Authorization: Bearer <accessToken>`; valid 15 minutes.")
    access_token_expires_at: datetime | None = strawberry.field(description="When the access token expires.")
    refresh_token: str | None = strawberry.field(description="Spend it with tokenRefresh for new tokens; valid 30 days, once.")
    user: UserType | None = strawberry.field(description="Who logged in.")
    errors: list[IdentityError] = strawberry.field(description="Empty on success.")

    @classmethod
    def of(cls, tokens, errors) -> AuthPayload:
        if tokens is None:
            return cls(access_token=None, access_token_expires_at=None, refresh_token=None, user=None,
                       errors=payload_errors(errors, IdentityError, IdentityErrorCode))
        return cls(access_token=tokens.access_token, access_token_expires_at=tokens.access_expires_at,
                   refresh_token=tokens.refresh_token, user=UserType.from_row(tokens.user), errors=[])


@strawberry.type(name="ApiKey", description="A machine credential. The key itself is shown once, at creation.")
class ApiKeyType(Node):
    id: strawberry.ID = global_id("ApiKey")
    name: str = column("name", description="What it is for.")
    prefix: str = column("prefix", description="Public part of the key (crm_<prefix>_...), to recognise it.")
    role: UserRole = column("role", description="The role it acts with.")
    created_at: datetime = column("created_at", description="When created.")
    expires_at: datetime | None = column("expires_at", description="When it expires; null: never.")
    revoked_at: datetime | None = column("revoked_at", description="When revoked.")
    last_used_at: datetime | None = column("last_used_at", description="When last used (to the minute).")

    _row: strawberry.Private[ApiKeyRow]



NODE_TYPES["ApiKey"] = ApiKeyType.from_row


@strawberry.enum(description="What a request authenticated with.")
class CredentialKind(enum.Enum):
    ACCESS_TOKEN = strawberry.enum_value("access_token", description="An access token from login or tokenRefresh.")
    API_KEY = strawberry.enum_value("api_key", description="An API key (`crm_...`).")
    SERVICE_TOKEN = strawberry.enum_value("service_token", description="A token issued with the server's secret key "
                                          "(`crm token`), tied to no login.")


@strawberry.enum(description="Which rows a caller reaches (resolvers/scoping.py).")
class AccessScope(enum.Enum):
    EVERYTHING = strawberry.enum_value("everything", description="Admins and managers: read and change every row "
                                       "(API keys: admins every key, managers their own).")
    READ_ALL_CHANGE_OWNED = strawberry.enum_value("read_all_change_owned", description="Sales: reads every row, changes "
                                                  "only the customers, deals and activities it owns.")
    OWN_ACCOUNT = strawberry.enum_value("own_account", description="A partner: its own account, membership, orders and "
                                        "keys, the customers it referred or registered deals of, the deals it "
                                        "registered, and the public catalogue and programmes; nothing of another account.")


@strawberry.type(description="The caller: who it is and what its credential may do.")
class Viewer:
    role: UserRole = strawberry.field(description="The effective role of this request's credential: an API key acts "
                                      "with its own role, which may be lower than its user's.")
    credential: CredentialKind = strawberry.field(description="What the request authenticated with.")
    scope: AccessScope = strawberry.field(description="Which rows this credential reaches.")
    _principal: strawberry.Private[Principal]

    @strawberry.field(description="The user behind the credential; null for a service token tied to no user.")
    async def user(self, info: Info) -> UserType | None:
        return await load_node(info, "User", self._principal.user_id)

    @strawberry.field(description="The API key the request was made with; null for tokens.")
    async def api_key(self, info: Info) -> ApiKeyType | None:
        from resolvers.loaders import ApiKeyByIdLoader

        if self._principal.api_key_id is None:
            return None
        row = await info.context.loader(ApiKeyByIdLoader).load(self._principal.api_key_id)
        return ApiKeyType.from_row(row) if row else None

    @strawberry.field(description="For a partner, the account it acts for (the scope of everything it reads).")
    async def partner_account(self, info: Info) -> Annotated["CustomerType", strawberry.lazy("schema.customers")] | None:
        return await load_node(info, "Customer", self._principal.account_id) if self._principal.role == Role.PARTNER else None


@strawberry.type(description="Result of apiKeyCreate.")
class ApiKeyCreatePayload:
    api_key: ApiKeyType | None = strawberry.field(description="The key's record.")
    key: str | None = strawberry.field(description="The key itself: store it now, it is never shown again.")
    errors: list[IdentityError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="Result of an identity mutation without tokens.")
class IdentityPayload:
    ok: bool = strawberry.field(description="True on success.")
    errors: list[IdentityError] = strawberry.field(description="Empty on success.")


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
