"""One declaration per field: where a field's value comes from, written once.

A row-backed type (a Strawberry type holding its model row in `_row`) declares each
field with one of the functions below. Each returns a Strawberry field whose resolver is
generated from the declaration, and keeps the declaration in the field's metadata
(`SOURCE`). Both read paths derive from it: the normal path runs the generated resolver,
and the single statement (engine/sql/) writes the same value in SQL. The planner
takes a field as SQL only when it is declared here *and* its resolver is still the one
generated here (`declared_source`): a hand-written resolver is always run, in Python,
so no SQL form can bypass it.

- `column("name")`: the row's attribute (enums, timestamps, decimals, lists and JSON are
  written by the field's GraphQL type);
- `money("total")` / `money(lambda row: row.total - row.returned_total)`: `Money` of an
  amount and the row's currency column. The expression is evaluated on the ORM row in
  Python and on the table's columns in SQL: one expression, two evaluations;
- `global_id("Customer")`: the opaque ID of the row's primary key;
- `to_one("User", "owner_id")`: the related row by key, read through the caller's row
  scope (resolvers/scoping.py) on both paths;
- `connection(build)`: a nested list: `build(principal, **arguments)` returns the
  NestedList both paths page through (arguments: the builder's own, then first, after,
  last, before). A type names its builder by dotted name,
  `connection("resolvers.customers:customer_contacts")`: builders live in
  resolvers/<domain>.py, which imports the types, so the type cannot import them. The
  name is resolved the first time it is needed (`Source.build`), and the field's
  arguments are copied from the builder by `bind_builders()` before the schema is built;
- `root_connection(build)` and `root_by_id("Customer")`: root fields of the same kinds.

docs/architecture.md says how to add a field.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import strawberry
from strawberry.types import Info

from kernel.money import round_money
from resolvers.ids import NODE_LOADERS, from_global_id
from schema.permissions import guarded_field

SOURCE = "crm.source"
PAGE_ARGUMENTS = ("first", "after", "last", "before")
Expression = Callable[[Any], Any]  # a row (ORM object, or a table's columns) -> its value
Builder = Callable[..., Any] | str  # a builder, or its dotted name: "resolvers.customers:customer_contacts"


@dataclass(frozen=True, eq=False)
class Source:
    """Where a field's value comes from. `resolver` is the function generated for it."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "resolver", None)


@dataclass(frozen=True, eq=False)
class Column(Source):
    name: str


@dataclass(frozen=True, eq=False)
class MoneyOf(Source):
    amount: str | Expression
    currency: str = "currency"

    def amount_of(self, row: Any) -> Any:
        return self.amount(row) if callable(self.amount) else getattr(row, self.amount)


@dataclass(frozen=True, eq=False)
class GlobalId(Source):
    type_name: str
    column: str = "id"


@dataclass(frozen=True, eq=False)
class ToOne(Source):
    type_name: str
    foreign_key: str


def _resolved(target: Builder) -> Callable[..., Any]:
    if callable(target):
        return target
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True, eq=False)
class _Listed(Source):
    """A list's declaration: `target` is its builder or the builder's dotted name."""

    target: Builder

    @property
    def build(self) -> Callable[..., Any]:
        """The builder itself: the one accessor both paths (and engine/) call it through."""
        found = self.__dict__.get("_build")
        if found is None:
            found = _resolved(self.target)
            object.__setattr__(self, "_build", found)
        return found


@dataclass(frozen=True, eq=False)
class ConnectionOf(_Listed):
    """`build(principal, **arguments) -> NestedList`."""


@dataclass(frozen=True, eq=False)
class RootConnection(_Listed):
    """`build(principal, **arguments) -> (statement, ordering)`."""

    prime: Any = None  # a by-id loader seeded with the page's rows


@dataclass(frozen=True, eq=False)
class RootById(Source):
    type_name: str


@dataclass(frozen=True, eq=False)
class RootNode(Source):
    """`node(id:)`: the type comes from the ID."""


