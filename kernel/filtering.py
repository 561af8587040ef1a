"""List filters as SQL: a plain nested dict in, one WHERE clause out.

A filter is `{field: {operator: value}, "and": [filter], "or": [filter], "not": filter}`.
Fields of one filter and operators of one field are ANDed. Each list declares its
fields (`FilterField`) and, for conditions that are not a column compare (`contactable`,
`open`, ...), `special` functions. Every field a list declares is served by an index;
docs/filters.md names them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kernel.money import MAX_AMOUNT
from sqlalchemy import and_, cast, false, not_, or_, true
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import Text

MAX_DEPTH = 4
MAX_VALUES = 100
MAX_PATTERN = 200

OPERATORS = {
    "text": {"eq", "in", "ilike", "is_null"},
    "enum": {"eq", "in"},
    "id": {"eq", "in", "is_null"},
    "number": {"eq", "in", "gte", "lte", "is_null"},
    # lt/gt: half-open periods [a, b) filter exactly (gte a, lt b), with no instant lost
    # or counted twice between adjacent periods.
    "time": {"eq", "gte", "lte", "gt", "lt", "is_null"},
    "bool": {"eq"},
    "tags": {"contains_any", "contains_all"},
    "attributes": {"key"},  # a list of {key, eq, in, is_null}
}


class FilterError(ValueError):
    """A filter that cannot be applied; `path` says where in the filter."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


@dataclass(frozen=True)
class FilterField:
    column: ColumnElement[Any]
    kind: str


Special = Callable[[Any], ColumnElement[bool]]


def where(
    spec: Mapping[str, Any] | None,
    fields: Mapping[str, FilterField],
    special: Mapping[str, Special] | None = None,
) -> ColumnElement[bool]:
    """The WHERE clause of a filter; TRUE for no filter."""
    if not spec:
        return true()
    return _clause(spec, fields, special or {}, "filter", 0)


def _clause(spec, fields, special, path, depth) -> ColumnElement[bool]:
    if depth > MAX_DEPTH:
        raise FilterError(path, f"Filters nest at most {MAX_DEPTH} levels of and/or/not.")
    parts: list[ColumnElement[bool]] = []
    for name, value in spec.items():
        here = f"{path}.{name}"
        if value is None:
            continue
        if name in ("and", "or"):
            if len(value) > MAX_VALUES:
                raise FilterError(here, f"At most {MAX_VALUES} filters in `{name}`.")
            clauses = [_clause(item, fields, special, f"{here}[{i}]", depth + 1) for i, item in enumerate(value)]
            if clauses:
                parts.append(and_(*clauses) if name == "and" else or_(*clauses))
        elif name == "not":
            parts.append(not_(_clause(value, fields, special, here, depth + 1)))
        elif name in special:
            parts.append(special[name](value))
        elif name in fields:
            parts.append(_field(fields[name], value, here))
        else:
            raise FilterError(here, f"`{name}` cannot be filtered on.")
    return and_(true(), *parts)


def _field(field: FilterField, ops: Mapping[str, Any], path: str) -> ColumnElement[bool]:
    column, parts = field.column, []
    for op, value in ops.items():
        if value is None:
            continue
        if op not in OPERATORS[field.kind]:
            raise FilterError(f"{path}.{op}", f"`{op}` does not apply here.")
        if isinstance(value, (list, tuple)) and len(value) > MAX_VALUES:
            raise FilterError(f"{path}.{op}", f"At most {MAX_VALUES} values.")
        if field.kind == "number" and op != "is_null":
            for number in value if isinstance(value, (list, tuple)) else [value]:
                _check_number(number, f"{path}.{op}")
        if op == "eq":
            parts.append(column == value)
        elif op == "in":
            parts.append(column.in_(list(value)) if value else false())
        elif op == "gte":
            parts.append(column >= value)
        elif op == "lte":
            parts.append(column <= value)
        elif op == "gt":
            parts.append(column > value)
        elif op == "lt":
            parts.append(column < value)
        elif op == "ilike":
            if len(value) > MAX_PATTERN:
                raise FilterError(f"{path}.ilike", f"A pattern has at most {MAX_PATTERN} characters.")
            if (len(value) - len(value.rstrip("\\"))) % 2:
                # PostgreSQL refuses a pattern that ends in its escape character.
                raise FilterError(f"{path}.ilike", "A pattern cannot end in a lone \\; write \\\\ for a backslash.")
            parts.append(column.ilike(value))
        elif op == "is_null":
            parts.append(column.is_(None) if value else column.is_not(None))
        elif op == "contains_any":
            parts.append(column.op("&&", is_comparison=True)(cast(list(value), ARRAY(Text))))
        elif op == "contains_all":
            parts.append(column.op("@>", is_comparison=True)(cast(list(value), ARRAY(Text))))
        elif op == "key":
            parts += [_attribute(column, item, f"{path}.key[{i}]") for i, item in enumerate(value)]
    return and_(true(), *parts)




def _check_number(value: Any, path: str) -> None:
    """Amounts compared in SQL must be finite and of a size the NUMERIC(14, 2) columns
    hold: PostgreSQL casts the value to the column's type and overflows above it."""
    try:
        number = Decimal(value)
    except (ArithmeticError, TypeError, ValueError):
        raise FilterError(path, "Not a number.") from None
    size = number.copy_abs()  # abs() would round in the context and overflow on 1e1000000000
    if not number.is_finite() or size > MAX_AMOUNT or (size and size < Decimal("1e-6")):
        raise FilterError(path, f"A number to compare is finite and at most {MAX_AMOUNT} in size.")


def _attribute(column, item: Mapping[str, Any], path: str) -> ColumnElement[bool]:
    """{key, eq | in | is_null} on a JSONB column; containment uses its GIN index."""
    key = item.get("key")
    if not key:
        raise FilterError(path, "An attribute filter needs a `key`.")
    parts = []
    if item.get("eq") is not None:
        parts.append(column.op("@>", is_comparison=True)(cast({key: item["eq"]}, JSONB)))
    if item.get("in") is not None:
        values = list(item["in"])
        if len(values) > MAX_VALUES:
            raise FilterError(path, f"At most {MAX_VALUES} values.")
        parts.append(or_(false(), *(column.op("@>", is_comparison=True)(cast({key: v}, JSONB)) for v in values)))
    if item.get("is_null") is not None:
        present = column.op("?", is_comparison=True)(key)
        parts.append(not_(present) if item["is_null"] else present)
    return and_(true(), *parts)
