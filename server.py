"""The ASGI application: /graphql, /healthz, /readyz.

Run it with `crm serve` (which also boots the embedded PostgreSQL when DATABASE_URL is
unset); `uvicorn --factory server:create_app` works when DATABASE_URL is set.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from cross_web import HTTPException
from graphql import GraphQLError, OperationType, get_operation_ast, parse
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult

from core.logging import configure_logging
from core.settings import Settings
from events.delivery import DeliveryPolicy
from events.worker import in_process_worker
from models import Database
from models.database import redact_url
from models.migrations import schema_status
from engine import Answer, Engine, GiveUp, RawJSON
from events.live import Hub
from resolvers.context import Context
from resolvers.websocket import CredentialWatch, TransportWS
from resolvers.errors import ApiError, ErrorCode
from schema.root import build_schema
from schema.extensions import shape_errors
from schema.limits import Limits
from tiers.risk import RiskRule

log = logging.getLogger("crm.request")


class SchemaBehind(RuntimeError):
    """The database schema is not at the code's migration head."""


def _refuse_constant(name: str) -> None:
    raise HTTPException(400, f"{name} is not a JSON value.")


class RequestRejected(HTTPException):
    """A request refused before GraphQL sees it, with its own error code."""

    def __init__(self, status_code: int, reason: str, code: str) -> None:
        super().__init__(status_code, reason)
        self.code = code


MAX_VARIABLE_DEPTH = 32


def _measure_variables(value: object) -> tuple[int, int]:
    """(longest list, deepest nesting) of decoded JSON, walked without recursion so a
    hostile document cannot exhaust the stack."""
    longest, deepest = 0, 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, list):
            longest = max(longest, len(item))
            children = item
        elif isinstance(item, dict):
            children = list(item.values())
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_VARIABLE_DEPTH:
            break
        stack.extend((child, depth + 1) for child in children)
    return longest, deepest


