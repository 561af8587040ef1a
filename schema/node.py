from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry

from schema.fields import RowObject


@strawberry.interface(description="An object with a global ID, fetchable with `node(id:)`.")
class Node(RowObject):
    id: strawberry.ID = strawberry.field(description="Opaque global ID; stable across requests.")


# Type name -> function turning a loaded row into its GraphQL type. Filled per domain.
NODE_TYPES: dict[str, Callable[[Any], Node]] = {}
