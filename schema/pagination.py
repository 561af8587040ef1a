"""Relay connections over keyset pages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import strawberry

from kernel.pagination import Page

NodeType = TypeVar("NodeType")


@strawberry.type(description="Where a page sits in its list (Relay cursor connections).")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items follow the last edge.")
    has_previous_page: bool = strawberry.field(description="More items come before the first edge.")
    start_cursor: str | None = strawberry.field(description="Cursor of the first edge; pass as `before`.")
    end_cursor: str | None = strawberry.field(description="Cursor of the last edge; pass as `after`.")


@strawberry.type(description="One item of a list and its cursor.")
class Edge(Generic[NodeType]):
    node: NodeType = strawberry.field(description="The item.")
    _page: strawberry.Private[Page[Any]]
    _index: strawberry.Private[int]

    @strawberry.field(description="Opaque position of this item; pass as `after` or `before`.")
    def cursor(self) -> str:
        return self._page.cursor(self._index)


@strawberry.type(description="A page of a list. At most 100 items per page.")
class Connection(Generic[NodeType]):
    edges: list[Edge[NodeType]] = strawberry.field(description="The items of this page, in order.")
    page_info: PageInfo = strawberry.field(description="Paging state.")
    _count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="Items in the whole list under the same filters; counted only when asked for.")
    async def total_count(self) -> int:
        return await self._count()

    @classmethod
    def count_only(cls, count: Callable[[], Awaitable[int]]) -> Connection[NodeType]:
        """For a selection of totalCount alone: no page is fetched."""
        empty = PageInfo(has_next_page=False, has_previous_page=False, start_cursor=None, end_cursor=None)
        return cls(edges=[], page_info=empty, _count=count)

    @classmethod
    def from_page(
        cls, page: Page[Any], to_node: Callable[[Any], NodeType], count: Callable[[], Awaitable[int]]
    ) -> Connection[NodeType]:
        edges = [Edge(node=to_node(row), _page=page, _index=index) for index, row in enumerate(page.rows)]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                has_previous_page=page.has_previous_page,
                start_cursor=page.cursor(0) if page.rows else None,
                end_cursor=page.cursor(len(page.rows) - 1) if page.rows else None,
            ),
            _count=count,
        )


def selects(info: Any, *names: str) -> bool:
    """Whether the field's selection names any of `names`. Fragments count as naming
    them, since what they select is not inspected here. Read off the field's AST
    (strawberry's `selected_fields` converts the whole sub-selection on every call)."""
    from graphql import FieldNode

    for node in info._raw_info.field_nodes:
        for selection in node.selection_set.selections if node.selection_set else ():
            if not isinstance(selection, FieldNode) or selection.name.value in names:
                return True
    return False


def page_selected(info: Any) -> bool:
    """Whether the query asks for edges or pageInfo (not just totalCount)."""
    return selects(info, "edges", "pageInfo")


PAGE_ARGUMENTS_HELP = (
    "Page with `first`/`after` (forwards) or `last`/`before` (backwards); `first` and "
    "`last` are 0..100 and not both. Default page: the first 20."
)
