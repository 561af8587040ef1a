"""Request limits, checked before anything executes: depth, aliases and cost of an
operation (fragments expanded, cycles cut), and the length of list literals.

Cost: every field costs 1; a paginated field (one with `first`/`last` arguments)
multiplies the cost of what it selects by its page size: the `first`/`last` given, 100
when it comes from a variable (the most a page can hold), 20 when absent (the default
page). So `customers(first: 100) { edges { node { orders(first: 100) { ... } } } }`
costs about 100 x 100 x the fields of an order.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphql import (
    FieldNode, FragmentDefinitionNode, FragmentSpreadNode, GraphQLError, GraphQLInterfaceType, GraphQLObjectType,
    GraphQLSchema, InlineFragmentNode, IntValueNode, ListValueNode, OperationDefinitionNode, OperationType,
    SelectionSetNode, ValidationRule, get_named_type,
)

DEFAULT_PAGE = 20
MAX_PAGE = 100


@dataclass(frozen=True)
class Limits:
    max_depth: int = 15
    max_aliases: int = 50
    max_cost: int = 25_000
    max_list: int = 100
    max_tokens: int = 10_000


@dataclass
class Walk:
    """One operation being measured: its fragments, the schema's types, the results."""

    fragments: dict[str, FragmentDefinitionNode]
    types: dict[str, object]
    depth: int = 0
    aliases: int = 0


def limit_rules(limits: Limits) -> list[type[ValidationRule]]:
    class RequestLimits(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_args) -> None:
            schema: GraphQLSchema = self.context.schema
            root = {OperationType.QUERY: schema.query_type, OperationType.MUTATION: schema.mutation_type,
                    OperationType.SUBSCRIPTION: schema.subscription_type}[node.operation]
            fragments = {d.name.value: d for d in self.context.document.definitions if isinstance(d, FragmentDefinitionNode)}
            walk = Walk(fragments, schema.type_map)
            cost = _cost(node.selection_set, root, walk, frozenset(), 1)
            name = node.name.value if node.name else "anonymous"
            if walk.depth > limits.max_depth:
                self._fail(f"Operation {name!r} is {walk.depth} levels deep; at most {limits.max_depth}.", "QUERY_TOO_DEEP", node)
            if walk.aliases > limits.max_aliases:
                self._fail(f"Operation {name!r} has {walk.aliases} aliases; at most {limits.max_aliases}.", "TOO_MANY_ALIASES", node)
            if cost > limits.max_cost:
                self._fail(f"Operation {name!r} costs {cost}; at most {limits.max_cost}. Ask for smaller pages "
                           "or fewer nested lists.", "QUERY_TOO_COMPLEX", node)

        def enter_list_value(self, node: ListValueNode, *_args) -> None:
            if len(node.values) > limits.max_list:
                self._fail(f"A list argument has {len(node.values)} items; at most {limits.max_list}.", "LIST_TOO_LONG", node)

        def _fail(self, message: str, code: str, node) -> None:
            self.report_error(GraphQLError(message, node, extensions={"code": code}))

    return [RequestLimits]


def _page_size(field: FieldNode) -> int:
    for argument in field.arguments or ():
        if argument.name.value in ("first", "last"):
            if isinstance(argument.value, IntValueNode):
                return max(int(argument.value.value), 0)
            return MAX_PAGE  # a variable: assume the largest page
    return DEFAULT_PAGE


def _cost(selection_set: SelectionSetNode | None, parent, walk: Walk, on_path: frozenset[str], depth: int) -> int:
    """Cost of a selection set under `parent`; records depth and aliases in `walk`.
    A fragment already being expanded on this path is not expanded again (a cycle: the
    standard NoFragmentCycles rule reports it)."""
    if selection_set is None:
        return 0
    walk.depth = max(walk.depth, depth)
    cost = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            if selection.alias:
                walk.aliases += 1
            fields = parent.fields if isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType)) else {}
            definition = fields.get(selection.name.value)
            child_type = get_named_type(definition.type) if definition else None
            child = _cost(selection.selection_set, child_type, walk, on_path, depth + 1)
            paginated = definition is not None and ("first" in definition.args or "last" in definition.args)
            cost += 1 + (child * _page_size(selection) if paginated else child)
        elif isinstance(selection, InlineFragmentNode):
            target = walk.types.get(selection.type_condition.name.value, parent) if selection.type_condition else parent
            cost += _cost(selection.selection_set, target, walk, on_path, depth)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = walk.fragments.get(name)
            if fragment is None or name in on_path:
                continue
            target = walk.types.get(fragment.type_condition.name.value, parent)
            cost += _cost(fragment.selection_set, target, walk, on_path | {name}, depth)
    return cost
