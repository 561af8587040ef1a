"""The execution engine: how a read query is answered. server.py calls `Engine.answer`
and, after the normal path answered a document, `Engine.learn`; nothing else.

Three paths, each request counted under the one that answered it (`paths`) and named in
its log line with the first reason when it was not `sql`:

- `sql`: the whole answer in one SQL statement (engine/sql/), fields without a SQL
  form resolved in Python over the rows it returned;
- `plan`: documents with no root field of a SQL form, run by a compiled plan of
  resolver calls (engine/plan.py);
- `resolver`: Strawberry and graphql-core, for everything else: the first time a
  document is seen (so parsing, validation and the request limits have passed before a
  plan exists), mutations, introspection, documents neither plan takes, and any request
  a plan gave back (an error, a refused caller), which the normal path then answers
  with its errors exactly as always.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any

from graphql import DirectiveNode, GraphQLError, GraphQLSchema, OperationDefinitionNode, OperationType, VariableNode, parse, visit
from graphql.language import Visitor

from engine import internals, plan as plan_path, sql
from engine.plan import GiveUp
from engine.sql import RawJSON

__all__ = ["Engine", "GiveUp", "RawJSON", "Answer"]

log = logging.getLogger("crm.engine")
PATHS = ("sql", "plan", "resolver")


@dataclass
class Document:
    """A document the normal path answered once: parsed, with its plans per value of the
    variables its @include/@skip read."""

    document: Any
    operation: OperationDefinitionNode
    operation_name: str | None
    directive_variables: tuple[str, ...]
    plans: dict[tuple, Any] = field(default_factory=dict)  # values -> SqlPlan | plan.Plan | str (why neither)


@dataclass
class Answer:
    data: dict[str, Any] | RawJSON
    path: str
    operation_name: str | None
    python_fields: int = 0


class _DirectiveVariables(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_directive(self, node: DirectiveNode, *_args: Any) -> None:
        for argument in node.arguments or ():
            if isinstance(argument.value, VariableNode):
                self.names.add(argument.value.name.value)


class Engine:
    """Documents by (query text, operation name), in a bounded LRU."""

    def __init__(self, schema: GraphQLSchema, *, maxsize: int = 256) -> None:
        self.schema = schema
        self.sql = sql.SqlCompiler(schema)
        self.plans = plan_path.PlanCompiler(schema)
        self.maxsize = maxsize
        self._documents: OrderedDict[tuple[str, str | None], Document | str] = OrderedDict()
        # Requests per path that answered them; `gave_up`: plans that handed a request back.
        self.paths: Counter[str] = Counter({name: 0 for name in PATHS})
        self.gave_up = 0

    def lookup(self, query: str, operation_name: str | None) -> Document | str | None:
        """The document if the normal path has answered it before (a str: why no plan
        can take it), else None."""
        key = (query, operation_name)
        document = self._documents.get(key)
        if document is not None:
            self._documents.move_to_end(key)
        return document

    def learn(self, query: str, operation_name: str | None) -> None:
        """Remembers a document the normal path has just answered without errors (so it
        parsed, validated and passed the request limits)."""
        key = (query, operation_name)
        if key in self._documents:
            return
        try:
            document: Document | str = self._document(query, operation_name)
        except Exception:  # a fault of the engine must never fail a request
            log.exception("could not read a query; it stays on the normal path")
            document = "the engine failed to read it"
        self._documents[key] = document
        if len(self._documents) > self.maxsize:
            self._documents.popitem(last=False)

    def _document(self, query: str, operation_name: str | None) -> Document | str:
        document = parse(query)
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        matching = [o for o in operations if operation_name is None or (o.name and o.name.value == operation_name)]
        if len(matching) != 1:
            return "which operation"
        operation = matching[0]
        if operation.operation != OperationType.QUERY:
            return f"a {operation.operation.value}"
        finder = _DirectiveVariables()
        visit(document, finder)
        name = operation.name.value if operation.name else None
        return Document(document, operation, operation_name or name, tuple(sorted(finder.names)))

    def count(self, path: str) -> None:
        self.paths[path] += 1

    async def answer(self, document: Document, context: Any, raw_variables: dict[str, Any] | None) -> Answer:
        """The answer of a learnt document by its plan; GiveUp (with the reason) when the
        normal path must answer."""
        variables = internals.coerce_variables(self.schema, document.operation, raw_variables or {})
        if isinstance(variables, list):
            raise GiveUp("variables do not coerce")
        values = tuple(variables.coerced.get(name) for name in document.directive_variables)
        chosen = document.plans.get(values)
        if chosen is None or (isinstance(chosen, sql.SqlPlan) and chosen.stale()):
            chosen = document.plans[values] = self._plan(document, variables)
        if isinstance(chosen, str):
            raise GiveUp(chosen)
        try:
            if isinstance(chosen, sql.SqlPlan):
                data = await self._run_sql(chosen, document, context, variables, raw_variables)
                return Answer(data, "sql", document.operation_name, len(chosen.python))
            return Answer(await self.plans.execute(chosen, context, variables), "plan", document.operation_name)
        except GiveUp:
            self.gave_up += 1
            raise
        except Exception as error:  # a lost connection, a fault: the normal path answers, with its errors
            self.gave_up += 1
            raise GiveUp(repr(error)) from error

    def _plan(self, document: Document, variables: Any) -> Any:
        fragments = internals.fragments_of(document.document)
        try:
            return self.sql.compile(document.operation, fragments, variables)
        except sql.Unsupported as reason:
            why = f"no SQL form: {reason}"
        except GraphQLError as error:  # e.g. a directive's variable the request sent as null
            return f"the normal path reports it: {error.message}"[:200]
        except Exception:
            log.exception("could not plan a query in SQL")
            why = "the SQL planner failed"
        try:
            return self.plans.compile(document.document, document.operation)
        except plan_path.Unsupported as reason:
            return f"{why}; no plan: {reason}"
        except Exception:
            log.exception("could not plan a query")
            return f"{why}; the planner failed"

    async def _run_sql(self, plan: sql.SqlPlan, document: Document, context: Any, variables: Any,
                       raw_variables: dict[str, Any] | None) -> RawJSON:
        """Every root field of this path needs a signed-in caller, so an anonymous or
        refused one goes to the normal path for its error."""
        principal = await context.authenticate()
        if principal is None:
            raise GiveUp("not signed in")
        required = [root.roles for root in plan.roots if isinstance(root, sql.RootPlan) and root.roles is not None]
        if any(principal.role not in roles for roles in required + plan.nested_roles):
            raise GiveUp("not allowed")
        try:
            statement, parameters = sql.sql_of(plan, principal, variables, self.sql)
        except sql.Refused as reason:
            raise GiveUp(str(reason)) from None
        async with context.database.driver_connection() as connection:
            text = await connection.fetchval(statement, *parameters)
        async def resolve(items: list[tuple[sql.PythonField, Any]]) -> list[Any]:
            return await self._python_fields(plan, items, document, context, variables, raw_variables)

        try:
            return await sql.finish(plan, text, context, resolve)
        except sql.PythonFieldFailed as reason:
            raise GiveUp(f"a Python field: {reason}") from None

    async def _python_fields(self, plan: sql.SqlPlan, items: list[tuple[sql.PythonField, Any]], document: Document,
                             context: Any, variables: Any, raw_variables: dict[str, Any] | None) -> list[Any]:
        """The single statement's fields without a SQL form: on a compiled plan of the
        field when it has one (engine/plan.py: no fragment or directive below it),
        else by graphql-core's executor; all at once, so their loaders batch."""
        values: list[Any] = [None] * len(items)
        by_plan, by_executor = [], []
        for i, (python_field, source) in enumerate(items):
            field_plan = plan.python_plans.get(python_field.index, False)
            if field_plan is False:
                field_plan = plan.python_plans[python_field.index] = self._field_plan(python_field)
            (by_plan if field_plan is not None else by_executor).append((i, field_plan, python_field, source))
        awaiting = []
        if by_plan:
            run = self.plans.run(document.operation, internals.fragments_of(document.document), context, variables)
            try:
                for i, field_plan, python_field, source in by_plan:
                    value = self.plans.complete_field(source, field_plan, run)
                    if plan_path.awaitable(value):
                        awaiting.append((i, None, value))
                    else:
                        values[i] = value
            except BaseException:
                for _, _, waiting in awaiting:  # started, never to be awaited
                    if inspect.iscoroutine(waiting):
                        waiting.close()
                raise
        if by_executor:
            executor = internals.new_executor(self.schema, document.document, context, raw_variables,
                                              document.operation_name)
            awaiting.append((None, None, sql.resolve_by_graphql_core([(f, s) for _, _, f, s in by_executor], executor)))
        results = await asyncio.gather(*(waiting for _, _, waiting in awaiting), return_exceptions=True)
        for (i, key, _), result in zip(awaiting, results, strict=True):
            if isinstance(result, BaseException):
                if isinstance(result, (GiveUp, sql.PythonFieldFailed)):
                    raise sql.PythonFieldFailed(str(result)) from result
                raise sql.PythonFieldFailed(repr(result)) from result
            if i is None:
                for (j, *_), value in zip(by_executor, result, strict=True):
                    values[j] = value
            else:
                values[i] = result
        return values

    def _field_plan(self, python_field: sql.PythonField) -> Any:
        if len(python_field.details) != 1:  # merged nodes: graphql-core merges them
            return None
        try:
            return self.plans.field_plan(python_field.parent_type, python_field.details[0].node,
                                         top=python_field.type_name is None)
        except plan_path.Unsupported:
            return None
