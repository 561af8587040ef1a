"""Top-level and nested lists: filters and page arguments checked, one statement a page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Select
from sqlalchemy.sql.elements import ColumnElement

from kernel.filtering import FilterError, FilterField, where
from kernel.pagination import Ordering, Page, PageRequest, count_rows, fetch_page
from resolvers.context import Context
from resolvers.errors import ApiError, ErrorCode
from resolvers.loaders import CountByParentLoader, NestedList, PagesByParentLoader
from resolvers.pagination import page_arguments


def filter_clause(spec: Mapping[str, Any] | None, fields: Mapping[str, FilterField],
                  special: Mapping[str, Any] | None = None) -> ColumnElement[bool]:
    try:
        return where(spec, fields, special)
    except FilterError as error:
        raise ApiError(ErrorCode.BAD_USER_INPUT, error.message, argument=error.path) from None


async def page(context: Context, statement: Select, ordering: Ordering, request: PageRequest) -> Page[Any]:
    async with context.database.read_session() as session:
        return await fetch_page(session, statement, ordering, request)


async def count(context: Context, statement: Select) -> int:
    async with context.database.read_session() as session:
        return await count_rows(session, statement)


async def nested_page(context: Context, nested: NestedList, request: PageRequest, parent_id: Any) -> Page[Any]:
    return await context.loader(PagesByParentLoader, nested, request).load(parent_id)


async def nested_count(context: Context, nested: NestedList, parent_id: Any) -> int:
    return await context.loader(CountByParentLoader, nested).load(parent_id)


__all__ = ["count", "filter_clause", "nested_count", "nested_page", "page", "page_arguments"]
