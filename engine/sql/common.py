"""What every part of the single statement shares: its errors, constants, and values
written in SQL exactly as the GraphQL scalars write them."""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLEnumType, GraphQLList, GraphQLNonNull, GraphQLScalarType
from sqlalchemy import Date, String, Text, case, cast, func, literal, literal_column, null
from sqlalchemy.dialects import postgresql
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


def leaf(graphql_type: Any, column: ColumnElement[Any]) -> ColumnElement[Any]:
    if isinstance(graphql_type, GraphQLEnumType):
        # Stored value -> enum name, from the schema's own enum.
        whens = [(column == getattr(value.value, "value", value.value), name) for name, value in graphql_type.values.items()]
        return case(*whens, else_=null())
    if isinstance(graphql_type, GraphQLList):
        item = unwrap(graphql_type.of_type)
        if isinstance(item, GraphQLScalarType) and item.name == "String":
            return func.to_json(column)
        raise Unsupported(f"list of {item}")
    if not isinstance(graphql_type, GraphQLScalarType):
        raise Unsupported(f"type {graphql_type}")
    name = graphql_type.name
    if name in ("String", "Int", "Boolean", "JSON"):
        return column
    if name == "DateTime":
        return iso_timestamp(column)
    if name == "Date":
        return iso_date(column)
    if name == "Decimal":
        return cast(column, Text)
    raise Unsupported(f"scalar {name}")


def cursor_value(key: Any, column: ColumnElement[Any]) -> ColumnElement[Any]:
    """A sort key's value as its SortKey.dump writes it into a cursor."""
    dump = getattr(key.dump, "__name__", "")
    if dump == "_iso":
        return iso_date(column) if isinstance(key.column.type, Date) else iso_timestamp(column)
    if key.dump is str:
        return cast(column, String)
    return column


def literal_sql(expression: ColumnElement[Any]) -> str:
    """SQL text of an expression made of our own constants and a row's columns (no
    client input: enum values, format strings, type names), rendered once per plan."""
    return str(expression.compile(dialect=DIALECT, compile_kwargs={"literal_binds": True}))


def quoted(name: str) -> str:
    # Response keys are GraphQL names ([_A-Za-z][_0-9A-Za-z]*), so always safe to quote.
    return "'" + name.replace("'", "''") + "'"


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
