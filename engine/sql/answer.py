"""The answer: the statement's JSON text with its cursors encoded and its Python fields
resolved."""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from collections import defaultdict
from collections.abc import Callable
from typing import Any


from kernel.pagination import encode_cursor_values
from engine import internals
from engine.sql.plan import PythonField, SqlPlan
from resolvers.node import NODE_LOADERS
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
        ordered = sorted(pks)
        rows = await context.loader(NODE_LOADERS[type_name]).load_many(ordered)
        for pk, row in zip(ordered, rows, strict=True):
            if row is None:  # out of the caller's scope after all: let the normal path decide
                raise PythonFieldFailed(f"{type_name} {pk} not loaded")
            sources[(type_name, pk)] = node_of(type_name, row)
    items = [(plan.python[index], sources[(plan.python[index].type_name, pk)] if pk is not None else None)
             for index, pk in wanted]
    values = await resolve(items)
    written = {f"{index}:{'' if pk is None else pk}": json.dumps(value, ensure_ascii=False)
               for (index, pk), value in zip(wanted, values, strict=True)}
    return RawJSON(PYTHON_FIELD.sub(lambda match: written[f"{match.group(1)}:{match.group(2)}"], text))


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
