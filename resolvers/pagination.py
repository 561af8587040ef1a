from __future__ import annotations

from kernel.pagination import Ordering, PageRequest, PaginationError, page_request
from resolvers.errors import ApiError, ErrorCode


def page_arguments(
    ordering: Ordering, *, first: int | None, after: str | None, last: int | None, before: str | None
) -> PageRequest:
    """Relay arguments checked for one list; BAD_USER_INPUT naming the argument if not."""
    try:
        return page_request(ordering, first=first, after=after, last=last, before=before)
    except PaginationError as error:
        raise ApiError(ErrorCode.BAD_USER_INPUT, error.message, argument=error.argument) from None
