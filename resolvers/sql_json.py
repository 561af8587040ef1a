"""The hot read screens in one SQL statement: PostgreSQL builds the answer as JSON.

A query of plain fields and keyset-paginated connections over tables (a customer list
with each customer's latest orders, a customer's detail page) is turned into ONE
statement: each page is a `LIMIT n + 1` subquery, each nested page a subquery
correlated to its parent's row, each node a `json_build_object` of the selected fields
written exactly as the GraphQL scalars and enums would write them, each connection's
edges and pageInfo built around its page. Python only encodes the cursors (marked in the
text, see `CURSOR`) and writes PostgreSQL's JSON text into the response. This is what
PostGraphile does; it removes the executor, the ORM and per-value serialisation from
the request (docs/performance.md). What does not change between requests is compiled
to SQL text once (`sql_of`).

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
import re
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
from sqlalchemy import JSON, Column, Date, String, Table, Text, case, cast, func, literal, literal_column, null, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.dialects.postgresql import aggregate_order_by, array_agg
from sqlalchemy.sql.elements import ColumnElement
from strawberry.permission import PermissionExtension
from strawberry.types.arguments import convert_arguments

from crm.pagination import (
    Ordering, PageRequest, PaginationError, bounded_statement, count_statement, encode_cursor_values, page_request,
)
from resolvers.scoping import row_scope

BACKREF = "strawberry-definition"
PAGE_ARGUMENTS = ("first", "after", "last", "before")
DIALECT = postgresql.dialect()
ASYNCPG = asyncpg_dialect()
BUILT_PER_LIST = 128  # callers whose SQL of one static list is kept


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
    # To-one relations whose resolver loads the row by id (scoped by resolvers/scoping.py): field name ->
    # (GraphQL type, foreign key column).
    relations: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass
class Root:
    """A root field: `kind` "connection" (builder -> (statement, ordering)) or "node"
    (builder -> statement of at most one row)."""

    kind: str
    build: Callable[..., Any]


TABLE_TYPES: dict[str, TableType] = {}
ROOTS: dict[str, Root] = {}


def register_type(type_name: str, model: Any, fields: dict[str, str | GlobalId | MoneyOf],
                  connections: dict[str, Callable[..., Any]] | None = None,
                  relations: dict[str, tuple[str, str]] | None = None) -> None:
    TABLE_TYPES[type_name] = TableType(model.__table__, fields, connections or {}, relations or {})


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
    parts: list[str | RelationPart | tuple[str, ConnectionPlan]]
    columns: list[str]


@dataclass
class RelationPart:
    """`'key', (SELECT <its JSON> FROM <table> AS pN WHERE pN.id = <outer>.<foreign key>
    AND <the caller's row scope>)`: NULL when the key is NULL or the row is out of the
    caller's scope, as the resolver's load by id (resolvers/loaders.ByIdLoader) answers.
    The scope is resolvers/scoping.row_scope, the same declaration the loader reads; its
    SQL depends on the caller, so it is rendered per caller and kept."""

    key: str
    item: NodePlan
    foreign_key: str
    outer: str
    rendered: OrderedDict = field(default_factory=OrderedDict)

    def sql(self, principal: Any) -> str:
        caller = (principal.role, principal.account_id, principal.user_id) if principal is not None else None
        cached = self.rendered.get(caller)
        if cached is not None:
            return cached
        pairs = ", ".join(_part_sql(part, principal) for part in self.item.parts)
        alias = self.item.table.alias(self.item.alias)
        statement = select(literal_column(f"json_build_object({pairs})")).select_from(alias).where(
            alias.c.id == literal_column(f"{self.outer}.{DIALECT.identifier_preparer.quote(self.foreign_key)}"),
            row_scope(self.item.type_name, principal, alias.c))
        rendered = self.rendered[caller] = f"{_quoted(self.key)}, ({_sql(statement)})"
        if len(self.rendered) > BUILT_PER_LIST:
            self.rendered.popitem(last=False)
        return rendered


def _part_sql(part: str | RelationPart, principal: Any) -> str:
    return part.sql(principal) if isinstance(part, RelationPart) else part


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
    # Whether edges or pageInfo are asked for (else no page is read, as on the normal
    # path), and totalCount.
    needs_page: bool = True
    counts: bool = False


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
    wants_cursors: bool = False
    # No variables in the arguments of any nested list: all but the roots' rows is
    # compiled once per caller (`sql_of`).
    static_below: bool = False
    templates: OrderedDict = field(default_factory=OrderedDict)


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
        self.rows = _RowsCache()

    def compile(self, operation: Any) -> SqlPlan:
        if self.strawberry_schema is None:
            raise Unsupported("not a strawberry schema")
        self._aliases = 0
        self._wants_cursors = False
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
        nested = [part[1] for root in roots for part in (root.connection.item if root.connection else root.item).parts
                  if isinstance(part, tuple)]
        return SqlPlan(roots, nested_roles, self._wants_cursors, all(connection.static for connection in nested))

    def _node(self, object_type: GraphQLObjectType, node: FieldNode, nested_roles: list) -> NodePlan:
        table_type = TABLE_TYPES.get(object_type.name)
        if table_type is None:
            raise Unsupported(f"type {object_type.name}")
        self._aliases += 1
        alias_name = f"p{self._aliases}"
        row = table_type.table.alias(alias_name).c
        parts: list[str | RelationPart | tuple[str, ConnectionPlan]] = []
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
            if name in table_type.relations:
                parts.append(self._relation(_unwrap(definition.type), child, table_type.relations[name], key,
                                            alias_name, nested_roles))
                used.add(table_type.relations[name][1])
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
        if len(parts) > 50:  # json_build_object takes at most 100 arguments
            raise Unsupported("more than 50 fields in one object")
        columns = [column.key for column in table_type.table.columns if column.key in used]
        return NodePlan(object_type.name, table_type.table, alias_name, parts, columns)

    def _relation(self, object_type: Any, node: FieldNode, relation: tuple[str, str], key: str, outer: str,
                  nested_roles: list) -> RelationPart:
        """A to-one relation as a correlated subquery, scoped for the caller as the
        resolver's load by id is (`RelationPart`)."""
        target, foreign_key = relation
        if getattr(object_type, "name", None) != target or node.arguments:
            raise Unsupported(f"relation to {target}")
        item = self._node(object_type, node, nested_roles)
        if any(isinstance(part, tuple) for part in item.parts):
            raise Unsupported("a list below a relation")
        return RelationPart(key, item, foreign_key, outer)

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
            elif name == "totalCount":
                selection.append((key, "count", None))
            else:
                raise Unsupported(f"connection field {name}")
        if item is None:  # no node selected: the rows still tell the cursors and pageInfo
            self._aliases += 1
            item = NodePlan("", None, f"p{self._aliases}", [], ["id"])
        self._wants_cursors = self._wants_cursors or wants_cursors
        static = not any(_has_variable(argument.value) for argument in node.arguments or ()) and all(
            part[1].static for part in item.parts if isinstance(part, tuple))
        kinds = {kind for _, kind, _ in selection}
        return ConnectionPlan(node, definition, strawberry_field, build, item, selection, edge_type, wants_cursors, static,
                              needs_page=bool(kinds & {"edges", "pageInfo"}), counts="count" in kinds)


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
    """One request: the caller, its variables, and the arguments of a field converted as
    Strawberry converts them for the field's resolver."""

    def __init__(self, compiler: SqlCompiler, principal: Any, variables: dict[str, Any]) -> None:
        self.compiler = compiler
        self.principal = principal
        # What a builder may read of the caller (resolvers/scoping.py): the key of what
        # is kept per caller.
        self.caller = (principal.subject, principal.role, principal.account_id, principal.user_id)
        self.variables = variables

    def arguments(self, node: FieldNode, definition: Any, strawberry_field: Any) -> dict[str, Any]:
        raw = get_argument_values(definition, node, self.variables)
        schema = self.compiler.strawberry_schema
        return convert_arguments(raw, strawberry_field.arguments, scalar_registry=schema.schema_converter.scalar_registry,
                                 config=schema.config)

    def page(self, arguments: dict[str, Any], ordering: Ordering) -> PageRequest:
        try:
            return page_request(ordering, **{name: arguments.get(name) for name in PAGE_ARGUMENTS})
        except PaginationError as error:
            raise Refused(error.message) from None


