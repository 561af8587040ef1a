"""GraphQL over a WebSocket (graphql-transport-ws) on /graphql: Strawberry's protocol
handler with this API's rules (docs/subscriptions.md).

- `connection_init` authenticates the connection with the HTTP side's authenticator
  (resolvers.context.Context.authenticate): its payload's `authorization` is read as the
  `Authorization` header is. No or a bad credential: closed with 4403.
- The connection closes (4403) when its access token expires, and, within a poll
  interval, when its login ends (logout, refresh-token reuse) or its API key is revoked:
  one watch per process checks all of its connections in one statement per kind.
- Only subscriptions: queries and mutations go over HTTP, where the request log, body
  limit and idempotency keys are. Frames that are not the protocol's (not JSON, not an
  object, a subscribe without a query, ...) close with 4400; errors leave shaped as over
  HTTP (codes, internal errors masked).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from cross_web import HTTPException
from graphql import GraphQLError, GraphQLSyntaxError, OperationType, get_operation_ast, parse
from sqlalchemy import func, or_, select
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler

from crm import identity
from events.live import stopped
from models import ApiKey, AuthSession, Database, User
from resolvers.errors import ApiError, ErrorCode

log = logging.getLogger("crm.websocket")

CLOSE_FORBIDDEN = 4403  # no, a bad, an expired or an ended credential
CLOSE_UNAVAILABLE = 1013  # "try again later": the database did not answer at connection_init
MAX_OPERATION_ID = 128


@dataclass
class Live:
    """What a connection's subscriptions need besides the request context: the process's
    hub (events/live.py), and a way to close their connection with a code."""

    hub: Any
    close: Callable[[int, str], None]


class CredentialWatch:
    """Closes the connections whose login ended or whose API key stopped working, checked
    every `interval` seconds for all of a process's connections at once."""

    def __init__(self, database: Database, interval: float) -> None:
        self.database = database
        self.interval = interval
        self.connections: dict[Any, Any] = {}  # handler -> principal
        self._task: asyncio.Task | None = None

    def add(self, handler: Any, principal: Any) -> None:
        if principal.session_id is None and principal.api_key_id is None:
            return  # a service token: only its expiry ends it
        self.connections[handler] = principal
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="crm-credential-watch")

    def remove(self, handler: Any) -> None:
        self.connections.pop(handler, None)

    async def stop(self) -> None:
        await stopped(self._task)

    async def _run(self) -> None:
        while self.connections:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except Exception as error:  # the database is away: the next round tries again
                log.warning("credential watch failed: %s", type(error).__name__)

    async def check(self) -> None:
        connections = list(self.connections.items())
        sessions = {p.session_id for _, p in connections if p.session_id is not None}
        keys = {p.api_key_id for _, p in connections if p.api_key_id is not None}
        async with self.database.read_session() as session:
            live_sessions = set((await session.execute(select(AuthSession.id).where(
                AuthSession.id.in_(sessions), AuthSession.revoked_at.is_(None),
                AuthSession.expires_at > func.now()))).scalars()) if sessions else set()
            live_keys = set((await session.execute(select(ApiKey.id).join(User, User.id == ApiKey.user_id).where(
                ApiKey.id.in_(keys), ApiKey.revoked_at.is_(None), User.active,
                or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > func.now())))).scalars()) if keys else set()
        for handler, principal in connections:
            if principal.session_id is not None and principal.session_id not in live_sessions:
                handler.close(CLOSE_FORBIDDEN, "This login has ended; log in again.")
            elif principal.api_key_id is not None and principal.api_key_id not in live_keys:
                handler.close(CLOSE_FORBIDDEN, "The API key is revoked or expired.")


def _token_expiry(authorization: object) -> float | None:
    """When an access token stops (already verified by the authenticator); None for an
    API key, which the watch follows instead."""
    if not isinstance(authorization, str):
        return None
    token = authorization.partition(" ")[2].strip()
    if token.startswith(identity.KEY_PREFIX):
        return None
    try:
        return float(jwt.decode(token, options={"verify_signature": False})["exp"])
    except (jwt.PyJWTError, KeyError, TypeError, ValueError):
        return None


def _bad_subscribe(message: dict) -> str | None:
    """Why a subscribe frame is not one (None: it is)."""
    payload = message.get("payload")
    if not isinstance(message.get("id"), str) or not 0 < len(message["id"]) <= MAX_OPERATION_ID:
        return f"A subscribe message has an `id` of 1 to {MAX_OPERATION_ID} characters."
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return "A subscribe message has a `payload` with a `query`."
    if not isinstance(payload.get("variables"), (dict, type(None))):
        return "`variables` is an object."
    if not isinstance(payload.get("operationName"), (str, type(None))):
        return "`operationName` is a string or null."
    if not isinstance(payload.get("extensions"), (dict, type(None))):
        return "`extensions` is an object."
    return None


