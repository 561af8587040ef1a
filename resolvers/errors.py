"""Top-level GraphQL errors with a machine-readable `extensions.code`.

Expected failures of a mutation are data in its payload (`errors: [XError!]!`); these
are for everything else: who may call, malformed arguments, an unavailable database.
"""

from __future__ import annotations

import enum

from graphql import GraphQLError


class ErrorCode(enum.StrEnum):
    BAD_REQUEST = "BAD_REQUEST"  # not a GraphQL request at all (HTTP level)
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    INVALID_ID = "INVALID_ID"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"  # a retry that is not a retry: same key, other arguments
    DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"


class ApiError(GraphQLError):
    """An error the client is meant to read: message and code pass through unmasked."""

    def __init__(self, code: ErrorCode, message: str, **extensions: object) -> None:
        super().__init__(message, extensions={"code": code.value, **extensions})
        self.code = code