def _split(arguments: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in arguments.items() if name not in PAGE_ARGUMENTS}


def _node_json(plan: NodePlan, run: _Request) -> ColumnElement[Any]:
    """The node's JSON object over its page subquery's row."""
    arguments: list[Any] = []
    for part in plan.parts:
        if not isinstance(part, tuple):
            arguments.append(literal_column(_part_sql(part, run.principal)))
        else:
            key, connection = part
            arguments += [literal_column(_quoted(key)), _nested_json(connection, plan.alias, run)]
    return func.json_build_object(*arguments)


def _rows(plan: NodePlan, statement: Any) -> Any:
    """Only the columns the node reads (the builder's statement selects the entity)."""
    columns = [plan.table.c[name] for name in plan.columns] if plan.table is not None else \
        [statement.selected_columns[name] for name in plan.columns]
    return statement.with_only_columns(*columns, maintain_column_froms=True)


def _cursor_json(ordering: Ordering, alias: str) -> ColumnElement[Any]:
    """A cursor to be encoded in Python (crm.pagination writes cursors, and only Python's
    json.dumps writes them alike): a JSON string holding NUL and then the ordering's name
    and the row's sort-key values as JSON. PostgreSQL text never holds NUL, so no value
    can look like one (see `CURSOR`)."""
    values = [literal(ordering.name)] + [cursor_value(key, literal_column(f"{alias}._k{i}"))
                                         for i, key in enumerate(ordering.keys)]
    as_string = cast(func.to_json(cast(func.json_build_array(*values), Text)), Text)
    return cast(literal_column("'\"\\u0000'", Text) + func.substr(as_string, 2), JSON)


