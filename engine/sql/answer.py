"""The answer: the statement's JSON text with its cursors encoded and its Python fields
resolved."""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from collections import defaultdict
from collections.abc import Callable
from collections import OrderedDict
from types import SimpleNamespace
from typing import Any

from sqlalchemy import inspect as mapping_of
from sqlalchemy import select

from engine import internals
from engine.sql.common import ASYNCPG, BUILT_PER_LIST, literal_sql
from engine.sql.plan import PythonField, SqlPlan
from kernel.pagination import encode_cursor_values
from resolvers.ids import NODE_LOADERS
from resolvers.scoping import row_scope
from schema.fields import node_of


# --- the answer -----------------------------------------------------------------------------

# Placeholders in the statement's JSON text, `"\u0000` then the rest of a JSON string:
# a cursor (`[` and the ordering's name and sort-key values) or a Python field
# (`F<index>:<the row's id>`). PostgreSQL text never holds NUL, so no value can look
# like one.
CURSOR = re.compile(r'"\\u0000(\[(?:[^"\\]|\\.)*)"')
PYTHON_FIELD = re.compile(r'"\\u0000F(\d+):(\d*)"')


class RawJSON:
    """The `data` of an answer as JSON text, written into the response as it is."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _encode_cursor(match: re.Match[str]) -> str:
    name, *values = json.loads(json.loads('"' + match.group(1) + '"'))
    return '"' + encode_cursor_values(name, values) + '"'


class PythonFieldFailed(Exception):
    """A Python field raised or answered with an error: the normal path reports it."""


async def finish(plan: SqlPlan, text: str, context: Any,
                 resolve: Callable[[list[tuple[PythonField, Any]]], Any]) -> RawJSON:
    """The `data` of the answer: the statement's JSON with the cursors encoded and the
    Python fields resolved (`resolve`: the fields' values, each over its source), each
    over the object of the row whose key the statement wrote (loaded by id, batched per
    type, through the caller's row scope)."""
    if plan.wants_cursors:
        text = CURSOR.sub(_encode_cursor, text)
    if not plan.python:
        return RawJSON(text)
    wanted = [(int(index), int(pk) if pk else None) for index, pk in set(PYTHON_FIELD.findall(text))]
    if not wanted:
        return RawJSON(text)
    by_type: dict[str, set[int]] = defaultdict(set)
    for index, pk in wanted:
        type_name = plan.python[index].type_name
        if type_name is not None:
            by_type[type_name].add(pk)
    sources: dict[tuple[str, int], Any] = {}
    for type_name, pks in by_type.items():
        rows = await ROWS.load(context, type_name, pks)
        for pk in pks:
            if pk not in rows:  # out of the caller's scope after all: let the normal path decide
                raise PythonFieldFailed(f"{type_name} {pk} not loaded")
            sources[(type_name, pk)] = node_of(type_name, rows[pk])
    items = [(plan.python[index], sources[(plan.python[index].type_name, pk)] if pk is not None else None)
             for index, pk in wanted]
    values = await resolve(items)
    written = {f"{index}:{'' if pk is None else pk}": json.dumps(value, ensure_ascii=False)
               for (index, pk), value in zip(wanted, values, strict=True)}
    return RawJSON(PYTHON_FIELD.sub(lambda match: written[f"{match.group(1)}:{match.group(2)}"], text))


class RowsById:
    """The rows of the Python fields' objects, by id, through the caller's row scope (as
    the by-id loaders read them): one statement per type on the driver's connection,
    each value converted by its column's own SQLAlchemy type, as the ORM converts it.
    The objects carry the mapped attributes the resolvers read (`self._row.email`); the
    ORM's instance machinery would cost more than the rest of the field."""

    def __init__(self) -> None:
        self.statements: OrderedDict[tuple, str] = OrderedDict()
        self.columns: dict[str, list[tuple[str, Any]]] = {}
        self.processors: dict[str, list[tuple[str, Any]]] = {}

    def _columns(self, type_name: str) -> list[tuple[str, Any]]:
        found = self.columns.get(type_name)
        if found is None:
            mapper = mapping_of(NODE_LOADERS[type_name].model)
            found = self.columns[type_name] = [
                (attribute.key, attribute.columns[0]) for attribute in mapper.column_attrs]
        return found

    def _statement(self, type_name: str, principal: Any) -> str:
        key = (type_name, principal.role, principal.account_id, principal.user_id)
        found = self.statements.get(key)
        if found is None:
            table = NODE_LOADERS[type_name].model.__table__.alias("r")
            columns = [table.c[column.key] for _, column in self._columns(type_name)]
            condition = literal_sql(row_scope(type_name, principal, table.c))
            found = self.statements[key] = (f"{literal_sql(select(*columns).select_from(table))} "
                                            f"WHERE r.id = ANY($1::bigint[]) AND {condition}")
            if len(self.statements) > BUILT_PER_LIST:
                self.statements.popitem(last=False)
        return found

    async def load(self, context: Any, type_name: str, pks: set[int]) -> dict[int, Any]:
        statement = self._statement(type_name, context.principal)
        async with context.database.driver_connection() as connection:
            processors = self.processors.get(type_name)
            if processors is None:  # the columns' processors, by the types PostgreSQL answers with
                described = (await connection.prepare(statement)).get_attributes()
                processors = self.processors[type_name] = [
                    (name, column.type.dialect_impl(ASYNCPG).result_processor(ASYNCPG, attribute.type.oid))
                    for (name, column), attribute in zip(self._columns(type_name), described, strict=True)]
            records = await connection.fetch(statement, sorted(pks))
        rows = {}
        for record in records:
            values = {name: (process(value) if process is not None and value is not None else value)
                      for (name, process), value in zip(processors, record, strict=True)}
            rows[values["id"]] = SimpleNamespace(**values)
        return rows


ROWS = RowsById()


async def resolve_by_graphql_core(items: list[tuple[PythonField, Any]], executor: Any) -> list[Any]:
    """Fields completed by graphql-core's executor (fragments, directives and abstract
    types below them included); concurrently, so their loaders batch."""
    values: list[Any] = []
    for python_field, source in items:
        try:
            values.append(internals.execute_field(executor, python_field.parent_type, source, python_field.details,
                                                  python_field.key))
        except Exception as error:  # a non-null field that failed
            raise PythonFieldFailed(repr(error)) from error
    pending = [i for i, value in enumerate(values) if inspect.isawaitable(value)]
    if pending:
        done = await asyncio.gather(*(values[i] for i in pending), return_exceptions=True)
        for i, value in zip(pending, done, strict=True):
            if isinstance(value, BaseException):
                raise PythonFieldFailed(repr(value)) from value
            values[i] = value
    if internals.executor_errors(executor):
        raise PythonFieldFailed(str(internals.executor_errors(executor)[0]))
    return values
