"""One request, one context: the caller, the database, and this request's loaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeVar

from aiodataloader import DataLoader
from starlette.requests import Request
from starlette.responses import Response

from crm.auth import InvalidToken, Principal, read_token
from models import Database
from resolvers.errors import ApiError, ErrorCode

L = TypeVar("L", bound=DataLoader)


@dataclass
class Context:
    request: Request
    response: Response
    database: Database
    secret_key: str
    _loaders: dict[tuple, DataLoader] = field(default_factory=dict)

    def loader(self, loader_class: type[L], *args: object) -> L:
        """This request's instance of a loader (per class and arguments, e.g. the page a
        nested list asks for); created on first use, gone with the request."""
        key = (loader_class, args)
        loader = self._loaders.get(key)
        if loader is None:
            loader = self._loaders[key] = loader_class(self.database, *args)
        return loader  # type: ignore[return-value]

    @property
    def actor_id(self) -> int | None:
        """The user recorded as having made a change."""
        principal = self.principal
        return principal.user_id if principal else None

    @cached_property
    def principal(self) -> Principal | None:
        """The caller, from `Authorization: Bearer <token>`; None when anonymous.

        A token that is present but bad is an error, not anonymity: a client with an
        expired token must learn that, not see a mysteriously empty API."""
        header = self.request.headers.get("authorization")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(ErrorCode.UNAUTHENTICATED, "Use `Authorization: Bearer <token>`.")
        try:
            return read_token(self.secret_key, token.strip())
        except InvalidToken:
            raise ApiError(ErrorCode.UNAUTHENTICATED, "The access token is invalid or expired.") from None


class DatabaseLoader(DataLoader):
    """A loader that opens its own short session per batch."""

    def __init__(self, database: Database, *args: object) -> None:
        super().__init__()
        self.database = database
        self.args = args
