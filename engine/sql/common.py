"""What every part of the single statement shares: its errors, constants, and values
written in SQL exactly as the GraphQL scalars write them."""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLEnumType, GraphQLList, GraphQLNonNull, GraphQLScalarType
from sqlalchemy import Date, String, Text, case, cast, func, literal, literal_column
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.sql.elements import ColumnElement

from engine import internals


BACKREF = "strawberry-definition"
PAGE_ARGUMENTS = ("first", "after", "last", "before")
DIALECT = postgresql.dialect()
ASYNCPG = asyncpg_dialect()
BUILT_PER_LIST = 128  # callers whose SQL of one static list is kept


class Unsupported(Exception):
    """This field (or, at the root, this document) has no SQL form."""


class Refused(Exception):
    """This request cannot be answered here (arguments, permissions); the normal path will."""


# --- values as the GraphQL scalars write them ----------------------------------------------
# No colon in this SQL is followed by a letter or digit: pgbench, which replays our
# statements for the SQL floor (bench/floor.py), would take `:name` for a variable.

def iso_timestamp(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """`datetime.isoformat()` of a timestamptz as asyncpg returns it (UTC): microseconds
    only when there are any, offset +00:00."""
    written = func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24":"MI":"SS.US"+00"":""00"')
    return func.replace(written, ".000000+", "+")


def iso_date(column: ColumnElement[Any]) -> ColumnElement[Any]:
    return func.to_char(column, "YYYY-MM-DD")


def global_id(type_name: str, column: ColumnElement[Any]) -> ColumnElement[Any]:
    """base64("Type:pk"), as resolvers.ids.to_global_id (short enough for one line of
    PostgreSQL's base64, which breaks lines at 76 characters)."""
    return func.encode(func.convert_to(literal(f"{type_name}") + literal_column("':'") + cast(column, Text), "UTF8"),
                       "base64")


def unwrap(graphql_type: Any) -> Any:
    return graphql_type.of_type if isinstance(graphql_type, GraphQLNonNull) else graphql_type


# --- JSON written by concatenation -----------------------------------------------------------
# The statement writes its JSON as text: `'{"id":' || <value> || ',"name":' || ...`. Each
# json_build_object call looks up every argument's output function on every row; the
# concatenation of values already written as JSON text costs half as much. Every value
# handed to these builders is JSON text that is never NULL (a NULL would make the whole
# concatenation, and so the whole answer, NULL): `json_value` turns a nullable SQL value
# into `null`. `to_json` escapes as json_build_object did (both are datum_to_json).

@dataclass(frozen=True)
class Const:
    """JSON text known when planning (a key's `__typename`, `true`, a placeholder),
    written into the SQL as a literal and merged with its neighbours."""

    text: str


# A JSON value as SQL: a constant, SQL text, a SQLAlchemy expression, or a list of
# those to be concatenated; never NULL.
JsonValue = Const | str | ColumnElement[Any] | list

NULL_JSON = Const("null")
_PGBENCH_VARIABLE = re.compile(r"(?<=:)(?=[A-Za-z0-9_])")


def const_of(value: Any) -> Const:
    return Const(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def sql_string(text: str) -> str:
    """The SQL literal of a constant text. A colon followed by a letter or digit ends one
    literal and starts the next (`'{"a":' || 'true}'`): see the pgbench note above."""
    return " || ".join("'" + piece.replace("'", "''") + "'" for piece in _PGBENCH_VARIABLE.split(text))


def json_value(expression: ColumnElement[Any], nullable: bool = True) -> ColumnElement[Any]:
    """A SQL value as JSON text; `null` for NULL unless the value cannot be NULL."""
    written = cast(func.to_json(expression), Text)
    return func.coalesce(written, literal_column("'null'")) if nullable else written


def json_or_null(expression: ColumnElement[Any]) -> ColumnElement[Any]:
    """JSON text that may be NULL (a subquery that finds no row) as JSON text."""
    return func.coalesce(expression, literal_column("'null'"))


def json_concat(pieces: list[JsonValue]) -> ColumnElement[Any]:
    """The text of `pieces` in order, neighbouring constants merged into one literal."""
    merged: list[Any] = []
    for piece in _spliced(pieces):
        if isinstance(piece, Const) and merged and isinstance(merged[-1], Const):
            merged[-1] = Const(merged[-1].text + piece.text)
        else:
            merged.append(piece)
    if len(merged) == 1 and isinstance(merged[0], Const):
        return literal_column(sql_string(merged[0].text), Text)
    return internals.concatenation([
        literal_column(sql_string(piece.text), Text) if isinstance(piece, Const)
        else literal_column(piece, Text) if isinstance(piece, str) else piece for piece in merged], merged)


def _spliced(pieces: list[JsonValue]) -> list[JsonValue]:
    """A nested object's pieces in place of the object, so `{"node":` and `{"id":` are
    one literal: one concatenation less per row and level."""
    out: list[JsonValue] = []
    for piece in pieces:
        parts = piece if isinstance(piece, list) else internals.concatenated_parts(piece)
        out += _spliced(parts) if parts is not None else [piece]
    return out


def rendered(expression: ColumnElement[Any]) -> JsonValue:
    """A value's SQL text, rendered once per plan; a concatenation as its pieces, so its
    constants merge with the object's around it."""
    parts = internals.concatenated_parts(expression)
    if parts is None:
        return literal_sql(expression)
    return [part if isinstance(part, (Const, str)) else literal_sql(part) for part in parts]


def json_string(expression: ColumnElement[Any], nullable: bool = True) -> ColumnElement[Any]:
    """Text that needs no escaping (digits, ISO dates and times, one line of base64) as
    a JSON string: quoted by constants, without to_json."""
    written = json_concat([Const('"'), expression, Const('"')])
    return func.coalesce(written, literal_column("'null'")) if nullable else written


def json_object(pairs: list[tuple[str, JsonValue]]) -> ColumnElement[Any]:
    """`{"key":value,...}` in the pairs' order (response keys are GraphQL names: no
    character of theirs needs escaping)."""
    pieces: list[JsonValue] = []
    for i, (key, value) in enumerate(pairs):
        pieces += [Const(("{" if i == 0 else ",") + f'"{key}":'), value]
    pieces.append(Const("}" if pairs else "{}"))
    return json_concat(pieces)


def json_array(items: list[JsonValue], opening: str = "[") -> ColumnElement[Any]:
    """`[item,...]`; `opening` written before the first item."""
    pieces: list[JsonValue] = [Const(opening)]
    for i, item in enumerate(items):
        pieces += ([Const(",")] if i else []) + [item]
    pieces.append(Const("]"))
    return json_concat(pieces)


def json_array_agg(item: ColumnElement[Any], order: Any, condition: ColumnElement[bool]) -> ColumnElement[Any]:
    """`[item,...]` of the rows meeting `condition`, in `order` (`[]` for none)."""
    items = func.string_agg(item, aggregate_order_by(literal_column("','"), order)).filter(condition)
    return json_concat([Const("["), func.coalesce(items, literal_column("''")), Const("]")])


def _nullable(column: ColumnElement[Any]) -> bool:
    return getattr(column, "nullable", True) is not False


def leaf(graphql_type: Any, column: ColumnElement[Any]) -> ColumnElement[Any]:
    """A column's value as JSON text, as the GraphQL scalar or enum writes it."""
    nullable = _nullable(column)
    if isinstance(graphql_type, GraphQLEnumType):
        # Stored value -> enum name, from the schema's own enum; already JSON.
        whens = [(column == getattr(value.value, "value", value.value), literal_column(sql_string(const_of(name).text)))
                 for name, value in graphql_type.values.items()]
        return case(*whens, else_=literal_column("'null'"))
    if isinstance(graphql_type, GraphQLList):
        item = unwrap(graphql_type.of_type)
        if isinstance(item, GraphQLScalarType) and item.name == "String":
            return json_value(column, nullable)
        raise Unsupported(f"list of {item}")
    if not isinstance(graphql_type, GraphQLScalarType):
        raise Unsupported(f"type {graphql_type}")
    name = graphql_type.name
    if name in ("String", "Int", "Boolean", "JSON"):
        return json_value(column, nullable)
    if name == "DateTime":
        return json_string(iso_timestamp(column), nullable)
    if name == "Date":
        return json_string(iso_date(column), nullable)
    if name == "Decimal":  # digits, a sign and a point, or NaN
        return json_string(cast(column, Text), nullable)
    raise Unsupported(f"scalar {name}")


def cursor_value(key: Any, column: ColumnElement[Any]) -> ColumnElement[Any]:
    """A sort key's value as its SortKey.dump writes it into a cursor, as JSON text."""
    dump = getattr(key.dump, "__name__", "")
    nullable = _nullable(key.column)
    if dump == "_iso":
        return json_string(iso_date(column) if isinstance(key.column.type, Date) else iso_timestamp(column), nullable)
    if key.dump is str:
        return json_value(cast(column, String), nullable)
    return json_value(column, nullable)


def literal_sql(expression: ColumnElement[Any]) -> str:
    """SQL text of an expression made of our own constants and a row's columns (no
    client input: enum values, format strings, type names), rendered once per plan."""
    return str(expression.compile(dialect=DIALECT, compile_kwargs={"literal_binds": True}))


# --- compiling SQL text -------------------------------------------------------------------

ROWS_COMPILED = 512


@dataclass
class Compiled:
    sql: str
    parameters: list[Any]


def compile_text(statement: Any, offset: int = 0) -> Compiled:
    compiled = statement.compile(dialect=ASYNCPG, compile_kwargs={"render_postcompile": True})
    return Compiled(shift(compiled.string, offset), positional(compiled, compiled.construct_params()))


def positional(compiled: Any, values: dict[str, Any]) -> list[Any]:
    processors = internals.bind_processors(compiled)
    out = []
    for name in compiled.positiontup:
        value = values[name]
        processor = processors.get(name)
        out.append(processor(value) if processor is not None and value is not None else value)
    return out


PLACEHOLDER = re.compile(r"\$(\d+)")


def shift(sql: str, offset: int) -> str:
    """Renumbers $1.. to follow `offset` parameters before them (SQLAlchemy writes no
    literal `$` of its own; every value is a parameter)."""
    return PLACEHOLDER.sub(lambda m: f"${int(m.group(1)) + offset}", sql) if offset else sql


class RowsCache:
    """Compiled SELECTs of root rows by their shape (SQLAlchemy's cache key without the
    values), so a request pays for the key, not the compilation."""

    def __init__(self) -> None:
        self.entries: OrderedDict[Any, tuple[Any, dict[int, str]]] = OrderedDict()

    def sql_and_parameters(self, statement: Any, offset: int) -> tuple[str, list[Any]]:
        key = internals.sql_cache_key(statement)
        shape = key.key
        entry = self.entries.get(shape)
        if entry is None:
            compiled = statement.compile(dialect=ASYNCPG, cache_key=key, compile_kwargs={"render_postcompile": True})
            if any(bind.expanding for bind in compiled.binds.values()):  # IN lists: lengths vary
                one = compile_text(statement, offset)
                return one.sql, one.parameters
            entry = self.entries[shape] = (compiled, {})
            if len(self.entries) > ROWS_COMPILED:
                self.entries.popitem(last=False)
        else:
            self.entries.move_to_end(shape)
        compiled, shifted = entry
        sql = shifted.get(offset)
        if sql is None:
            sql = shifted[offset] = shift(compiled.string, offset)
        values = compiled.construct_params(extracted_parameters=key.bindparams)
        return sql, positional(compiled, values)
