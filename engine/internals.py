"""Every use the engine makes of graphql-core's, Strawberry's, SQLAlchemy's (and the
json module's) internal APIs, in one place: an upgrade of one of them (pinned in requirements.lock) is checked
here. tests/test_agreement.py and tests/test_compiled.py fail when one changes shape.
"""

from __future__ import annotations

import inspect
import json
import json.encoder
from typing import Any

from graphql import FieldNode, GraphQLObjectType, GraphQLResolveInfo, GraphQLSchema, OperationDefinitionNode
from graphql.execution.collect_fields import FieldDetails, FragmentDetails, collect_fields, collect_subfields
from graphql.execution.executor import Executor
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from graphql.pyutils import Path
from graphql.type.definition import GraphQLResolveInfoHelpers
from strawberry.types.arguments import convert_arguments

__all__ = [
    "FieldDetails", "FragmentDetails", "GraphQLResolveInfoHelpers", "Path", "VariableValues", "arguments_of",
    "collect_root", "collect_sub", "coerce_variables", "field_nodes", "fragments_of", "new_executor", "resolve_info",
    "strawberry_arguments", "sql_cache_key", "bind_processors", "json_text", "concatenation", "concatenated_parts",
]

# A grouped selection: response key -> the field nodes merged under it (graphql-core's
# FieldDetails, which also carry @defer usage, ignored here).
Grouped = dict[str, list[FieldDetails]]


def fragments_of(document: Any) -> dict[str, FragmentDetails]:
    from graphql import FragmentDefinitionNode

    return {d.name.value: FragmentDetails(d) for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def collect_root(schema: GraphQLSchema, fragments: dict[str, FragmentDetails], variables: VariableValues,
                 operation: OperationDefinitionNode) -> Grouped:
    """The operation's root fields as the spec collects them (fragments, @include/@skip,
    repeated keys merged)."""
    return dict(collect_fields(schema, fragments, variables, schema.query_type, operation).grouped_field_set)


def collect_sub(schema: GraphQLSchema, fragments: dict[str, FragmentDetails], variables: VariableValues,
                operation: OperationDefinitionNode, object_type: GraphQLObjectType, details: list[FieldDetails]) -> Grouped:
    """The fields selected below `details` on an object of `object_type`."""
    return dict(collect_subfields(schema, fragments, variables, operation, object_type, details).grouped_field_set)


def field_nodes(details: list[FieldDetails]) -> list[FieldNode]:
    return [detail.node for detail in details]


def coerce_variables(schema: GraphQLSchema, operation: OperationDefinitionNode, raw: dict[str, Any]) -> VariableValues | list:
    """The request's variables coerced by their definitions; a list of errors if they do not coerce."""
    return get_variable_values(schema, operation.variable_definitions or [], raw)


def arguments_of(definition: Any, node: FieldNode, variables: VariableValues | None) -> dict[str, Any]:
    return get_argument_values(definition, node, variables)


def strawberry_arguments(raw: dict[str, Any], strawberry_field: Any, strawberry_schema: Any) -> dict[str, Any]:
    """Arguments as Strawberry converts them for the field's resolver (inputs to their classes, enums, ...)."""
    return convert_arguments(raw, strawberry_field.arguments, scalar_registry=strawberry_schema.schema_converter.scalar_registry,
                             config=strawberry_schema.config)


def new_executor(schema: GraphQLSchema, document: Any, context: Any, raw_variables: dict[str, Any] | None,
                 operation_name: str | None) -> Executor:
    """graphql-core's executor for one request, to run single fields with their real
    resolvers, permission classes and completion (errors land in `executor_errors`)."""
    executor = Executor.build(schema, document, None, context, raw_variables or {}, operation_name)
    if isinstance(executor, list):
        raise ValueError(executor)
    return executor


def execute_field(executor: Executor, parent_type: GraphQLObjectType, source: Any, details: list[FieldDetails],
                  key: str) -> Any:
    """One field of `source` completed by graphql-core (a value or an awaitable)."""
    return executor.execute_field(parent_type, source, details, Path(None, key, parent_type.name), None)


def executor_errors(executor: Executor) -> list[Any]:
    return executor.collected_errors.errors


def resolve_info(field_name: str, nodes: list[FieldNode], definition: Any, parent_type: GraphQLObjectType, path: Path,
                 schema: GraphQLSchema, fragments: dict, operation: OperationDefinitionNode, variables: Any, context: Any,
                 helpers: GraphQLResolveInfoHelpers) -> GraphQLResolveInfo:
    return GraphQLResolveInfo(field_name, nodes, definition.type, parent_type, path, schema, fragments, None, operation,
                              variables, context, inspect.isawaitable, None, helpers)


def sql_cache_key(statement: Any) -> Any:
    """SQLAlchemy's cache key of a statement: its shape, and the values taken out of it."""
    return statement._generate_cache_key()


def bind_processors(compiled: Any) -> dict[str, Any]:
    return compiled._bind_processors


def concatenation(pieces: list[Any], parts: Any = None) -> Any:
    """`(a || b || c ...)` as one flat text expression: nesting `a + b` once per piece
    makes a tree as deep as the object is wide, which SQLAlchemy compiles recursively.
    `parts`: what it was made of, kept on it (`.parts`) for a caller to splice it into
    a larger concatenation."""
    from sqlalchemy import Text
    from sqlalchemy.sql import operators
    from sqlalchemy.sql.elements import ExpressionClauseList

    made = _Concatenation(ExpressionClauseList._construct_for_list(operators.concat_op, Text(), *pieces))
    made.parts = parts
    return made


def _concatenation_class() -> type:
    from sqlalchemy.sql.elements import Grouping

    class Concatenation(Grouping):
        inherit_cache = True
        parts: Any = None

    return Concatenation


_Concatenation = _concatenation_class()


def concatenated_parts(expression: Any) -> list | None:
    """The parts a `concatenation` was made of (None for any other expression)."""
    return expression.parts if isinstance(expression, _Concatenation) else None


def _refuse(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_C_ENCODER = json.encoder.c_make_encoder
if _C_ENCODER is not None:
    # What json.dumps(value, ensure_ascii=False) writes, without building an encoder per
    # call (JSONEncoder.iterencode does; a Python field's value is a small dict, so the
    # building was most of the cost). No circular check: the values are fresh trees.
    _ENCODE = _C_ENCODER(None, _refuse, json.encoder.encode_basestring, None, ": ", ", ", False, False, True)

    def json_text(value: Any) -> str:
        return "".join(_ENCODE(value, 0))
else:  # not CPython
    json_text = json.JSONEncoder(ensure_ascii=False).encode
