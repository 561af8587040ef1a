"""The `plan` path: read queries without graphql-core's per-field machinery, for
documents the single statement (engine/sql/) does not take (no root field with a SQL
form: a membership, the pipeline, analytics).

Profiling showed most of such a request in the executor, not in our code or the
database: for each field graphql-core builds a path and an info object, Strawberry wraps
the call, both check for awaitables and complete the value by its type. Here a query
document is compiled once into a plan, per selected field:

- a plain attribute (a Strawberry field without resolver and without extensions), or a
  column declared in schema/fields.py whose resolver is the generated one: read directly
  and serialised by the schema's own scalar or enum type;
- anything else (a resolver, a permission class, an extension): the field's real
  resolver from the GraphQL schema is called, with a real `GraphQLResolveInfo`, so
  Strawberry converts the arguments and runs the permission classes as it always does;
- lists of objects with resolvers below them are completed concurrently, so the
  per-request loaders batch across the list as they do under graphql-core.

What the plan does not cover (fragments, directives, abstract types, mutations,
introspection, a field asked twice under one name) stays on the normal path. Whenever
something unexpected happens while a plan runs (an error from a resolver, a null where
the schema says non-null), the plan gives up and the request runs on the normal path,
which then produces the errors exactly as before. Reads only, so running twice is
harmless.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    FieldNode,
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    OperationDefinitionNode,
    Undefined,
    visit,
)
from graphql.language import Visitor

from engine import internals
from engine.internals import GraphQLResolveInfoHelpers, Path
from schema.fields import Column, declared_source

BACKREF = "strawberry-definition"
log = logging.getLogger("crm.compiled")


class GiveUp(Exception):
    """The plan cannot answer this request; the normal path will."""


@dataclass
class FieldPlan:
    key: str
    name: str
    node: FieldNode
    definition: Any  # GraphQLField
    parent_type: GraphQLObjectType
    # "attr": getattr(source, python_name); "column": getattr(source._row, python_name) (a
    # declared column, schema/fields.py); "method": method(source), a resolver that takes
    # nothing but `self`; "resolve": the schema's resolver; "typename"
    kind: str
    python_name: str = ""
    method: Any = None
    # Arguments coerced once when they hold no variables, else None (coerced per request).
    static_arguments: dict[str, Any] | None = None
    complete: Any = None  # (value, run) -> completed value, or a coroutine when `deferred`
    deferred: bool = False  # completing it may await (a resolver somewhere at or below it)


@dataclass
class ObjectPlan:
    type: GraphQLObjectType
    fields: list[FieldPlan] = field(default_factory=list)
    deferred: bool = False


@dataclass
class Plan:
    operation: OperationDefinitionNode
    root: ObjectPlan | None
    fragments: dict = field(default_factory=dict)


class Unsupported(Exception):
    """The document has something this path does not answer."""


class _FeatureCheck(Visitor):
    """Refuses documents with constructs the plan does not handle."""

    def enter_fragment_spread(self, *_args):
        raise Unsupported("fragment")

    def enter_inline_fragment(self, *_args):
        raise Unsupported("fragment")

    def enter_directive(self, *_args):
        raise Unsupported("directive")


class Run:
    """One request's execution of a plan."""

    __slots__ = ("schema", "plan", "context", "variables", "helpers")

    def __init__(self, schema: GraphQLSchema, plan: Plan, context: Any, variables: Any) -> None:
        self.schema = schema
        self.plan = plan
        self.context = context
        self.variables = variables
        self.helpers = GraphQLResolveInfoHelpers(gather=_gather, track=lambda _values: None)

    def info(self, plan: FieldPlan, path: Path) -> GraphQLResolveInfo:
        return internals.resolve_info(plan.name, [plan.node], plan.definition, plan.parent_type, path, self.schema,
                                      self.plan.fragments, self.plan.operation, self.variables, self.context, self.helpers)

    def arguments(self, plan: FieldPlan) -> dict[str, Any]:
        if plan.static_arguments is not None:
            return plan.static_arguments
        return internals.arguments_of(plan.definition, plan.node, self.variables)


async def _gather(values) -> list[Any]:
    """asyncio.gather that, when one fails, cancels the others before raising: a plan
    that gives up must leave nothing running beside the normal path that follows."""
    tasks = [asyncio.ensure_future(v) for v in values]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