class GraphQLView(GraphQL):
    """Strawberry's ASGI view with GraphQL-shaped HTTP errors and our context."""

    def __init__(self, *, schema: Any, database: Database, secret_key: str, graphiql: bool, max_list: int,
                 deal_exclusivity_days: int = 90, compiled: bool = True, risk_rule: Any = None,
                 webhooks: DeliveryPolicy | None = None,
                 poll_seconds: float = 2, subscription_queue: int = 1000, allowed_origins: tuple[str, ...] = (),
                 max_tokens: int = 10_000) -> None:
        # Subscriptions: graphql-transport-ws only (resolvers/websocket.py); a browser page
        # of another origin may not open the socket (its cookies are not ours to lend).
        super().__init__(schema, graphql_ide="graphiql" if graphiql else None,
                         subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
                         connection_init_wait_timeout=timedelta(seconds=10), max_subscriptions_per_connection=20,
                         allowed_origins=allowed_origins)
        # One LISTEN connection per process, opened by the first subscription (events/live.py).
        self.hub = Hub(database, database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False),
                       poll_seconds=poll_seconds, queue_size=subscription_queue)
        self.watch = CredentialWatch(database, poll_seconds)
        self.max_tokens = max_tokens
        # The engine's fast paths (engine/); off only to compare with them.
        self.engine = Engine(schema._schema) if compiled else None
        self.max_list = max_list
        self.deal_exclusivity_days = deal_exclusivity_days
        self.risk_rule = risk_rule or RiskRule()
        self.webhooks = webhooks or DeliveryPolicy()
        self.database = database
        self.secret_key = secret_key

    graphql_transport_ws_handler_class = TransportWS

    def check_variables(self, variables: object) -> None:
        """The limits of a document's variables (HTTP bodies and WebSocket subscribes)."""
        longest, deepest = _measure_variables(variables)
        if deepest > MAX_VARIABLE_DEPTH:
            raise HTTPException(400, f"The variables are nested more than {MAX_VARIABLE_DEPTH} levels deep.")
        if longest > self.max_list:
            raise RequestRejected(400, f"A list in the variables has more than {self.max_list} items.", "LIST_TOO_LONG")

    def _is_subscription(self, query: str, name: str | None) -> bool:
        try:
            operation = get_operation_ast(parse(query, max_tokens=self.max_tokens), name)
        except GraphQLError:
            return False  # Strawberry's path answers the syntax error
        return operation is not None and operation.operation == OperationType.SUBSCRIPTION

    def shape(self, errors: list, request_id: str | None) -> list:
        return shape_errors(errors, request_id)

    def decode_json(self, data: str | bytes) -> object:
        # Python's parser takes NaN and Infinity, which are not JSON (and not jsonb).
        try:
            document = json.loads(data, parse_constant=_refuse_constant)
        except RecursionError:
            raise HTTPException(400, "The request body is nested too deeply.") from None
        if not isinstance(document, (dict, list)):
            raise HTTPException(400, "The request body must be a JSON object with a `query`.")
        if isinstance(document, dict) and not isinstance(document.get("operationName"), (str, type(None))):
            raise HTTPException(400, "`operationName` must be a string or null.")
        if isinstance(document, dict):
            self.check_variables(document.get("variables"))
        return document

    def encode_json(self, data: object) -> str | bytes:
        # The single statement's answer is JSON text already (engine/sql.py).
        if isinstance(data, dict) and len(data) == 1 and isinstance(data.get("data"), RawJSON):
            return '{"data":' + data["data"].text + "}"
        return super().encode_json(data)

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        if result.errors:
            result.errors = shape_errors(result.errors, request.state.request_id)
            request.state.graphql_error_codes = sorted({e.extensions["code"] for e in result.errors})
        return await super().process_result(request, result)

    async def execute_single(self, request: Request, request_adapter: Any, sub_response: Any, context: Context,  # type: ignore[override]
                             root_value: Any, request_data: Any) -> ExecutionResult:
        """Strawberry's normal path (a GET, or a request the engine handed back); a
        document it answers without errors is learnt by the engine for next time."""
        query, name = request_data.query, request_data.operation_name
        if isinstance(query, str) and "subscription" in query and self._is_subscription(query, name):
            return ExecutionResult(data=None, errors=[ApiError(
                ErrorCode.BAD_REQUEST, "Subscriptions are served over a WebSocket on /graphql (graphql-transport-ws; "
                "docs/subscriptions.md), not over HTTP.")])
        if self.engine is not None and getattr(request.state, "execution_path", None) is None:
            document = self.engine.lookup(query, name) if isinstance(query, str) else None
            if isinstance(document, str):
                self._record(request, "resolver", document)
            elif document is not None:  # a GET of a learnt document
                answer = await self._answer(request, document, context, request_data.variables)
                if answer is not None:
                    return ExecutionResult(data=answer.data, errors=None)
        if getattr(request.state, "execution_path", None) is None:
            self._record(request, "resolver", "first time" if self.engine is not None else "engine off")
        result = await super().execute_single(request, request_adapter, sub_response, context, root_value, request_data)
        if self.engine is not None and isinstance(query, str) and not result.errors and self.engine.lookup(query, name) is None:
            self.engine.learn(query, name)
        return result

    def _record(self, request: Request, path: str, reason: str | None = None) -> None:
        request.state.execution_path = path
        request.state.execution_reason = reason
        if self.engine is not None:
            self.engine.count(path)

    async def _answer(self, request: Request, document: Any, context: Context, variables: Any) -> Answer | None:
        """The engine's answer, or None (the reason recorded) when the normal path must give it."""
        try:
            answer = await self.engine.answer(document, context, variables)
        except GiveUp as reason:
            log.debug("the engine gave the request back: %s", reason)
            request.state.execution_path = "resolver"
            request.state.execution_reason = f"gave up: {reason}"[:200]
            self.engine.count("resolver")
            return None
        request.state.operation_name = answer.operation_name
        self._record(request, answer.path)
        request.state.python_fields = answer.python_fields
        return answer

    async def get_context(self, request: Request, response: Response) -> Context:  # type: ignore[override]
        return Context(request=request, response=response, database=self.database, secret_key=self.secret_key,
                       deal_exclusivity_days=self.deal_exclusivity_days, risk_rule=self.risk_rule,
                       webhooks=self.webhooks)

    async def engine_response(self, request: Request) -> Response | None:
        """The answer of a plain POST of a learnt query, without Strawberry's HTTP handling
        (a tenth of a cached read). None for anything else and whenever the engine gives
        the request back: Strawberry's path then handles it (the body stays readable)
        exactly as it always did."""
        if self.engine is None or request.method != "POST":
            return None
        if request.headers.get("content-type", "").partition(";")[0].strip().lower() != "application/json":
            return None
        try:
            body = self.decode_json(await request.body())
        except Exception:  # Strawberry's path refuses it, with its own message
            return None
        if not isinstance(body, dict) or not body.keys() <= {"query", "variables", "operationName"}:
            return None
        query, variables, name = body.get("query"), body.get("variables"), body.get("operationName")
        if not isinstance(query, str) or not isinstance(variables, (dict, type(None))):
            return None
        document = self.engine.lookup(query, name)
        if document is None:
            return None
        if isinstance(document, str):
            self._record(request, "resolver", document)
            return None
        answer = await self._answer(request, document, await self.get_context(request, Response()), variables)
        if answer is None:
            return None
        return Response(self.encode_json({"data": answer.data}), media_type="application/json")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        request = Request(scope, receive)
        try:
            response = await self.engine_response(request) or await self.run(request)
        except HTTPException as error:
            # Malformed JSON, wrong content type, no query...: a GraphQL-shaped body.
            response = JSONResponse(
                {"errors": [{"message": error.reason, "extensions": {
                    "code": getattr(error, "code", ErrorCode.BAD_REQUEST.value), "requestId": request.state.request_id}}]},
                status_code=error.status_code,
            )
        await response(scope, receive, send)