def _first(value: ColumnElement[Any], order: Any, condition: ColumnElement[bool]) -> ColumnElement[Any]:
    """The first `value` in `order` among the rows meeting `condition` (NULL if none)."""
    return array_agg(aggregate_order_by(value, order)).filter(condition)[1]


def _page_rows(plan: ConnectionPlan, statement: Any, ordering: Ordering, request: PageRequest,
               parent: tuple[ColumnElement[Any], str] | None = None) -> Any:
    """The SELECT of one page: size + 1 rows, their sort keys and rank."""
    bounded, order_by = bounded_statement(statement, ordering, request)
    if parent is not None:
        parent_column, outer = parent
        bounded = bounded.where(parent_column == literal_column(f"{outer}.id"))
    keys = [key.column.label(f"_k{i}") for i, key in enumerate(ordering.keys)] if plan.wants_cursors else []
    return (_rows(plan.item, bounded).add_columns(*keys, func.row_number().over(order_by=order_by).label("_rank"))
            .order_by(*order_by).limit(request.size + 1))


def _page_json(plan: ConnectionPlan, page: Any, ordering: Ordering, request: PageRequest, run: _Request,
               count: ColumnElement[Any] | None = None) -> ColumnElement[Any]:
    """The connection's JSON (edges, pageInfo, totalCount) from its page subquery
    (`_page_rows`, named after the node's alias; None when neither edges nor pageInfo is
    asked for) and its count, as crm.pagination.page_from_rows and
    schema.pagination.Connection make it."""
    alias = plan.item.alias
    rank = literal_column(f"{alias}._rank")
    on_page = rank <= request.size
    # A backward page is fetched nearest-first and shown in list order.
    shown = rank if request.forward else rank.desc()
    more = func.count() > request.size
    cursor = _cursor_json(ordering, alias) if plan.wants_cursors else None
    pieces: list[Any] = []
    for key, kind, selection in plan.selection:
        if kind == "typename":
            value: Any = literal(selection)
        elif kind == "count":
            value = count
        elif kind == "edges":
            edge: list[Any] = []
            for edge_key, edge_name in selection:
                edge += [literal_column(_quoted(edge_key)), _node_json(plan.item, run) if edge_name == "node"
                         else cursor if edge_name == "cursor" else literal(plan.edge_type)]
            edges = func.json_agg(aggregate_order_by(func.json_build_object(*edge), shown)).filter(on_page)
            value = func.coalesce(edges, literal_column("'[]'::json"))
        else:
            # Arrays, not json_agg and ->: extracting from JSON would unescape the NUL.
            first = _first(cursor, shown, on_page) if cursor is not None else None
            last = _first(cursor, rank.desc() if request.forward else rank, on_page) if cursor is not None else None
            info: list[Any] = []
            for info_key, info_name in selection:
                if info_name == "hasNextPage":
                    flag = more if request.forward else literal(request.before is not None)
                elif info_name == "hasPreviousPage":
                    flag = literal(request.after is not None) if request.forward else more
                elif info_name == "startCursor":
                    flag = first
                elif info_name == "endCursor":
                    flag = last
                else:
                    flag = literal("PageInfo")
                info += [literal_column(_quoted(info_key)), flag]
            value = func.json_build_object(*info)
        pieces += [literal_column(_quoted(key)), value]
    envelope = select(func.json_build_object(*pieces))
    return (envelope.select_from(page) if page is not None else envelope).scalar_subquery()