class PlanCompiler:
    """Compiles query operations into Plans and runs them."""

    def __init__(self, schema: GraphQLSchema) -> None:
        self.schema = schema

    def compile(self, document: Any, operation: OperationDefinitionNode) -> Plan:
        visit(document, _FeatureCheck())
        if len(document.definitions) != 1:
            raise Unsupported("fragment definitions or other operations")
        root = self._object(self.schema.query_type, operation.selection_set.selections, top=True)
        return Plan(operation=operation, root=root)

    def field_plan(self, object_type: GraphQLObjectType, node: FieldNode, *, top: bool) -> ObjectPlan:
        """A plan of one field of `object_type` (the single statement's fields without a
        SQL form, engine/sql/); Unsupported for fragments or directives below it."""
        # The field's own directives were applied when the statement's fields were collected.
        if node.selection_set is not None:
            visit(node.selection_set, _FeatureCheck())
        return self._object(object_type, [node], top=top)

    def complete_field(self, source: Any, plan: ObjectPlan, run: Run) -> Any:
        """The completed value of the one field of a `field_plan`, or an awaitable of it
        when its resolver or anything below it awaits."""
        (field_plan,) = plan.fields
        path = Path(None, field_plan.key, plan.type.name)
        value = _resolve(field_plan, source, run, path)
        if awaitable(value):
            return _finish(field_plan, value, run, path)
        return field_plan.complete(value, run, path)

    def run(self, operation: OperationDefinitionNode, fragments: dict, context: Any, variables: Any) -> Run:
        return Run(self.schema, Plan(operation=operation, root=None, fragments=fragments), context, variables)

    def _object(self, object_type: GraphQLObjectType, selections, *, top: bool = False) -> ObjectPlan:
        plan = ObjectPlan(type=object_type)
        seen: set[str] = set()
        definition = object_type.extensions.get(BACKREF) if object_type.extensions else None
        strawberry_fields = {f.python_name: f for f in definition.fields} if definition is not None else {}
        for node in selections:
            if not isinstance(node, FieldNode):
                raise Unsupported("fragment")
            key = node.alias.value if node.alias else node.name.value
            if key in seen:
                raise Unsupported("a response key asked twice")
            seen.add(key)
            name = node.name.value
            if name == "__typename":
                plan.fields.append(FieldPlan(key, name, node, None, object_type, "typename"))
                continue
            if name.startswith("__"):
                raise Unsupported("introspection")
            graphql_field = object_type.fields.get(name)
            if graphql_field is None:
                raise Unsupported("unknown field")
            strawberry_field = (graphql_field.extensions or {}).get(BACKREF)
            kind = "resolve"
            python_name = ""
            plain = not top and strawberry_field is not None and not strawberry_field.extensions \
                and not strawberry_field.permission_classes
            source = declared_source(strawberry_field) if plain else None
            if plain and strawberry_field.base_resolver is None and strawberry_field.python_name in strawberry_fields:
                kind, python_name = "attr", strawberry_field.python_name
            elif isinstance(source, Column):
                kind, python_name = "column", source.name
            elif plain and _takes_only_self(strawberry_field.base_resolver):
                kind = "method"
            field_plan = FieldPlan(key, name, node, graphql_field, object_type, kind, python_name)
            if kind == "method":
                field_plan.method = strawberry_field.base_resolver.wrapped_func
            if kind == "resolve" and not any(_has_variable(a.value) for a in node.arguments or ()):
                field_plan.static_arguments = internals.arguments_of(graphql_field, node, None)
            field_plan.complete, deferred = self._completer(graphql_field.type, node)
            field_plan.deferred = deferred or kind == "resolve"
            plan.fields.append(field_plan)
        plan.deferred = any(f.deferred for f in plan.fields)
        return plan

    def _completer(self, graphql_type, node: FieldNode):
        """(completer, deferred): completer(value, run, path) for this type."""
        if isinstance(graphql_type, GraphQLNonNull):
            inner, deferred = self._completer(graphql_type.of_type, node)
            if deferred:
                async def non_null_deferred(value, run, path):
                    if value is None:
                        raise GiveUp("null for a non-null field")
                    return await inner(value, run, path)
                return non_null_deferred, True

            def non_null(value, run, path):
                if value is None:
                    raise GiveUp("null for a non-null field")
                return inner(value, run, path)
            return non_null, False
        if isinstance(graphql_type, GraphQLList):
            inner, deferred = self._completer(graphql_type.of_type, node)
            if deferred:
                async def list_deferred(value, run, path):
                    if value is None:
                        return None
                    return await _gather([inner(v, run, path.add_key(i)) for i, v in enumerate(value)])
                return list_deferred, True

            def list_sync(value, run, path):
                if value is None:
                    return None
                return [inner(v, run, path) for v in value]
            return list_sync, False
        if isinstance(graphql_type, (GraphQLScalarType, GraphQLEnumType)):
            serialize = graphql_type.serialize

            def leaf(value, run, path):
                if value is None:
                    return None
                serialized = serialize(value)
                if serialized is Undefined or serialized is None:
                    raise GiveUp("a leaf that does not serialise")
                return serialized
            return leaf, False
        if isinstance(graphql_type, GraphQLObjectType):
            if node.selection_set is None:
                raise Unsupported("object without selection")
            sub = self._object(graphql_type, node.selection_set.selections)
            is_type_of = graphql_type.is_type_of
            if sub.deferred:
                async def object_deferred(value, run, path):
                    if value is None:
                        return None
                    if is_type_of is not None and not is_type_of(value, None):
                        raise GiveUp("unexpected object type")
                    return await _complete_object_deferred(value, sub, run, path)
                return object_deferred, True

            def object_sync(value, run, path):
                if value is None:
                    return None
                if is_type_of is not None and not is_type_of(value, None):
                    raise GiveUp("unexpected object type")
                return _complete_object_sync(value, sub, run, path)
            return object_sync, False
        raise Unsupported("abstract type")

    # --- running -----------------------------------------------------------------------

    async def execute(self, plan: Plan, context: Any, variables: Any) -> dict[str, Any]:
        """The `data` of the answer; raises GiveUp when the normal path must answer."""
        try:
            return await _complete_object_deferred(None, plan.root, Run(self.schema, plan, context, variables), None)
        except GiveUp:
            raise
        except Exception as error:  # any resolver error: the normal path reports it
            raise GiveUp(repr(error)) from error


