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
from typing import Any

from sqlalchemy import inspect as mapping_of
from sqlalchemy import JSON, Text, cast, select

from engine import internals
from engine.sql.carry import LEARNED, CarriedRow, NotCarried, decode_carried
from engine.sql.common import ASYNCPG, BUILT_PER_LIST, literal_sql
from engine.sql.plan import PythonField, SqlPlan
from kernel.pagination import encode_cursor_values
from resolvers.ids import NODE_LOADERS
from resolvers.scoping import row_scope
from schema.fields import node_of


# --- the answer -----------------------------------------------------------------------------

# Placeholders in the statement's JSON text, `"\u0000` then the rest of a JSON string:
# a cursor (`[` and the ordering's name and sort-key values) or a Python field
# (`F<index>:<the row's id>`), or a Python field's carried row, a JSON array of
# `"\u0000F<index>"`, the row's id and its carried columns (engine/sql/carry.py).
# PostgreSQL text never holds NUL, so no value can look like one.
CURSOR = re.compile(r'"\\u0000(\[(?:[^"\\]|\\.)*)"')
# One literal prefix, so the scan skips to it (an alternation of two prefixes made the
# regex engine try both at every character of the answer). A carried row's array
# starts one character before the match, at its `[`.
PYTHON_FIELD = re.compile(r'"\\u0000F(\d+)(?::(\d*)"|", )')
DECODER = json.JSONDecoder()


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
    over the object of its row: carried in the statement, or else loaded by id, batched
    per type, through the caller's row scope."""
    if plan.wants_cursors:
        text = CURSOR.sub(_encode_cursor, text)
    if not plan.python:
        return RawJSON(text)
    spans: list[tuple[int, int, int]] = []  # (start, end, item) of each placeholder
    keys: dict[tuple[int, int | None], int] = {}  # (field index, row id) -> item
    wanted: list[tuple[int, int | None]] = []
    carried: dict[tuple[str, int], CarriedRow] = {}
    for match in PYTHON_FIELD.finditer(text):
        index, start = int(match.group(1)), match.start()
        python_field = plan.python[index]
        if (python_field.carried is None) is (match.group(2) is None):
            raise PythonFieldFailed(f"placeholder {match.group(0)!r} is not of its field's form")
        if python_field.carried is None:
            pk = int(match.group(2)) if match.group(2) else None
            end = match.end()
        else:
            start -= 1
            values, end = DECODER.raw_decode(text, start)
            pk = values[1]
            if (python_field.type_name, pk) not in carried:
                try:
                    carried[(python_field.type_name, pk)] = decode_carried(
                        python_field.type_name, python_field.carried, values[1:])
                except (ValueError, TypeError, ArithmeticError) as error:
                    raise PythonFieldFailed(f"a carried row: {error!r}") from error
        item = keys.get((index, pk))
        if item is None:
            item = keys[(index, pk)] = len(wanted)
            wanted.append((index, pk))
        spans.append((start, end, item))
    if not wanted:
        return RawJSON(text)
    by_id: dict[str, set[int]] = defaultdict(set)
    for index, pk in wanted:
        python_field = plan.python[index]
        if python_field.type_name is not None and python_field.carried is None:
            by_id[python_field.type_name].add(pk)
    rows: dict[tuple[str, int], Any] = dict(carried)
    await _read_by_id(context, by_id, rows)
    try:
        values = await _resolve_over(plan, wanted, rows, resolve)
    except (NotCarried, PythonFieldFailed):
        if not any(row.missed for row in carried.values()):
            raise
    if any(row.missed for row in carried.values()):
        # A resolver read a column the statement does not carry (even if it swallowed
        # NotCarried): read those rows by id, which learns every column read, and
        # resolve again. Fields are reads; running them twice is harmless.
        again: dict[str, set[int]] = defaultdict(set)
        for type_name, pk in carried:
            again[type_name].add(pk)
        await _read_by_id(context, again, rows)
        values = await _resolve_over(plan, wanted, rows, resolve)
    written = [internals.json_text(value) for value in values]
    pieces, at = [], 0
    for start, end, item in spans:
        pieces += (text[at:start], written[item])
        at = end
    pieces.append(text[at:])
    return RawJSON("".join(pieces))


