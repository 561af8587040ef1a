"""One request, one context: the caller, the database, and this request's loaders."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiodataloader import DataLoader
from starlette.requests import Request
from starlette.responses import Response

from crm.auth import InvalidToken, Principal, read_token
from events.delivery import DeliveryPolicy
from models import Database
from resolvers.errors import ApiError, ErrorCode
from tiers.risk import RiskRule

L = TypeVar("L", bound=DataLoader)


@dataclass
class Context:
    request: Request
    response: Response
    database: Database
    secret_key: str
    deal_exclusivity_days: int = 90
    risk_rule: RiskRule = field(default_factory=RiskRule)
    webhooks: DeliveryPolicy = field(default_factory=DeliveryPolicy)
    # A WebSocket's `connection_init` payload (Strawberry sets it): its `authorization`
    # is read as the header is for HTTP (resolvers/websocket.py).
    connection_params: dict | None = None
    live: Any = None  # the process's events.live.Hub (subscriptions)
    _loaders: dict[tuple, DataLoader] = field(default_factory=dict)

    def loader(self, loader_class: type[L], *args: object) -> L:
        """This request's instance of a loader (per class and arguments, e.g. the page a
        nested list asks for); created on first use, gone with the request."""
        key = (loader_class, args)
        loader = self._loaders.get(key)
        if loader is None:
            loader = self._loaders[key] = loader_class(self.database, *args)
            loader.context = self
        return loader  # type: ignore[return-value]

    @property
    def actor_id(self) -> int | None:
        """The user recorded as having made a change."""
        principal = self.principal
        return principal.user_id if principal else None

    _principal: Principal | None = None
    _authenticated: bool = False
    _auth_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def authenticate(self) -> Principal | None:
        """The caller, from `Authorization: Bearer <access token or API key>`; None when
        anonymous. Worked out once per request (fields resolving concurrently share it).

        A credential that is present but bad is an error, not anonymity: a client with an
        expired token must learn that, not see a mysteriously empty API."""
        async with self._auth_lock:
            if not self._authenticated:
                self._principal = await self._read_credentials()
                self._authenticated = True
        return self._principal

    async def _read_credentials(self) -> Principal | None:
        from crm import identity

        header = self._authorization()
        if not header:
            return None
        if not isinstance(header, str):
            raise ApiError(ErrorCode.UNAUTHENTICATED, "Use `Authorization: Bearer <token or API key>`.")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ApiError(ErrorCode.UNAUTHENTICATED, "Use `Authorization: Bearer <token or API key>`.")
        if token.startswith(identity.KEY_PREFIX):
            async with self.database.session() as session:
                principal = await identity.principal_for_api_key(session, token)
            if principal is None:
                raise ApiError(ErrorCode.UNAUTHENTICATED, "The API key is invalid, revoked or expired.")
            return principal
        try:
            principal = read_token(self.secret_key, token)
        except InvalidToken:
            raise ApiError(ErrorCode.UNAUTHENTICATED, "The access token is invalid or expired.") from None
        if principal.session_id is not None:
            async with self.database.session() as session:
                if not await identity.session_is_live(session, principal.session_id):
                    raise ApiError(ErrorCode.UNAUTHENTICATED, "This login has ended; log in again.")
        return principal

    def _authorization(self) -> object:
        if self.connection_params is not None:
            return next((value for name, value in self.connection_params.items()
                         if isinstance(name, str) and name.lower() == "authorization"), None)
        return self.request.headers.get("authorization")

    def fresh_loaders(self) -> None:
        """A subscription's context lives as long as its connection; each event pushed is
        resolved like a request of its own, with loaders that cache nothing older."""
        self._loaders = {}

    @property
    def principal(self) -> Principal | None:
        """The caller, once a permission check has authenticated the request."""
        assert self._authenticated, "authenticate() runs first (every field declares a permission)"
        return self._principal


class DatabaseLoader(DataLoader):
    """A loader that opens its own short session per batch."""

    def __init__(self, database: Database, *args: object) -> None:
        super().__init__()
        self.database = database
        self.args = args
        self.context: Context | None = None

    def load(self, key):  # type: ignore[override]
        # One cached future serves every field that asks for the key. When graphql-core
        # gives up on a result (a non-null field failed) it cancels the fields still
        # waiting; a cancelled waiter must not cancel the shared future under the
        # others, whose CancelledError would escape the executor as a 500.
        return asyncio.shield(super().load(key))

    @property
    def principal(self) -> Principal | None:
        """The caller whose request this loader serves (None before authentication:
        then a scoped loader reads nothing)."""
        return self.context._principal if self.context is not None else None
