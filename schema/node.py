from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import strawberry
from strawberry.types import Info

from resolvers.node import resolve_node
from schema.permissions import AnyRole, guarded_field


@strawberry.interface(description="An object with a global ID, fetchable with `node(id:)`.")
class Node:
    id: strawberry.ID = strawberry.field(description="Opaque global ID; stable across requests.")


# Type name -> function turning a loaded row into its GraphQL type. Filled per domain.
NODE_TYPES: dict[str, Callable[[Any], Node]] = {}


@strawberry.type
class NodeQueries:
    @guarded_field(
        description="Any object by its global ID; null when it does not exist or is not visible to you (the same answer, so "
                    "nobody learns whether another account's object exists).",
        permissions=[AnyRole],
    )
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        found = await resolve_node(info.context, id)
        if found is None:
            return None
        type_name, row = found
        node = NODE_TYPES[type_name]
        # Most types wrap the row; some (a membership's view) need the request to build.
        return await node(info, row) if inspect.iscoroutinefunction(node) else node(row)
