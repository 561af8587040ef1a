"""The rows of Python fields, carried inside the single statement.

A field without a SQL form is resolved in Python over its object's row. Reading that row
by id is a second statement and a second round trip per request (engine/sql/answer.
RowsById). Instead, the statement can write, where the field's value goes, the row's key
and the columns the type's Python fields read, as a JSON array:
`["\\u0000F<index>", <id>, <column>, ...]`; the answer decodes it into the object's row.

Which columns those are is learnt, not declared (a list kept beside the resolver would be
a second truth): the first time a type's Python field runs, its row is read by id and
every attribute the resolvers read is recorded (`LEARNED`); the plans are then compiled
again, carrying those columns. A resolver that later reads a column that is not carried
(another branch of it) raises `NotCarried`, which no `getattr` default or `hasattr`
swallows; the answer then reads those rows by id after all and resolves the fields
again (engine/sql/answer.py), which learns every column they read, and the next plan
carries them. So a carried row never answers with a value it does not hold.

A column is carried only if its JSON form converts back to exactly what the ORM reads
(tests/test_declarations.py compares every column of every type); a type whose resolvers
read any other column is read by id as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, Integer, Numeric, String, literal_column
from sqlalchemy import inspect as mapping_of
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import TypeDecorator

from engine.sql.common import json_array, json_value, literal_sql
from resolvers.ids import NODE_LOADERS

MARKER = "\\u0000F"  # as JSON text: a NUL, then F; no PostgreSQL text holds a NUL


class NotCarried(Exception):
    """A resolver read a column its carried row does not hold. Deliberately not an
    AttributeError: `getattr(row, name, default)` must not answer with the default."""


def _same(value: Any) -> Any:
    return value


def _timestamp(value: str) -> datetime:
    # asyncpg answers timestamptz in UTC; the JSON form has the session's offset.
    return datetime.fromisoformat(value).astimezone(timezone.utc)


def _converter(column: Any) -> tuple[str, Callable[[Any], Any]] | None:
    """(how the statement writes the column, `{}` for its SQL; the conversion of its JSON
    value), or None when no conversion is known to be exact."""
    kind = column.type
    if isinstance(kind, TypeDecorator):
        return None
    if isinstance(kind, (Boolean, Integer, JSON)):
        return "{}", _same
    if isinstance(kind, String):  # Text too
        return "{}", _same
    if isinstance(kind, DateTime):
        return ("{}", _timestamp) if kind.timezone else None
    if isinstance(kind, Date):
        return "{}", date.fromisoformat
    if isinstance(kind, Numeric) and kind.asdecimal:
        return "CAST({} AS TEXT)", Decimal  # as text: a JSON number would become a float
    if isinstance(kind, ARRAY) and isinstance(kind.item_type, String) and kind.dimensions in (None, 1):
        return "{}", _same
    return None


class TypeColumns:
    """A row-backed type's mapped attributes: each one's column and, if it can be carried,
    its SQL form and conversion."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name
        mapper = mapping_of(NODE_LOADERS[type_name].model)
        self.columns = {attribute.key: attribute.columns[0] for attribute in mapper.column_attrs}
        self.conversions = {name: _converter(column) for name, column in self.columns.items()}

    def carriable(self, names: frozenset[str]) -> bool:
        return all(self.conversions.get(name) is not None for name in names)


_TYPES: dict[str, TypeColumns] = {}


def type_columns(type_name: str) -> TypeColumns:
    found = _TYPES.get(type_name)
    if found is None:
        found = _TYPES[type_name] = TypeColumns(type_name)
    return found


class Learned:
    """Per type, the attributes its Python fields' resolvers have read (None: never run
    yet). `generation` changes whenever a set grows, so a plan knows it is stale."""

    def __init__(self) -> None:
        self.by_type: dict[str, frozenset[str]] = {}
        self.generation = 0

    def forget(self) -> None:
        """As if no Python field had run (tests that count statements from the start)."""
        self.by_type.clear()
        self.generation += 1

    def read_by_id(self, type_name: str) -> None:
        """A type's rows were read by id: they will be carried from the next plan on."""
        self.learn(type_name, ())

    def learn(self, type_name: str, names: Iterable[str]) -> None:
        known = self.by_type.get(type_name)
        if known is not None and all(name in known for name in names):
            return
        names = frozenset(name for name in names if name in type_columns(type_name).columns)
        if known is None or not names <= known:
            self.by_type[type_name] = (known or frozenset()) | names
            self.generation += 1

    def carried(self, type_name: str) -> tuple[str, ...] | None:
        """The attributes to carry for this type (always the key first), or None: read the
        row by id (never run yet, or a column that cannot be carried)."""
        known = self.by_type.get(type_name)
        if known is None or not type_columns(type_name).carriable(known):
            return None
        return ("id", *sorted(known - {"id"}))

    def agrees(self, carried: dict[str, tuple[str, ...] | None]) -> bool:
        """Whether a plan built with `carried` (per type) still carries what it should."""
        return all(self.carried(type_name) == columns for type_name, columns in carried.items())


LEARNED = Learned()


def carried_sql(type_name: str, index: int, outer: str, names: tuple[str, ...]) -> str:
    """The JSON array of a carried row, over the row alias `outer`, as JSON text. The
    marker is followed by `, ` (answer.PYTHON_FIELD finds a carried row by it)."""
    columns = type_columns(type_name)
    values = [json_value(literal_column(columns.conversions[name][0].format(f'{outer}."{columns.columns[name].name}"')),
                         nullable=columns.columns[name].nullable is not False) for name in names]
    return literal_sql(json_array(values, opening=f'["{MARKER}{index}", '))


class CarriedRow:
    """A row decoded from a carried array: its attributes are the carried columns; any
    other mapped column raises NotCarried (and is learnt, so the next plan carries it)."""

    __slots__ = ("_type_name", "missed", "__dict__")

    def __init__(self, type_name: str, values: dict[str, Any]) -> None:
        self._type_name = type_name
        self.missed = False
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Any:
        if name in type_columns(self._type_name).columns:
            self.missed = True
            LEARNED.learn(self._type_name, (name,))
            raise NotCarried(f"{self._type_name}.{name} is not carried")
        raise AttributeError(name)


def decode_carried(type_name: str, names: tuple[str, ...], values: list[Any]) -> CarriedRow:
    """The row of a carried array's values (the marker dropped), converted as the ORM
    would read them."""
    conversions = _conversions(type_name, names)
    return CarriedRow(type_name, {
        name: value if convert is None or value is None else convert(value)
        for (name, convert), value in zip(conversions, values, strict=True)})


_CONVERSIONS: dict[tuple[str, tuple[str, ...]], list[tuple[str, Callable[[Any], Any] | None]]] = {}


def _conversions(type_name: str, names: tuple[str, ...]) -> list[tuple[str, Callable[[Any], Any] | None]]:
    found = _CONVERSIONS.get((type_name, names))
    if found is None:
        conversions = type_columns(type_name).conversions
        found = [(name, None if conversions[name][1] is _same else conversions[name][1]) for name in names]
        if len(_CONVERSIONS) < 1024:  # each type's learnt sets: a handful
            _CONVERSIONS[(type_name, names)] = found
    return found