class RequestLog:
    """Gives each request an id (X-Request-ID) and logs one line when it ends:
    method, path, operation name, status, duration. Never variables, headers or bodies."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id = uuid.uuid4().hex
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "method": scope["method"],
                    "path": scope["path"],
                    "operation": state.get("operation_name"),
                    "execution_path": state.get("execution_path"),
                    "execution_reason": state.get("execution_reason"),
                    "python_fields": state.get("python_fields"),
                    "error_codes": state.get("graphql_error_codes"),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )


class BodyLimit:
    """Refuses request bodies over `max_bytes` with 413 before the application reads
    them; a body without Content-Length is counted as it arrives."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            return await self._refuse(scope, send)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                return await self._refuse(scope, send)
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        request_id = scope.get("state", {}).get("request_id")
        response = JSONResponse({"errors": [{"message": f"The request body is over {self.max_bytes} bytes.", "extensions": {
            "code": "BODY_TOO_LARGE", "requestId": request_id}}]}, status_code=413)
        await response(scope, self._drain, send)

    @staticmethod
    async def _drain() -> Message:
        return {"type": "http.disconnect"}


SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]
# JSON answers never need to load anything; GraphiQL's page (demo) loads its scripts.
JSON_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += [h for h in SECURITY_HEADERS if h[0] not in names]
                content_type = dict(headers).get(b"content-type", b"")
                if not content_type.startswith(b"text/html"):
                    headers.append(JSON_CSP)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def check_schema(database: Database) -> None:
    status = await schema_status(database.engine)
    if not status.is_current:
        raise SchemaBehind(
            f"The database schema is at revision {status.current or 'none'}, the code needs "
            f"{status.head}. Run `crm migrate` (or start with CRM_MIGRATE_ON_START=1)."
        )


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> Starlette:
    """The application. Tests pass their own `database`; otherwise it comes from settings,
    and startup fails (with the reason) when the schema is behind the code."""
    settings = settings or Settings.from_env()
    owns_database = database is None
    if database is None:
        if not settings.database_url:
            raise RuntimeError("DATABASE_URL is not set; start the server with `crm serve`.")
        database = Database.from_url(settings.database_url, pool_size=settings.db_pool_size,
                                     max_overflow=settings.db_max_overflow,
                                     work_mem=settings.db_work_mem)
    if not settings.secret_key:
        raise RuntimeError("CRM_SECRET_KEY is not set; `crm serve --demo` makes one, production must set it.")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if owns_database:
            await check_schema(database)
            log.info("serving", extra={"database": redact_url(str(database.engine.url))})
        deliveries = in_process_worker(database, settings) if settings.webhook_deliver else None
        yield
        if deliveries is not None:
            await deliveries.stop()
        await graphql.hub.stop()
        await graphql.watch.stop()
        if owns_database:
            await database.dispose()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        if await database.ping():
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "unavailable", "reason": "database does not answer"}, status_code=503)

    limits = Limits(max_depth=settings.max_depth, max_aliases=settings.max_aliases, max_cost=settings.max_cost,
                    max_tokens=settings.max_tokens)
    app_schema = build_schema(limits, introspection=settings.introspection)
    graphql = GraphQLView(schema=app_schema, database=database, secret_key=settings.secret_key,
                          graphiql=settings.graphiql and settings.introspection, max_list=limits.max_list,
                          deal_exclusivity_days=settings.deal_exclusivity_days, compiled=settings.compiled_queries,
                          risk_rule=RiskRule.of_percent(settings.risk_days, settings.risk_share_percent),
                          webhooks=DeliveryPolicy.of(settings),
                          poll_seconds=settings.events_poll_seconds, subscription_queue=settings.subscription_queue,
                          allowed_origins=settings.cors_origins, max_tokens=limits.max_tokens)
    app = Starlette(
        routes=[
            Route("/graphql", graphql),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    # Outermost last: the request log sees every answer, including refusals below it.
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"], expose_headers=["X-Request-ID"], max_age=600)
    app.add_middleware(RequestLog)
    app.state.database = database
    return app


def app_factory() -> Starlette:
    """Entry point for uvicorn workers (`server:app_factory`): settings from the environment."""
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    return create_app(settings)
