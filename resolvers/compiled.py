"""A faster execution path for read queries: the same schema, resolvers, permission
classes and answers, without graphql-core's per-field machinery.

Profiling the customer list showed most of a request in the executor, not in our code
or the database: for each of ~1,900 fields graphql-core builds a path and an info
object, Strawberry wraps the call, both check for awaitables and complete the value by
its type. Most of those fields are plain attributes of an object a resolver already
built. Here a query document is compiled once into a plan, per selected field:

- a plain attribute (a Strawberry field without resolver and without extensions): read
  with `getattr` and serialised by the schema's own scalar or enum type;
- anything else (a resolver, a permission class, an extension): the field's real
  resolver from the GraphQL schema is called, with a real `GraphQLResolveInfo`, so
  Strawberry converts the arguments and runs the permission classes as it always does;
- lists of objects with resolvers below them are completed concurrently, so the
  per-request loaders batch across the list as they do under graphql-core.

What the plan does not cover (fragments, directives, abstract types, mutations,
introspection, a field asked twice under one name) is never compiled. A document is
compiled only after the normal path has answered it once without errors, so parsing,
validation and the request limits have passed for that text. And whenever something
unexpected happens while a plan runs (an error from a resolver, a null where the
schema says non-null, variables that do not coerce), the plan gives up and the request
runs on the normal path, which then produces the errors exactly as before. Reads only,
so running them twice is harmless.

tests/test_compiled.py runs every query of the benchmark and of the README both ways
and compares the answers.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import OrderedDict
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
    OperationType,
    Undefined,
    parse,
    visit,
)
from graphql.execution.values import get_argument_values, get_variable_values
from graphql.language import Visitor
from graphql.pyutils import Path
from graphql.type.definition import GraphQLResolveInfoHelpers

from resolvers import sql_json
from resolvers.sql_json import SqlPlan

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
    # "attr": getattr(source, python_name); "resolve": the schema's resolver; "typename"
    kind: str
    python_name: str = ""
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
    operation_name: str | None
    root: ObjectPlan | None
    fragments: dict = field(default_factory=dict)
    # When every field has a SQL form: the single-statement plan (resolvers/sql_json.py).
    sql: SqlPlan | None = None


class _Unsupported(Exception):
    pass


class _FeatureCheck(Visitor):
    """Refuses documents with constructs the plan does not handle."""

    def enter_fragment_spread(self, *_args):
        raise _Unsupported("fragment")

    def enter_inline_fragment(self, *_args):
        raise _Unsupported("fragment")

    def enter_directive(self, *_args):
        raise _Unsupported("directive")


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
        return GraphQLResolveInfo(
            plan.name, [plan.node], plan.definition.type, plan.parent_type, path, self.schema, self.plan.fragments,
            None, self.plan.operation, self.variables, self.context, inspect.isawaitable, None, self.helpers,
        )

    def arguments(self, plan: FieldPlan) -> dict[str, Any]:
        if plan.static_arguments is not None:
            return plan.static_arguments
        return get_argument_values(plan.definition, plan.node, self.variables)


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


class Compiler:
    """Plans per (query text, operation name), kept in a bounded LRU."""

    def __init__(self, schema: GraphQLSchema, *, maxsize: int = 256) -> None:
        self.schema = schema
        self.sql = sql_json.SqlCompiler(schema)
        self.maxsize = maxsize
        self._plans: OrderedDict[tuple[str, str | None], Plan | None] = OrderedDict()
        # Requests answered by a plan, and plans that gave up (the normal path answered).
        self.answered = 0
        self.answered_by_sql = 0  # of which by the single statement
        self.gave_up = 0

    def lookup(self, query: str, operation_name: str | None) -> Plan | None:
        """The plan for a document the normal path has answered before, else None."""
        key = (query, operation_name)
        plan = self._plans.get(key)
        if plan is not None:
            self._plans.move_to_end(key)
        return plan

    def known(self, query: str, operation_name: str | None) -> bool:
        return (query, operation_name) in self._plans

    def learn(self, query: str, operation_name: str | None) -> None:
        """Compiles a document the normal path has just answered without errors (so it
        parsed, validated and passed the request limits). Not compilable -> None, which
        is remembered too, so the normal path is taken at once next time."""
        key = (query, operation_name)
        if key in self._plans:
            return
        try:
            plan = self._compile(query, operation_name)
        except _Unsupported:
            plan = None
        except Exception:  # a fault of the compiler must never fail a request
            log.exception("could not compile a query; it stays on the normal path")
            plan = None
        self._plans[key] = plan
        if len(self._plans) > self.maxsize:
            self._plans.popitem(last=False)

    # --- compiling ---------------------------------------------------------------------

    def _compile(self, query: str, operation_name: str | None) -> Plan:
        document = parse(query)
        visit(document, _FeatureCheck())
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if len(operations) != len(document.definitions):
            raise _Unsupported("fragment definitions")
        if operation_name is None:
            if len(operations) != 1:
                raise _Unsupported("which operation")
            operation = operations[0]
        else:
            matching = [o for o in operations if o.name and o.name.value == operation_name]
            if len(matching) != 1:
                raise _Unsupported("which operation")
            operation = matching[0]
        if operation.operation != OperationType.QUERY:
            raise _Unsupported("not a query")
        name = operation.name.value if operation.name else None
        try:
            sql = self.sql.compile(operation)
        except sql_json.Unsupported:
            sql = None
        else:
            return Plan(operation=operation, operation_name=operation_name or name, root=None, sql=sql)
        root = self._object(self.schema.query_type, operation.selection_set.selections, top=True)
        return Plan(operation=operation, operation_name=operation_name or name, root=root)

    def _object(self, object_type: GraphQLObjectType, selections, *, top: bool = False) -> ObjectPlan:
        plan = ObjectPlan(type=object_type)
        seen: set[str] = set()
        definition = object_type.extensions.get(BACKREF) if object_type.extensions else None
        strawberry_fields = {f.python_name: f for f in definition.fields} if definition is not None else {}
        for node in selections:
            if not isinstance(node, FieldNode):
                raise _Unsupported("fragment")
            key = node.alias.value if node.alias else node.name.value
            if key in seen:
                raise _Unsupported("a response key asked twice")
            seen.add(key)
            name = node.name.value
            if name == "__typename":
                plan.fields.append(FieldPlan(key, name, node, None, object_type, "typename"))
                continue
            if name.startswith("__"):
                raise _Unsupported("introspection")
            graphql_field = object_type.fields.get(name)
            if graphql_field is None:
                raise _Unsupported("unknown field")
            strawberry_field = (graphql_field.extensions or {}).get(BACKREF)
            kind = "resolve"
            python_name = ""
            if (not top and strawberry_field is not None and strawberry_field.base_resolver is None
                    and not strawberry_field.extensions and not strawberry_field.permission_classes
                    and strawberry_field.python_name in strawberry_fields):
                kind, python_name = "attr", strawberry_field.python_name
            field_plan = FieldPlan(key, name, node, graphql_field, object_type, kind, python_name)
            if kind == "resolve" and not any(_has_variable(a.value) for a in node.arguments or ()):
                field_plan.static_arguments = get_argument_values(graphql_field, node, None)
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
                raise _Unsupported("object without selection")
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
        raise _Unsupported("abstract type")

    # --- running -----------------------------------------------------------------------

    async def execute(self, plan: Plan, context: Any, raw_variables: dict[str, Any] | None) -> dict[str, Any] | sql_json.RawJSON:
        """The `data` of the answer (as JSON text from the single statement); raises
        GiveUp when the normal path must answer."""
        coerced = get_variable_values(self.schema, plan.operation.variable_definitions or [], raw_variables or {})
        if isinstance(coerced, list):
            self.gave_up += 1
            raise GiveUp("variables do not coerce")
        try:
            if plan.sql is not None:
                data = await self._execute_sql(plan.sql, context, coerced)
                self.answered_by_sql += 1
            else:
                data = await _complete_object_deferred(None, plan.root, Run(self.schema, plan, context, coerced), None)
        except GiveUp:
            self.gave_up += 1
            raise
        except Exception as error:  # any resolver error: the normal path reports it
            self.gave_up += 1
            raise GiveUp(repr(error)) from error
        self.answered += 1
        return data

    async def _execute_sql(self, plan: SqlPlan, context: Any, variables: dict[str, Any]) -> sql_json.RawJSON:
        """Runs the single statement. Every root field of this path needs a signed-in
        caller, so an anonymous or refused one goes to the normal path for its error."""
        principal = await context.authenticate()
        required = [root.roles for root in plan.roots if root.roles is not None] + plan.nested_roles
        if principal is None or any(principal.role not in roles for roles in required):
            raise GiveUp("not allowed")
        try:
            sql, parameters = sql_json.sql_of(plan, principal, variables, self.sql)
        except sql_json.Refused as reason:
            raise GiveUp(str(reason)) from None
        async with context.database.driver_connection() as connection:
            text = await connection.fetchval(sql, *parameters)
        return sql_json.answer(plan, text)


def _has_variable(value) -> bool:
    found = False

    class Finder(Visitor):
        def enter_variable(self, *_args):
            nonlocal found
            found = True

    visit(value, Finder())
    return found


def _resolve(plan: FieldPlan, source: Any, run: Run, path: Path) -> Any:
    if plan.kind == "attr":
        return getattr(source, plan.python_name)
    return plan.definition.resolve(source, run.info(plan, path), **run.arguments(plan))


def _complete_object_sync(source: Any, plan: ObjectPlan, run: Run, path: Path | None) -> dict[str, Any]:
    out = {}
    for field_plan in plan.fields:
        if field_plan.kind == "typename":
            out[field_plan.key] = plan.type.name
            continue
        value = getattr(source, field_plan.python_name)
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
        if field_plan.deferred or inspect.isawaitable(value):
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
    if inspect.isawaitable(value):
        value = await value
    completed = plan.complete(value, run, path)
    if inspect.isawaitable(completed):
        completed = await completed
    return completed
