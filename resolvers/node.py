"""`node(id:)`: any object by its global ID. The Node interface and NODE_TYPES are in
schema/node.py; global IDs and NODE_LOADERS in resolvers/ids.py."""

from __future__ import annotations

import strawberry

from schema.fields import root_node
from schema.node import Node
from schema.permissions import AnyRole


@strawberry.type
class NodeQueries:
    node: Node | None = root_node(
        description="Any object by its global ID; null when it does not exist or is not visible to you (the same answer, so "
                    "nobody learns whether another account's object exists).",
        permissions=[AnyRole])