class RowObject:
    """A GraphQL object made from a row (a model's, or a statement's): every field reads
    `_row` through its declaration or a resolver of its own."""

    @classmethod
    def from_row(cls, row: Any) -> Any:
        return cls(_row=row)


def declared_source(strawberry_field: Any) -> Source | None:
    """The field's declaration, if its resolver is still the one generated from it."""
    source = (strawberry_field.metadata or {}).get(SOURCE) if strawberry_field is not None else None
    resolver = strawberry_field.base_resolver if source is not None else None
    if resolver is None or resolver.wrapped_func is not source.resolver:
        return None
    return source


def _field(source: Source, resolver: Callable[..., Any], *, description: str, permissions: list | None,
           **kwargs: Any) -> Any:
    object.__setattr__(source, "resolver", resolver)
    metadata = {SOURCE: source}
    if permissions is not None:
        made = guarded_field(description=description, permissions=permissions, resolver=resolver, metadata=metadata,
                             **kwargs)
    else:
        made = strawberry.field(description=description, resolver=resolver, metadata=metadata, **kwargs)
    object.__setattr__(source, "field", made)
    return made


# --- values of the row ---------------------------------------------------------------------

def column(name: str, *, description: str, permissions: list | None = None) -> Any:
    def resolve(root: Any) -> Any:
        return getattr(root._row, name)
    return _field(Column(name), resolve, description=description, permissions=permissions)


def money(amount: str | Expression, *, description: str, currency: str = "currency",
          permissions: list | None = None) -> Any:
    source = MoneyOf(amount, currency)

    def resolve(root: Any) -> Any:
        from schema.common import Money

        row = root._row
        value = source.amount_of(row)
        return None if value is None else Money(amount=round_money(value), currency=getattr(row, currency))
    return _field(source, resolve, description=description, permissions=permissions)


def global_id(type_name: str, *, description: str = "Opaque global ID; stable across requests.",
              column_name: str = "id") -> Any:
    from resolvers.ids import to_global_id

    def resolve(root: Any) -> strawberry.ID | None:
        pk = getattr(root._row, column_name)
        return None if pk is None else strawberry.ID(to_global_id(type_name, pk))
    return _field(GlobalId(type_name, column_name), resolve, description=description, permissions=None)


# --- relations --------------------------------------------------------------------------------

def node_of(type_name: str, row: Any) -> Any:
    """The GraphQL object of a loaded row (schema/node.py's NODE_TYPES)."""
    from schema.node import NODE_TYPES

    return NODE_TYPES[type_name](row)


async def load_node(info: Info, type_name: str, pk: int | None) -> Any:
    """The object of `type_name` with primary key `pk`, if the caller may read it."""
    if pk is None:
        return None
    row = await info.context.loader(NODE_LOADERS[type_name]).load(pk)
    return None if row is None else node_of(type_name, row)


def to_one(type_name: str, foreign_key: str, *, description: str, permissions: list | None = None) -> Any:
    async def resolve(root: Any, info: Info) -> Any:
        return await load_node(info, type_name, getattr(root._row, foreign_key))
    return _field(ToOne(type_name, foreign_key), resolve, description=description, permissions=permissions)


_UNBOUND: list[tuple[Callable[..., Any], _Listed]] = []  # declared by name, arguments not yet copied


def _no_arguments(principal: Any) -> None:
    """The arguments a list declared by name has until `bind_builders()`: the page's only."""


def _bind(resolve: Callable[..., Any], source: _Listed) -> None:
    if callable(source.target):
        _with_signature(resolve, source.build)
    else:
        _with_signature(resolve, _no_arguments)
        _UNBOUND.append((resolve, source))


def bind_builders() -> None:
    """Gives each list declared by a builder's name the builder's arguments. Strawberry
    takes a field's arguments from its resolver when the field is declared, before the
    builder's module can be imported: the field is given its resolver again, with the
    builder's signature. build_schema calls this before the schema is built."""
    while _UNBOUND:
        resolve, source = _UNBOUND.pop(0)
        _with_signature(resolve, source.build)
        source.field.arguments = None  # taken again from the new resolver
        source.field(resolve)