class TransportWS(BaseGraphQLTransportWSHandler):
    """graphql-transport-ws with authentication, credential expiry and hardened frames."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request_id = uuid.uuid4().hex
        self.closed = False
        self._expiry: asyncio.TimerHandle | None = None
        self._opened = time.perf_counter()
        self._close_code: int | None = None

    # -- closing -------------------------------------------------------------------

    def close(self, code: int, reason: str) -> None:
        """Closes the connection (once); safe from any task, also while a send waits."""
        if self.closed:
            return
        self.closed = True
        self._close_code = code
        task = asyncio.create_task(self._close(code, reason))
        task.add_done_callback(self._task_done)

    async def _close(self, code: int, reason: str) -> None:
        try:
            await self.websocket.close(code=code, reason=reason[:120])
        except Exception:  # already gone
            pass

    async def send_message(self, message: Any) -> None:
        if self.closed:
            return  # what an operation still sends after the close goes nowhere
        try:
            await super().send_message(message)
        except (RuntimeError, WebSocketDisconnected):  # the close, or the client's leaving, won the race
            self.closed = True

    async def handle(self) -> None:
        try:
            await super().handle()
        except HTTPException as error:  # the view's JSON rules (server.GraphQLView.decode_json)
            if not self.closed:
                self.closed, self._close_code = True, 4400
                await self._close(4400, error.reason)
        finally:
            self.view.watch.remove(self)
            if self._expiry is not None:
                self._expiry.cancel()
            log.info("websocket", extra={"request_id": self.request_id, "path": "/graphql",
                                         "status": self._close_code,
                                         "duration_ms": round((time.perf_counter() - self._opened) * 1000, 2)})

    async def handle_invalid_message(self, error_message: str) -> None:
        self.close(4400, error_message)

    # -- frames --------------------------------------------------------------------

    async def handle_message(self, message: Any) -> None:
        if self.closed:
            return  # closing: what else the client sends is not read
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            return await self.handle_invalid_message("A message is a JSON object with a string `type`.")
        if message["type"] == "subscribe":
            reason = _bad_subscribe(message)
            if reason is not None:
                return await self.handle_invalid_message(reason)
            if self.connection_acknowledged and await self._refused(message):
                return
        elif message["type"] == "complete" and not isinstance(message.get("id"), str):
            return await self.handle_invalid_message("A complete message has an `id`.")
        await super().handle_message(message)

    async def _refused(self, message: dict) -> bool:
        """Answers a subscribe this API does not run with an error message; True then."""
        payload = message["payload"]
        try:
            self.view.check_variables(payload.get("variables"))
        except HTTPException as error:
            return await self._error(message["id"], error.reason, getattr(error, "code", ErrorCode.BAD_REQUEST.value))
        try:
            operation = get_operation_ast(parse(payload["query"], max_tokens=self.view.max_tokens),
                                          payload.get("operationName"))
        except GraphQLSyntaxError as error:
            self.close(4400, error.message)  # as Strawberry closes on one
            return True
        if operation is None:  # several operations and no (or another) operationName, as over HTTP
            return await self._error(message["id"], "No operation of the document is named by `operationName`; "
                                     "name one when the document has several.", ErrorCode.BAD_REQUEST.value)
        if operation.operation != OperationType.SUBSCRIPTION:
            return await self._error(message["id"], "Only subscriptions are served over the WebSocket; send queries "
                                     "and mutations as HTTP POST to /graphql.", ErrorCode.BAD_REQUEST.value)
        return False

    async def _error(self, operation_id: str, text: str, code: str) -> bool:
        error = GraphQLError(text, extensions={"code": code, "requestId": self.request_id})
        await self.send_message({"id": operation_id, "type": "error", "payload": [error.formatted]})
        return True

    async def handle_connection_init(self, message: Any) -> None:
        payload = message.get("payload")
        if self.connection_init_received or not isinstance(payload, (dict, type(None))):
            return await super().handle_connection_init(message)  # 4429 / 4400, as Strawberry closes them
        if self.connection_init_timeout_task:
            self.connection_init_timeout_task.cancel()
        context = self.context
        context.connection_params = payload or {}
        try:
            principal = await context.authenticate()
        except ApiError as error:
            self.connection_init_received = True
            return self.close(CLOSE_FORBIDDEN, error.message)
        except Exception as error:  # the database did not answer (an API key is looked up)
            log.warning("websocket authentication failed: %s request_id=%s", type(error).__name__, self.request_id)
            self.connection_init_received = True
            return self.close(CLOSE_UNAVAILABLE, "The database is unavailable; try again later.")
        if principal is None:
            self.connection_init_received = True
            return self.close(CLOSE_FORBIDDEN, 'Sign in: connection_init payload {"authorization": "Bearer <token>"}.')
        context.live = Live(hub=self.view.hub, close=self.close)
        self.view.watch.add(self, principal)
        expiry = _token_expiry(context._authorization())
        if expiry is not None:
            self._expiry = asyncio.get_running_loop().call_later(
                max(expiry - time.time(), 0), self.close, CLOSE_FORBIDDEN, "The access token expired; "
                "refresh it and reconnect.")
        await super().handle_connection_init(message)

    # -- results -------------------------------------------------------------------

    async def _send_result_stream(self, operation: Any, result_source: Any) -> None:
        async def shaped():
            async for result in result_source:
                if getattr(result, "errors", None):
                    result.errors = self.view.shape(result.errors, self.request_id)
                yield result

        await super()._send_result_stream(operation, shaped())
