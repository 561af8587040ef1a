"""What every result goes through: the error policy, and the operation name for the log."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import asyncpg
from graphql import SKIP, GraphQLError, ValuesOfCorrectTypeRule, VariableDefinitionNode
from graphql.utilities.validate_input_value import validate_input_literal
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from strawberry.extensions import SchemaExtension

from resolvers.errors import ErrorCode
from schema.scalars import ScalarError

log = logging.getLogger("crm.graphql")

_UNAVAILABLE = "The database is unavailable; try again shortly."
_INTERNAL = "Internal server error. Quote the requestId when reporting it."


# SQLSTATEs that say the server is not there for us now but will be: connection
# exceptions (class 08), a server shutting down, crashed or still starting (57P01-57P03,
# the first ~0.2 s of a fast shutdown or a failover), and a full connection table. Other
# codes, 40001/40P01 and 57014 (statement timeout) included, are not outages: retrying
# the same request does not wait for anything to come back.
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})


def _sqlstate(error: BaseException) -> str | None:
    code = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    return code if isinstance(code, str) and len(code) == 5 else None


def _chain(error: BaseException | None) -> Iterator[BaseException]:
    """The error and what it wraps: `__cause__`/`__context__`, SQLAlchemy's `.orig`,
    graphql-core's `original_error`; each once, so a cycle cannot loop."""
    seen: set[int] = set()
    stack = [error]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend(getattr(current, attribute, None) for attribute in ("__cause__", "orig", "original_error"))
        if not current.__suppress_context__:
            stack.append(current.__context__)


def _connection_lost(error: BaseException) -> bool:
    """Failures that carry no SQLSTATE but mean the connection is gone or never came."""
    if isinstance(error, (PoolTimeoutError, OperationalError, InterfaceError, ConnectionError, TimeoutError, OSError)):
        return True  # OSError: connection refused, socket file gone, host unreachable
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    return False


def _database_down(error: BaseException | None) -> bool:
    """Whether the error means the database is unreachable for the moment. A SQLSTATE
    anywhere in the chain decides (the server said what it is); without one, the kind
    of connection failure does."""
    chain = list(_chain(error))
    states = [state for state in map(_sqlstate, chain) if state is not None]
    if states:
        return any(state.startswith("08") or state in _UNAVAILABLE_SQLSTATES for state in states)
    misuse = [link for link in chain if isinstance(link, asyncpg.InterfaceError)]
    if misuse:
        # The driver refusing a call: "connection is closed" is an outage; "another
        # operation is in progress" is a fault of ours, whatever SQLAlchemy wraps it in.
        return any("closed" in str(link) for link in misuse)
    return any(_connection_lost(link) for link in chain)


class OperationName(SchemaExtension):
    """Puts the operation name where the request log finds it."""

    def on_operation(self) -> Iterator[None]:
        yield
        self.execution_context.context.request.state.operation_name = self.execution_context.operation_name


class _ScalarArgumentValues(ValuesOfCorrectTypeRule):
    """graphql-core's check of literal argument values, with the name of the argument
    added to what a scalar of ours refused (schema/scalars.py), so an inline literal is
    answered like a variable: BAD_USER_INPUT naming where it was."""

    def __init__(self, context) -> None:
        super().__init__(context)
        self._arguments: list[str] = []

    def enter_argument(self, node, *_args):
        self._arguments.append(node.name.value)

    def leave_argument(self, node, *_args):
        self._arguments.pop()

    def is_valid_value_node(self, node, input_type):
        if input_type:
            def on_error(error: GraphQLError, path: list) -> None:
                if isinstance(error, ScalarError):
                    where = ".".join([*self._arguments[-1:], *map(str, path)])
                    error = GraphQLError(f"Argument '{where}': {error.message}", node, extensions={
                        **error.extensions, "argument": self._arguments[-1] if self._arguments else None})
                self.report_error(error)

            validate_input_literal(node, input_type, on_error, None, None, self.context.hide_suggestions)
        return SKIP


class NamedScalarErrors(SchemaExtension):
    """Swaps graphql-core's literal-value rule for the one that names the argument."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.validation_rules = tuple(
            _ScalarArgumentValues if rule is ValuesOfCorrectTypeRule else rule for rule in context.validation_rules)
        yield


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
    if isinstance(original, ScalarError) and error.nodes and isinstance(error.nodes[0], VariableDefinitionNode):
        # A variable's value refused during coercion: name the variable, as a literal names its argument.
        extensions = {**(original.extensions or {}), **extensions, "variable": error.nodes[0].variable.name.value}
    elif isinstance(original, GraphQLError) and (original.extensions or {}).get("code"):
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
    elif isinstance(original, GraphQLError) and original.original_error is None and "Argument '" in message:
        # graphql-core refusing an argument while executing, e.g. a directive's `if` given
        # an explicit null through a variable with a default: the client's input.
        extensions["code"] = ErrorCode.BAD_USER_INPUT.value
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
