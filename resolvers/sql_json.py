"""The hot read screens in one SQL statement: PostgreSQL builds the answer as JSON.

A query of plain fields and keyset-paginated connections over tables (a customer list
with each customer's latest orders, a customer's detail page) is turned into ONE
statement: each page is a `LIMIT n + 1` subquery, each nested page a subquery
correlated to its parent's row, each node a `json_build_object` of the selected fields
written exactly as the GraphQL scalars and enums would write them. Python then only
wraps the pages in their connection envelopes (edges, cursors, pageInfo). This is what
PostGraphile does; it removes the executor, the ORM and per-value serialisation from
the request (docs/performance.md).

The rows, filters, scoping and orderings are not restated here: every root field and
nested list registers the same builder its resolver uses (`register_root`,
`register_type` in each domain's schema module), so both paths read the same rows.
What a type can answer is declared per field: a column (encoded by the field's GraphQL
type: enum names, ISO timestamps, decimal strings, ...), a global ID, or Money.

A query is planned here only if every selected field is declared; otherwise the
compiled plan (resolvers/compiled.py) or the normal path answers it. Permission classes
are role checks (schema/permissions.py) and are checked before the statement runs; a
refused caller, an argument a builder rejects or a cursor that does not decode gives
the request back to the normal path, which answers with its errors. Reads only.

tests/test_compiled.py compares the answers with the normal path's.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    FieldNode,
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
)
from graphql.execution.values import get_argument_values
from sqlalchemy import Column, Date, String, Table, Text, case, cast, func, literal, literal_column, null, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.sql.elements import ColumnElement
from strawberry.permission import PermissionExtension
from strawberry.types.arguments import convert_arguments

from crm.pagination import (
    Ordering, PageRequest, PaginationError, bounded_statement, encode_cursor_values, page_from_rows, page_request,
)

BACKREF = "strawberry-definition"
PAGE_ARGUMENTS = ("first", "after", "last", "before")
DIALECT = postgresql.dialect()
BUILT_PER_LIST = 256  # callers whose SQL of one static list is kept


class Unsupported(Exception):
    """The query has something this path does not answer."""


class Refused(Exception):
    """This request cannot be answered here (arguments, permissions); the normal path will."""


# --- what the domains declare ------------------------------------------------------------

Expression = Callable[[Any], ColumnElement[Any]]  # (the row's columns) -> SQL


@dataclass(frozen=True)
class GlobalId:
    """An `ID` made of the type name and the primary key (resolvers/node.py)."""

    type_name: str
    column: str = "id"


@dataclass(frozen=True)
class MoneyOf:
    """A `Money` object from an amount (a column, or an expression of the row's columns)
    and a currency column."""

    amount: str | Expression
    currency: str = "currency"


@dataclass
class TableType:
    """How a GraphQL object type reads from its table's rows."""

    table: Table
    fields: dict[str, str | GlobalId | MoneyOf]
    # Nested connections: field name -> builder(principal, **arguments) -> NestedList,
    # the same builder the field's resolver uses.
    connections: dict[str, Callable[..., Any]] = field(default_factory=dict)


@dataclass
class Root:
    """A root field: `kind` "connection" (builder -> (statement, ordering)) or "node"
    (builder -> statement of at most one row)."""

    kind: str
    build: Callable[..., Any]


TABLE_TYPES: dict[str, TableType] = {}
ROOTS: dict[str, Root] = {}


def register_type(type_name: str, model: Any, fields: dict[str, str | GlobalId | MoneyOf],
                  connections: dict[str, Callable[..., Any]] | None = None) -> None:
    TABLE_TYPES[type_name] = TableType(model.__table__, fields, connections or {})


def register_root(field_name: str, kind: str, build: Callable[..., Any]) -> None:
    ROOTS[field_name] = Root(kind, build)


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
    """base64("Type:pk"), as resolvers.node.to_global_id (short enough for one line of
    PostgreSQL's base64, which breaks lines at 76 characters)."""
    return func.encode(func.convert_to(literal(f"{type_name}") + literal_column("':'") + cast(column, Text), "UTF8"),
                       "base64")


def _leaf(graphql_type: Any, column: ColumnElement[Any]) -> ColumnElement[Any]:
    if isinstance(graphql_type, GraphQLEnumType):
        # Stored value -> enum name, from the schema's own enum.
        whens = [(column == getattr(value.value, "value", value.value), name) for name, value in graphql_type.values.items()]
        return case(*whens, else_=null())
    if isinstance(graphql_type, GraphQLList):
        item = _unwrap(graphql_type.of_type)
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


def _sql(expression: ColumnElement[Any]) -> str:
    """SQL text of an expression made of our own constants and a row's columns (no
    client input: enum values, format strings, type names), rendered once per plan."""
    return str(expression.compile(dialect=DIALECT, compile_kwargs={"literal_binds": True}))


def _quoted(name: str) -> str:
    # Response keys are GraphQL names ([_A-Za-z][_0-9A-Za-z]*), so always safe to quote.
    return "'" + name.replace("'", "''") + "'"


# --- plans -------------------------------------------------------------------------------

@dataclass
class NodePlan:
    """A node's JSON over the row of a page subquery named `alias`: static SQL text for
    its plain fields, and the nested connections, in the selection's order."""

    type_name: str
    table: Table | None
    alias: str
    parts: list[str | tuple[str, ConnectionPlan]]
    columns: list[str]


@dataclass
class ConnectionPlan:
    """One connection field: its arguments, the builder, and what of it is selected."""

    node: FieldNode
    definition: Any
    strawberry_field: Any
    build: Callable[..., Any]
    item: NodePlan
    # [(key, "edges", [(key, "node"|"cursor"|"__typename")]), (key, "pageInfo", [(key, name)]), (key, "typename", name)]
    selection: list[tuple[str, str, Any]]
    edge_type: str
    wants_cursors: bool
    # Arguments without variables, here and in every list below: the SQL of this list
    # is then the same for every request of one caller, and is kept per caller.
    static: bool = False
    built: OrderedDict = field(default_factory=OrderedDict)


@dataclass
class RootPlan:
    key: str
    kind: str  # "connection" | "node"
    roles: tuple[Any, ...] | None
    node: FieldNode
    definition: Any
    strawberry_field: Any
    build: Callable[..., Any]
    connection: ConnectionPlan | None = None
    item: NodePlan | None = None


@dataclass
class SqlPlan:
    roots: list[RootPlan]
    # Role checks of nested fields (e.g. contacts are staff only): tuples of allowed roles.
    nested_roles: list[tuple[Any, ...]]


def _roles(strawberry_field: Any) -> tuple[Any, ...] | None:
    """The roles a field allows (None: no permission class); Unsupported for anything
    but role checks."""
    for extension in strawberry_field.extensions:
        if not isinstance(extension, PermissionExtension):
            raise Unsupported("field extension")
    if not strawberry_field.permission_classes:
        return None
    allowed: set[Any] | None = None
    for permission in strawberry_field.permission_classes:
        roles = getattr(permission, "roles", None)
        if not roles:
            raise Unsupported("permission that is not a role check")
        allowed = set(roles) if allowed is None else allowed & set(roles)
    return tuple(allowed or ())


def _unwrap(graphql_type: Any) -> Any:
    return graphql_type.of_type if isinstance(graphql_type, GraphQLNonNull) else graphql_type


def _fields(selection_set: Any) -> list[FieldNode]:
    if selection_set is None:
        raise Unsupported("no selection")
    nodes = selection_set.selections
    if any(not isinstance(n, FieldNode) or n.directives for n in nodes):
        raise Unsupported("fragment or directive")
    keys = [(n.alias or n.name).value for n in nodes]
    if len(set(keys)) != len(keys):
        raise Unsupported("a response key asked twice")
    return list(nodes)


class SqlCompiler:
    def __init__(self, schema: Any) -> None:
        self.schema = schema
        self.strawberry_schema = schema.extensions.get(BACKREF) if schema.extensions else None

    def compile(self, operation: Any) -> SqlPlan:
        if self.strawberry_schema is None:
            raise Unsupported("not a strawberry schema")
        self._aliases = 0
        nested_roles: list[tuple[Any, ...]] = []
        roots = []
        for node in _fields(operation.selection_set):
            name = node.name.value
            root = ROOTS.get(name)
            if root is None:
                raise Unsupported(f"root field {name}")
            definition = self.schema.query_type.fields[name]
            strawberry_field = definition.extensions[BACKREF]
            plan = RootPlan((node.alias or node.name).value, root.kind, _roles(strawberry_field), node, definition,
                            strawberry_field, root.build)
            target = _unwrap(definition.type)
            if root.kind == "connection":
                plan.connection = self._connection(target, node, definition, strawberry_field, root.build, nested_roles)
            else:
                plan.item = self._node(target, node, nested_roles)
            roots.append(plan)
        return SqlPlan(roots, nested_roles)

    def _node(self, object_type: GraphQLObjectType, node: FieldNode, nested_roles: list) -> NodePlan:
        table_type = TABLE_TYPES.get(object_type.name)
        if table_type is None:
            raise Unsupported(f"type {object_type.name}")
        self._aliases += 1
        alias_name = f"p{self._aliases}"
        row = table_type.table.alias(alias_name).c
        parts: list[str | tuple[str, ConnectionPlan]] = []
        used: set[str] = {"id"}  # nested lists correlate on it
        for child in _fields(node.selection_set):
            key, name = (child.alias or child.name).value, child.name.value
            if name == "__typename":
                parts.append(f"{_quoted(key)}, {_quoted(object_type.name)}")
                continue
            definition = object_type.fields.get(name)
            if definition is None:
                raise Unsupported(f"field {name}")
            strawberry_field = definition.extensions[BACKREF]
            roles = _roles(strawberry_field)
            if roles is not None:
                nested_roles.append(roles)
            if name in table_type.connections:
                connection = self._connection(_unwrap(definition.type), child, definition, strawberry_field,
                                              table_type.connections[name], nested_roles)
                parts.append((key, connection))
                continue
            source = table_type.fields.get(name)
            if source is None or child.arguments:
                raise Unsupported(f"field {object_type.name}.{name}")
            field_type = _unwrap(definition.type)
            if isinstance(source, MoneyOf):
                amount = source.amount(row) if callable(source.amount) else row[source.amount]
                pieces: list[Any] = []
                for part in _fields(child.selection_set):
                    part_name = part.name.value
                    value = {"amount": lambda: cast(func.round(amount, 2), Text), "currency": lambda: row[source.currency],
                             "__typename": lambda: literal(field_type.name)}.get(part_name)
                    if value is None:
                        raise Unsupported("money field")
                    pieces += [literal((part.alias or part.name).value), value()]
                expression = case((amount.is_(None), null()), else_=func.json_build_object(*pieces))
            elif isinstance(source, GlobalId):
                expression = global_id(source.type_name, row[source.column])
            else:
                if child.selection_set is not None:
                    raise Unsupported("object field")
                expression = _leaf(field_type, row[source])
            parts.append(f"{_quoted(key)}, {_sql(expression)}")
            used.update(column.key for column in _columns_of(expression, alias_name))
        columns = [column.key for column in table_type.table.columns if column.key in used]
        return NodePlan(object_type.name, table_type.table, alias_name, parts, columns)

    def _connection(self, connection_type: GraphQLObjectType, node: FieldNode, definition: Any, strawberry_field: Any,
                    build: Callable[..., Any], nested_roles: list) -> ConnectionPlan:
        selection: list[tuple[str, str, Any]] = []
        item: NodePlan | None = None
        wants_cursors = False
        edge_type = ""
        for child in _fields(node.selection_set):
            key, name = (child.alias or child.name).value, child.name.value
            if name == "__typename":
                selection.append((key, "typename", connection_type.name))
            elif name == "edges":
                edge_object = _unwrap(_unwrap(connection_type.fields["edges"].type).of_type)
                edge_type = edge_object.name
                edge_selection = []
                for edge_child in _fields(child.selection_set):
                    edge_key, edge_name = (edge_child.alias or edge_child.name).value, edge_child.name.value
                    if edge_name == "node":
                        item = self._node(_unwrap(edge_object.fields["node"].type), edge_child, nested_roles)
                    elif edge_name == "cursor":
                        wants_cursors = True
                    elif edge_name != "__typename":
                        raise Unsupported(f"edge field {edge_name}")
                    edge_selection.append((edge_key, edge_name))
                selection.append((key, "edges", edge_selection))
            elif name == "pageInfo":
                info_selection = []
                for info_child in _fields(child.selection_set):
                    info_name = info_child.name.value
                    if info_name not in ("hasNextPage", "hasPreviousPage", "startCursor", "endCursor", "__typename"):
                        raise Unsupported(f"pageInfo field {info_name}")
                    wants_cursors = wants_cursors or info_name in ("startCursor", "endCursor")
                    info_selection.append(((info_child.alias or info_child.name).value, info_name))
                selection.append((key, "pageInfo", info_selection))
            else:
                raise Unsupported(f"connection field {name}")  # totalCount: the normal paths count
        if item is None:  # no node selected: the rows still tell the cursors and pageInfo
            self._aliases += 1
            item = NodePlan("", None, f"p{self._aliases}", [], ["id"])
        static = not any(_has_variable(argument.value) for argument in node.arguments or ()) and all(
            part[1].static for part in item.parts if not isinstance(part, str))
        return ConnectionPlan(node, definition, strawberry_field, build, item, selection, edge_type, wants_cursors, static)


def _has_variable(value: Any) -> bool:
    from graphql import VariableNode

    if isinstance(value, VariableNode):
        return True
    children = getattr(value, "values", None) or getattr(value, "fields", None) or ()
    return any(_has_variable(getattr(child, "value", child)) for child in children)


def _columns_of(expression: ColumnElement[Any], alias_name: str) -> list[Any]:
    from sqlalchemy.sql import visitors

    return [element for element in visitors.iterate(expression)
            if isinstance(element, Column) and getattr(element.table, "name", None) == alias_name]


# --- running -------------------------------------------------------------------------------

class _Request:
    """One request's arguments, builders' results and pages, per connection plan."""

    def __init__(self, compiler: SqlCompiler, principal: Any, variables: dict[str, Any]) -> None:
        self.compiler = compiler
        self.principal = principal
        # What a builder may read of the caller (resolvers/scoping.py): the key of what
        # is kept per caller.
        self.caller = (principal.subject, principal.role, principal.account_id, principal.user_id)
        self.variables = variables
        self.pages: dict[int, tuple[Ordering, PageRequest]] = {}

    def arguments(self, node: FieldNode, definition: Any, strawberry_field: Any) -> dict[str, Any]:
        raw = get_argument_values(definition, node, self.variables)
        schema = self.compiler.strawberry_schema
        return convert_arguments(raw, strawberry_field.arguments, scalar_registry=schema.schema_converter.scalar_registry,
                                 config=schema.config)

    def page(self, plan: ConnectionPlan, arguments: dict[str, Any], ordering: Ordering) -> PageRequest:
        try:
            request = page_request(ordering, **{name: arguments.get(name) for name in PAGE_ARGUMENTS})
        except PaginationError as error:
            raise Refused(error.message) from None
        self.pages[id(plan)] = (ordering, request)
        return request


def _split(arguments: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in arguments.items() if name not in PAGE_ARGUMENTS}


def _node_json(plan: NodePlan, run: _Request) -> ColumnElement[Any]:
    """The node's JSON object over its page subquery's row."""
    arguments: list[Any] = []
    for part in plan.parts:
        if isinstance(part, str):
            arguments.append(literal_column(part))
        else:
            key, connection = part
            arguments += [literal_column(_quoted(key)), _nested_json(connection, plan.alias, run)]
    if len(arguments) > 50:  # json_build_object takes at most 100 arguments (50 pairs)
        raise Refused("too many fields for one object")
    return func.json_build_object(*arguments)


def _rows(plan: NodePlan, statement: Any) -> Any:
    """Only the columns the node reads (the builder's statement selects the entity)."""
    columns = [plan.table.c[name] for name in plan.columns] if plan.table is not None else \
        [statement.selected_columns[name] for name in plan.columns]
    return statement.with_only_columns(*columns, maintain_column_froms=True)


def _page_json(plan: ConnectionPlan, statement: Any, ordering: Ordering, request: PageRequest, run: _Request,
               parent: tuple[ColumnElement[Any], str] | None = None) -> ColumnElement[Any]:
    """[[node, cursor values]...] of one page (size + 1 rows, so more can be told)."""
    bounded, order_by = bounded_statement(statement, ordering, request)
    if parent is not None:
        parent_column, outer = parent
        bounded = bounded.where(parent_column == literal_column(f"{outer}.id"))
    alias = plan.item.alias
    keys = [key.column.label(f"_k{i}") for i, key in enumerate(ordering.keys)] if plan.wants_cursors else []
    page = (_rows(plan.item, bounded).add_columns(*keys, func.row_number().over(order_by=order_by).label("_rank"))
            .order_by(*order_by).limit(request.size + 1).subquery(alias))
    row = [_node_json(plan.item, run)]
    if plan.wants_cursors:
        row.append(func.json_build_array(*(cursor_value(key, literal_column(f"{alias}._k{i}"))
                                           for i, key in enumerate(ordering.keys))))
    aggregate = func.json_agg(aggregate_order_by(func.json_build_array(*row), literal_column(f"{alias}._rank")))
    return select(func.coalesce(aggregate, literal_column("'[]'::json"))).select_from(page).scalar_subquery()


def _nested_json(plan: ConnectionPlan, parent_alias: str, run: _Request) -> ColumnElement[Any]:
    if plan.static:
        cached = plan.built.get(run.caller)
        if cached is not None:
            plan.built.move_to_end(run.caller)
            subquery, pages = cached
            run.pages.update(pages)
            return subquery
    before = dict(run.pages)
    arguments = run.arguments(plan.node, plan.definition, plan.strawberry_field)
    try:
        relation = plan.build(run.principal, **_split(arguments))
    except Exception as error:  # the builder refused an argument: the normal path reports it
        raise Refused(repr(error)) from error
    request = run.page(plan, arguments, relation.ordering)
    subquery = _page_json(plan, relation.statement, relation.ordering, request, run, parent=(relation.parent, parent_alias))
    if plan.static:
        plan.built[run.caller] = (subquery, {k: v for k, v in run.pages.items() if k not in before})
        if len(plan.built) > BUILT_PER_LIST:
            plan.built.popitem(last=False)
    return subquery


def statement_of(plan: SqlPlan, principal: Any, variables: dict[str, Any], compiler: SqlCompiler) -> tuple[Any, _Request]:
    """The one statement answering the query, and the request state to read it back."""
    run = _Request(compiler, principal, variables)
    parts: list[Any] = []
    for root in plan.roots:
        arguments = run.arguments(root.node, root.definition, root.strawberry_field)
        try:
            built = root.build(principal, **_split(arguments))
        except Exception as error:
            raise Refused(repr(error)) from error
        if root.kind == "connection":
            statement, ordering = built
            request = run.page(root.connection, arguments, ordering)
            value = _page_json(root.connection, statement, ordering, request, run)
        else:
            row = _rows(root.item, built).limit(1).subquery(root.item.alias)
            value = select(_node_json(root.item, run)).select_from(row).scalar_subquery()
        parts += [literal_column(_quoted(root.key)), value]
    return select(cast(func.json_build_object(*parts), Text)), run


# --- the envelopes, in Python ----------------------------------------------------------------

def answer(plan: SqlPlan, text: str, run: _Request) -> dict[str, Any]:
    """The `data` of the answer from the statement's JSON."""
    data = json.loads(text)
    for root in plan.roots:
        if root.kind == "connection":
            data[root.key] = _envelope(root.connection, data[root.key], run)
        elif data[root.key] is not None:
            _nodes(root.item, [data[root.key]], run)
    return data


def _nodes(plan: NodePlan, nodes: list[dict[str, Any]], run: _Request) -> None:
    for part in plan.parts:
        if not isinstance(part, str):
            key, connection = part
            for node in nodes:
                node[key] = _envelope(connection, node[key], run)


def _envelope(plan: ConnectionPlan, rows: list[list[Any]], run: _Request) -> dict[str, Any]:
    ordering, request = run.pages[id(plan)]
    page = page_from_rows(rows, ordering, request)
    nodes = [row[0] for row in page.rows]
    _nodes(plan.item, nodes, run)

    def cursor(row: list[Any]) -> str:
        return encode_cursor_values(ordering, row[1])

    out: dict[str, Any] = {}
    for key, kind, selection in plan.selection:
        if kind == "typename":
            out[key] = selection
        elif kind == "edges":
            edges = []
            for row in page.rows:
                edge: dict[str, Any] = {}
                for edge_key, edge_name in selection:
                    edge[edge_key] = row[0] if edge_name == "node" else cursor(row) if edge_name == "cursor" else plan.edge_type
                edges.append(edge)
            out[key] = edges
        else:
            info: dict[str, Any] = {}
            for info_key, info_name in selection:
                if info_name == "hasNextPage":
                    info[info_key] = page.has_next_page
                elif info_name == "hasPreviousPage":
                    info[info_key] = page.has_previous_page
                elif info_name == "startCursor":
                    info[info_key] = cursor(page.rows[0]) if page.rows else None
                elif info_name == "endCursor":
                    info[info_key] = cursor(page.rows[-1]) if page.rows else None
                else:
                    info[info_key] = "PageInfo"
            out[key] = info
    return out