def _nested_json(plan: ConnectionPlan, parent_alias: str, run: _Request) -> ColumnElement[Any]:
    if plan.static:
        cached = plan.built.get(run.caller)
        if cached is not None:
            plan.built.move_to_end(run.caller)
            return cached
    arguments = run.arguments(plan.node, plan.definition, plan.strawberry_field)
    try:
        relation = plan.build(run.principal, **_split(arguments))
    except Exception as error:  # the builder refused an argument: the normal path reports it
        raise Refused(repr(error)) from error
    request = run.page(arguments, relation.ordering)
    parent = (relation.parent, parent_alias)
    page = _page_rows(plan, relation.statement, relation.ordering, request, parent=parent) if plan.needs_page else None
    # As count_by_parent counts, for this parent's row.
    count = (relation.statement.with_only_columns(func.count(), maintain_column_froms=True).order_by(None)
             .where(relation.parent == literal_column(f"{parent_alias}.id")).scalar_subquery()) if plan.counts else None
    subquery = _page_json(plan, page.subquery(plan.item.alias) if page is not None else None, relation.ordering, request,
                          run, count)
    if plan.static:
        plan.built[run.caller] = subquery
        if len(plan.built) > BUILT_PER_LIST:
            plan.built.popitem(last=False)
    return subquery


RootRows = tuple[RootPlan, Any, Any, Ordering | None, PageRequest | None]


def _roots(plan: SqlPlan, run: _Request) -> list[RootRows]:
    """Per root field: the SELECT of its rows (a page, or the one node; None when no page
    is asked for), of its totalCount (or None), its ordering and page."""
    roots: list[RootRows] = []
    for root in plan.roots:
        arguments = run.arguments(root.node, root.definition, root.strawberry_field)
        try:
            built = root.build(run.principal, **_split(arguments))
        except Exception as error:  # the builder refused an argument: the normal path reports it
            raise Refused(repr(error)) from error
        if root.kind == "connection":
            statement, ordering = built
            request = run.page(arguments, ordering)
            connection = root.connection
            rows = _page_rows(connection, statement, ordering, request) if connection.needs_page else None
            roots.append((root, rows, count_statement(statement) if connection.counts else None, ordering, request))
        else:
            roots.append((root, _rows(root.item, built).limit(1), None, None, None))
    return roots


def _statement(roots: list[RootRows], run: _Request) -> Any:
    parts: list[Any] = []
    for root, rows, count, ordering, request in roots:
        alias = (root.connection.item if root.connection else root.item).alias
        if root.kind == "connection":
            # `count`: its SELECT, or a hole of sql_of's template already in parentheses.
            count_value = count if count is None or isinstance(count, ColumnElement) else count.scalar_subquery()
            value = _page_json(root.connection, rows.subquery(alias) if rows is not None else None, ordering, request,
                               run, count_value)
        else:
            value = select(_node_json(root.item, run)).select_from(rows.subquery(alias)).scalar_subquery()
        parts += [literal_column(_quoted(root.key)), value]
    return select(cast(func.json_build_object(*parts), Text))


# --- compiled once -----------------------------------------------------------------------------
# SQLAlchemy compiles this statement in 6-8 ms, and looking it up in its compiled cache
# walks the whole tree (~1 ms). So what does not change between requests of one caller
# (everything but the root fields' rows, when the nested lists' arguments hold no
# variables) is compiled once into SQL text with a hole per root field; each request
# compiles only the rows' SELECT (from a cache keyed by its shape, its values taken
# out), fills the holes and runs the text on the driver's connection.

TEMPLATES_PER_PLAN = 32  # per plan: callers x page shapes (a few KB of SQL each)
ROWS_COMPILED = 512


@dataclass
class Compiled:
    sql: str
    parameters: list[Any]


def _compiled(statement: Any, offset: int = 0) -> Compiled:
    compiled = statement.compile(dialect=ASYNCPG, compile_kwargs={"render_postcompile": True})
    return Compiled(_shift(compiled.string, offset), _positional(compiled, compiled.construct_params()))


