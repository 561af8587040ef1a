from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry

from schema.fields import RowObject, root_node
from schema.permissions import AnyRole


@strawberry.interface(description="An object with a global ID, fetchable with `node(id:)`.")
class Node(RowObject):
    id: strawberry.ID = strawberry.field(description="Opaque global ID; stable across requests.")


# Type name -> function turning a loaded row into its GraphQL type. Filled per domain.
NODE_TYPES: dict[str, Callable[[Any], Node]] = {}


@strawberry.type
class NodeQueries:
    node: Node | None = root_node(
        description="Any object by its global ID; null when it does not exist or is not visible to you (the same answer, so "
                    "nobody learns whether another account's object exists).",
        permissions=[AnyRole])
