"""What every result goes through: the error policy, and the operation name for the log."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql import GraphQLError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from strawberry.extensions import SchemaExtension

from resolvers.errors import ErrorCode

log = logging.getLogger("crm.graphql")

_UNAVAILABLE = "The database is unavailable; try again shortly."
_INTERNAL = "Internal server error. Quote the requestId when reporting it."


def _database_down(error: BaseException | None) -> bool:
    if isinstance(error, (OperationalError, InterfaceError, PoolTimeoutError, ConnectionError, TimeoutError)):
        return True
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, OSError):  # connection refused, socket gone
        return True
    return False


class OperationName(SchemaExtension):
    """Puts the operation name where the request log finds it."""

    def on_operation(self) -> Iterator[None]:
        yield
        self.execution_context.context.request.state.operation_name = self.execution_context.operation_name


def shape_errors(errors: list[GraphQLError], request_id: str | None) -> list[GraphQLError]:
    """Every error leaves with `extensions.code` and `extensions.requestId`.

    - request and validation errors (no path): the message is the client's to read;
    - errors raised with a code (ApiError, permission classes): passed through;
    - database connection failures: DATABASE_UNAVAILABLE;
    - anything else: masked, and logged with its traceback under the request id.

    Applied by the HTTP view to every result, including those of parse failures, which
    never reach the end of a schema extension's operation hook.
    """
    return [_shape(error, request_id) for error in errors]


def _shape(error: GraphQLError, request_id: str | None) -> GraphQLError:
    original = error.original_error
    extensions = dict(error.extensions or {})
    message = error.message
    if isinstance(original, GraphQLError) and (original.extensions or {}).get("code"):
        extensions = {**(original.extensions or {}), **extensions}
    elif extensions.get("code"):
        pass  # raised with its code (the request limits)
    elif error.path is None and message.startswith("Syntax Error") and "tokens" in message:
        extensions["code"] = "TOO_MANY_TOKENS"  # graphql-core's parser stops at MaxTokensLimiter's count
    elif error.path is None and message.startswith("Syntax Error") and "nested too deeply" in message:
        extensions["code"] = "QUERY_TOO_DEEP"  # graphql-core's parser has its own nesting guard
    elif error.path is None and (original is None or isinstance(original, (GraphQLError, ValueError, TypeError))):
        # Raised before execution: syntax, validation, variable coercion.
        syntax = message.startswith("Syntax Error")
        extensions["code"] = (ErrorCode.GRAPHQL_PARSE_FAILED if syntax else ErrorCode.GRAPHQL_VALIDATION_FAILED).value
    elif _database_down(original):
        log.warning("database unavailable request_id=%s error=%s", request_id, type(original).__name__)
        message, extensions = _UNAVAILABLE, {"code": ErrorCode.DATABASE_UNAVAILABLE.value}
    else:
        log.error(
            "unexpected error request_id=%s path=%s",
            request_id,
            ".".join(str(p) for p in error.path or []),
            exc_info=original or error,
        )
        message, extensions = _INTERNAL, {"code": ErrorCode.INTERNAL_SERVER_ERROR.value}
    extensions.setdefault("code", ErrorCode.INTERNAL_SERVER_ERROR.value)
    extensions["requestId"] = request_id
    return GraphQLError(message, nodes=error.nodes, source=error.source, positions=error.positions,
                        path=error.path, extensions=extensions)