def _positional(compiled: Any, values: dict[str, Any]) -> list[Any]:
    processors = compiled._bind_processors
    out = []
    for name in compiled.positiontup:
        value = values[name]
        processor = processors.get(name)
        out.append(processor(value) if processor is not None and value is not None else value)
    return out


PLACEHOLDER = re.compile(r"\$(\d+)")


def _shift(sql: str, offset: int) -> str:
    """Renumbers $1.. to follow `offset` parameters before them (SQLAlchemy writes no
    literal `$` of its own; every value is a parameter)."""
    return PLACEHOLDER.sub(lambda m: f"${int(m.group(1)) + offset}", sql) if offset else sql


class _RowsCache:
    """Compiled SELECTs of root rows by their shape (SQLAlchemy's cache key without the
    values), so a request pays for the key, not the compilation."""

    def __init__(self) -> None:
        self.entries: OrderedDict[Any, tuple[Any, dict[int, str]]] = OrderedDict()

    def sql_and_parameters(self, statement: Any, offset: int) -> tuple[str, list[Any]]:
        key = statement._generate_cache_key()
        shape = key.key
        entry = self.entries.get(shape)
        if entry is None:
            compiled = statement.compile(dialect=ASYNCPG, cache_key=key, compile_kwargs={"render_postcompile": True})
            if any(bind.expanding for bind in compiled.binds.values()):  # IN lists: lengths vary
                one = _compiled(statement, offset)
                return one.sql, one.parameters
            entry = self.entries[shape] = (compiled, {})
            if len(self.entries) > ROWS_COMPILED:
                self.entries.popitem(last=False)
        else:
            self.entries.move_to_end(shape)
        compiled, shifted = entry
        sql = shifted.get(offset)
        if sql is None:
            sql = shifted[offset] = _shift(compiled.string, offset)
        values = compiled.construct_params(extracted_parameters=key.bindparams)
        return sql, _positional(compiled, values)


def sql_of(plan: SqlPlan, principal: Any, variables: dict[str, Any], compiler: SqlCompiler) -> tuple[str, list[Any]]:
    """The statement as SQL text and its parameters."""
    run = _Request(compiler, principal, variables)
    roots = _roots(plan, run)
    if not plan.static_below:
        one = _compiled(_statement(roots, run))
        return one.sql, one.parameters
    shape = (run.caller, tuple((r.key, o.name if o else None, q.size if q else None, q.forward if q else None,
                                 q.after is not None if q else None, q.before is not None if q else None)
                                for r, _, _, o, q in roots))
    template = plan.templates.get(shape)
    if template is None:
        holes = [(root, text(f"__rows_{i}__").columns() if rows is not None else None,
                  literal_column(f"(__count_{i}__)") if count is not None else None, ordering, request)
                 for i, (root, rows, count, ordering, request) in enumerate(roots)]
        template = plan.templates[shape] = _compiled(_statement(holes, run))
        if len(plan.templates) > TEMPLATES_PER_PLAN:
            plan.templates.popitem(last=False)
    else:
        plan.templates.move_to_end(shape)
    sql, parameters = template.sql, list(template.parameters)
    for i, (_, rows, count, _, _) in enumerate(roots):
        for hole, statement in ((f"__rows_{i}__", rows), (f"__count_{i}__", count)):
            if statement is not None:
                piece, piece_parameters = compiler.rows.sql_and_parameters(statement, len(parameters))
                sql = sql.replace(hole, piece, 1)
                parameters += piece_parameters
    return sql, parameters


# --- the answer -----------------------------------------------------------------------------

# A cursor placeholder in the statement's JSON text: `"\u0000` then the rest of a JSON string.
CURSOR = re.compile(r'"\\u0000((?:[^"\\]|\\.)*)"')


class RawJSON:
    """The `data` of an answer as JSON text, written into the response as it is."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _encode_cursor(match: re.Match[str]) -> str:
    name, *values = json.loads(json.loads('"' + match.group(1) + '"'))
    return '"' + encode_cursor_values(name, values) + '"'


def answer(plan: SqlPlan, text: str) -> RawJSON:
    """The `data` of the answer: the statement's JSON with the cursors encoded."""
    return RawJSON(CURSOR.sub(_encode_cursor, text) if plan.wants_cursors else text)
