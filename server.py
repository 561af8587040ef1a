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

from cross_web import HTTPException
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from core.logging import configure_logging
from core.settings import Settings
from models import Database
from models.database import redact_url
from models.migrations import schema_status
from resolvers.context import Context
from resolvers.errors import ErrorCode
from schema import schema
from schema.extensions import shape_errors

log = logging.getLogger("crm.request")


class SchemaBehind(RuntimeError):
    """The database schema is not at the code's migration head."""


def _refuse_constant(name: str) -> None:
    raise HTTPException(400, f"{name} is not a JSON value.")


class GraphQLView(GraphQL):
    """Strawberry's ASGI view with GraphQL-shaped HTTP errors and our context."""

    def __init__(self, *, database: Database, secret_key: str, graphiql: bool) -> None:
        super().__init__(schema, graphql_ide="graphiql" if graphiql else None)
        self.database = database
        self.secret_key = secret_key

    def decode_json(self, data: str | bytes) -> object:
        # Python's parser takes NaN and Infinity, which are not JSON (and not jsonb).
        document = json.loads(data, parse_constant=_refuse_constant)
        if not isinstance(document, (dict, list)):
            raise HTTPException(400, "The request body must be a JSON object with a `query`.")
        if isinstance(document, dict) and not isinstance(document.get("operationName"), (str, type(None))):
            raise HTTPException(400, "`operationName` must be a string or null.")
        return document

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        if result.errors:
            result.errors = shape_errors(result.errors, request.state.request_id)
            request.state.graphql_error_codes = sorted({e.extensions["code"] for e in result.errors})
        return await super().process_result(request, result)

    async def get_context(self, request: Request, response: Response) -> Context:  # type: ignore[override]
        return Context(request=request, response=response, database=self.database, secret_key=self.secret_key)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        request = Request(scope, receive)
        try:
            response = await self.run(request)
        except HTTPException as error:
            # Malformed JSON, wrong content type, no query...: a GraphQL-shaped body.
            response = JSONResponse(
                {"errors": [{"message": error.reason, "extensions": {
                    "code": ErrorCode.BAD_REQUEST.value, "requestId": request.state.request_id}}]},
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
                    "error_codes": state.get("graphql_error_codes"),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )


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
        database = Database.from_url(settings.database_url, pool_size=settings.db_pool_size)
    if not settings.secret_key:
        raise RuntimeError("CRM_SECRET_KEY is not set; `crm serve --demo` makes one, production must set it.")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if owns_database:
            await check_schema(database)
            log.info("serving", extra={"database": redact_url(str(database.engine.url))})
        yield
        if owns_database:
            await database.dispose()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        if await database.ping():
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "unavailable", "reason": "database does not answer"}, status_code=503)

    graphql = GraphQLView(database=database, secret_key=settings.secret_key, graphiql=settings.graphiql)
    app = Starlette(
        routes=[
            Route("/graphql", graphql),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.add_middleware(RequestLog)
    app.state.database = database
    return app


def app_factory() -> Starlette:
    """Entry point for uvicorn workers (`server:app_factory`): settings from the environment."""
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    return create_app(settings)
