"""Logging in, tokens, API keys, passwords."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from crm import identity as service
from crm.auth import Principal, Role
from models import ApiKey as ApiKeyRow
from models import UserRole
from schema.fields import column, global_id, load_node
from schema.common import payload_errors
from schema.errors import error_codes, error_type
from schema.node import NODE_TYPES, Node
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