def _with_signature(resolve: Callable[..., Any], build: Callable[..., Any]) -> Callable[..., Any]:
    """Gives a generated resolver the builder's arguments (all but the principal), then
    the page arguments: Strawberry reads a field's arguments off its resolver's signature."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    parameters = [inspect.Parameter("root", inspect.Parameter.POSITIONAL_OR_KEYWORD),
                  inspect.Parameter("info", keyword, annotation=Info)]
    parameters += [p.replace(kind=keyword) for p in list(inspect.signature(build).parameters.values())[1:]]
    parameters += [inspect.Parameter(name, keyword, default=None, annotation=int | None if name in ("first", "last")
                                     else str | None) for name in PAGE_ARGUMENTS]
    resolve.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    resolve.__annotations__ = {p.name: p.annotation for p in parameters if p.annotation is not inspect.Parameter.empty}
    # The builder's string annotations resolve in its own module.
    resolve.__module__ = build.__module__
    return resolve


def node_class(source: Source) -> Any:
    """The type of the nodes of the connection a declared field returns, read off the
    field's own annotation (`Connection[OrderType]`) the first time it is needed."""
    found = getattr(source, "node_class", None)
    if found is None:
        connection_type = source.field.type
        edges = next(f for f in connection_type.__strawberry_definition__.fields if f.python_name == "edges")
        edge_type = edges.type.of_type
        node = next(f for f in edge_type.__strawberry_definition__.fields if f.python_name == "node").type
        found = node.resolve_type() if hasattr(node, "resolve_type") else node
        object.__setattr__(source, "node_class", found)
    return found


def connection(build: Builder, *, description: str, permissions: list | None = None) -> Any:
    source = ConnectionOf(build)

    async def resolve(root: Any, info: Info, first: int | None = None, after: str | None = None,
                      last: int | None = None, before: str | None = None, **arguments: Any) -> Any:
        from schema.common import nested_connection

        relation = source.build(info.context.principal, **arguments)
        return await nested_connection(info, relation, root._row.id, node_class(source).from_row,
                                       first=first, after=after, last=last, before=before)
    _bind(resolve, source)
    return _field(source, resolve, description=description, permissions=permissions)


def root_connection(build: Builder, *, description: str, permissions: list, prime: Any = None) -> Any:
    source = RootConnection(build, prime)

    async def resolve(root: Any, info: Info, first: int | None = None, after: str | None = None,
                      last: int | None = None, before: str | None = None, **arguments: Any) -> Any:
        from schema.common import list_connection

        statement, ordering = source.build(info.context.principal, **arguments)
        return await list_connection(info, statement, ordering, node_class(source).from_row, prime=prime,
                                     first=first, after=after, last=last, before=before)
    _bind(resolve, source)
    return _field(source, resolve, description=description, permissions=permissions)


def root_by_id(type_name: str, *, description: str, permissions: list) -> Any:
    async def resolve(root: Any, info: Info, id: strawberry.ID) -> Any:
        _, pk = from_global_id(id, expected_type=type_name)
        return await load_node(info, type_name, pk)
    return _field(RootById(type_name), resolve, description=description, permissions=permissions)


def root_node(*, description: str, permissions: list) -> Any:
    async def resolve(root: Any, info: Info, id: strawberry.ID) -> Any:
        from schema.node import NODE_TYPES

        type_name, pk = from_global_id(id)
        row = await info.context.loader(NODE_LOADERS[type_name]).load(pk)
        if row is None:
            return None
        node = NODE_TYPES[type_name]
        # Most types wrap the row; some (a membership's view) need the request to build.
        return await node(info, row) if inspect.iscoroutinefunction(node) else node(row)
    return _field(RootNode(), resolve, description=description, permissions=permissions)
