"""Relay connections over keyset pages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import strawberry

from crm.pagination import Page

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
    cursor: str = strawberry.field(description="Opaque position of this item; pass as `after` or `before`.")


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
        edges = [Edge(node=to_node(row), cursor=cursor) for row, cursor in zip(page.rows, page.cursors, strict=True)]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                has_previous_page=page.has_previous_page,
                start_cursor=page.cursors[0] if page.cursors else None,
                end_cursor=page.cursors[-1] if page.cursors else None,
            ),
            _count=count,
        )


def page_selected(info: Any) -> bool:
    """Whether the query asks for edges or pageInfo (not just totalCount). Fragments count
    as asking, since what they select is not inspected here."""
    from strawberry.types.nodes import SelectedField

    for field in info.selected_fields:
        for selection in field.selections:
            if not isinstance(selection, SelectedField) or selection.name in ("edges", "pageInfo"):
                return True
    return False


PAGE_ARGUMENTS_HELP = (
    "Page with `first`/`after` (forwards) or `last`/`before` (backwards); `first` and "
    "`last` are 0..100 and not both. Default page: the first 20."
)