async def _read_by_id(context: Any, pks_by_type: dict[str, set[int]], rows: dict[tuple[str, int], Any]) -> None:
    for type_name, pks in pks_by_type.items():
        loaded = await ROWS.load(context, type_name, pks)
        for pk in pks:
            if pk not in loaded:  # out of the caller's scope after all: let the normal path decide
                raise PythonFieldFailed(f"{type_name} {pk} not loaded")
            rows[(type_name, pk)] = loaded[pk]


async def _resolve_over(plan: SqlPlan, wanted: list[tuple[int, int | None]], rows: dict[tuple[str, int], Any],
                        resolve: Callable[[list[tuple[PythonField, Any]]], Any]) -> list[Any]:
    sources = {key: node_of(key[0], row) for key, row in rows.items()}
    return await resolve([(plan.python[index], sources[(plan.python[index].type_name, pk)] if pk is not None else None)
                          for index, pk in wanted])


class LoadedRow:
    """A row of RowsById: each column converted when a resolver first reads it, so a
    field that reads two flags of a 20-column row converts two values, not 20. What is
    read is learnt (engine/sql/carry.py), so the next plan carries it in the statement."""

    __slots__ = ("_record", "_layout", "_type_name", "__dict__")

    def __init__(self, record: Any, layout: dict[str, tuple[int, Any]], type_name: str) -> None:
        self._record = record
        self._layout = layout
        self._type_name = type_name

    def __getattr__(self, name: str) -> Any:
        try:
            position, process = self._layout[name]
        except KeyError:
            raise AttributeError(name) from None
        value = self._record[position]
        if process is not None and value is not None:
            value = process(value)
        self.__dict__[name] = value
        LEARNED.learn(self._type_name, (name,))
        return value


class RowsById:
    """The rows of the Python fields' objects, by id, through the caller's row scope (as
    the by-id loaders read them): one statement per type on the driver's connection,
    each value converted by its column's own SQLAlchemy type, as the ORM converts it.
    The objects carry the mapped attributes the resolvers read (`self._row.email`); the
    ORM's instance machinery would cost more than the rest of the field. JSON columns
    are read as text and parsed only when read."""

    def __init__(self) -> None:
        self.statements: OrderedDict[tuple, str] = OrderedDict()
        self.columns: dict[str, list[tuple[str, Any]]] = {}
        self.layouts: dict[str, dict[str, tuple[int, Any]]] = {}

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
            listed = [cast(c, Text) if isinstance(c.type, JSON) else c for c in columns]
            condition = literal_sql(row_scope(type_name, principal, table.c))
            found = self.statements[key] = (f"{literal_sql(select(*listed).select_from(table))} "
                                            f"WHERE r.id = ANY($1::bigint[]) AND {condition}")
            if len(self.statements) > BUILT_PER_LIST:
                self.statements.popitem(last=False)
        return found

    async def _layout(self, connection: Any, type_name: str, statement: str) -> dict[str, tuple[int, Any]]:
        """Each attribute's position and converter, by the types PostgreSQL answers with."""
        found = self.layouts.get(type_name)
        if found is None:
            described = (await connection.prepare(statement)).get_attributes()
            found = {}
            for position, ((name, column), attribute) in enumerate(
                    zip(self._columns(type_name), described, strict=True)):
                if isinstance(column.type, JSON):
                    process = json.loads
                else:
                    process = column.type.dialect_impl(ASYNCPG).result_processor(ASYNCPG, attribute.type.oid)
                found[name] = (position, process)
            self.layouts[type_name] = found
        return found

    async def load(self, context: Any, type_name: str, pks: set[int]) -> dict[int, Any]:
        statement = self._statement(type_name, context.principal)
        async with context.database.driver_connection() as connection:
            layout = await self._layout(connection, type_name, statement)
            records = await connection.fetch(statement, sorted(pks))
        LEARNED.read_by_id(type_name)
        rows = (LoadedRow(record, layout, type_name) for record in records)
        return {row.id: row for row in rows}


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