def _has_variable(value) -> bool:
    found = False

    class Finder(Visitor):
        def enter_variable(self, *_args):
            nonlocal found
            found = True

    visit(value, Finder())
    return found


_NEVER_AWAITABLE = (dict, list, str, int, float, bool, type(None))


def awaitable(value: Any) -> bool:
    """inspect.isawaitable, without its abstract-class check for the plain values that
    most fields complete to."""
    return not isinstance(value, _NEVER_AWAITABLE) and inspect.isawaitable(value)


def _takes_only_self(resolver: Any) -> bool:
    """A synchronous resolver of `self` alone: Strawberry would call it with the source
    and nothing else (no arguments to convert, no info to build), so the plan does too."""
    if resolver is None or resolver.is_async or resolver.self_parameter is None:
        return False
    return len(resolver.signature.parameters) == 1


def _resolve(plan: FieldPlan, source: Any, run: Run, path: Path) -> Any:
    if plan.kind == "method":
        return plan.method(source)
    if plan.kind == "attr":
        return getattr(source, plan.python_name)
    if plan.kind == "column":
        return getattr(source._row, plan.python_name)
    return plan.definition.resolve(source, run.info(plan, path), **run.arguments(plan))


def _complete_object_sync(source: Any, plan: ObjectPlan, run: Run, path: Path | None) -> dict[str, Any]:
    out = {}
    for field_plan in plan.fields:
        if field_plan.kind == "typename":
            out[field_plan.key] = plan.type.name
            continue
        kind = field_plan.kind
        if kind == "method":
            value = field_plan.method(source)
        else:
            value = getattr(source._row if kind == "column" else source, field_plan.python_name)
        out[field_plan.key] = field_plan.complete(value, run, path)
    return out


async def _complete_object_deferred(source: Any, plan: ObjectPlan, run: Run, path: Path | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    pending = []
    for field_plan in plan.fields:
        if field_plan.kind == "typename":
            out[field_plan.key] = plan.type.name
            continue
        field_path = Path(path, field_plan.key, plan.type.name)
        value = _resolve(field_plan, source, run, field_path)
        if field_plan.deferred or awaitable(value):
            out[field_plan.key] = None  # keeps the selection's order
            pending.append((field_plan, value, field_path))
        else:
            out[field_plan.key] = field_plan.complete(value, run, field_path)
    if len(pending) == 1:  # nothing to run beside it: no task needed
        field_plan, value, field_path = pending[0]
        out[field_plan.key] = await _finish(field_plan, value, run, field_path)
    elif pending:
        results = await _gather([_finish(f, v, run, p) for f, v, p in pending])
        for (field_plan, _, _), result in zip(pending, results, strict=True):
            out[field_plan.key] = result
    return out


async def _finish(plan: FieldPlan, value: Any, run: Run, path: Path | None) -> Any:
    if awaitable(value):
        value = await value
    completed = plan.complete(value, run, path)
    if awaitable(completed):
        completed = await completed
    return completed
