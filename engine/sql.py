"""The `sql` path: the answer of a read query in ONE SQL statement, built as JSON by
PostgreSQL.

Each page is a `LIMIT n + 1` subquery, each nested page a subquery correlated to its
parent's row, each to-one relation a scoped subquery, each node a `json_build_object`
of its fields written exactly as the GraphQL scalars and enums would write them, each
connection's edges and pageInfo built around its page. Python encodes the cursors and
writes PostgreSQL's JSON text into the response. What does not change between requests
is compiled to SQL text once (`sql_of`).

Nothing about a field is stated here. The planner reads each field's declaration
(schema/fields.py) and takes a field as SQL only when it is declared and its resolver
is the generated one (`declared_source`); the builders the declarations name are the
ones their resolvers call, so both paths read the same rows with the same row scope
(resolvers/scoping.py). Fields are collected as the spec collects them (graphql-core's
own field collection: fragments, `@include`/`@skip`, merged keys; engine/internals.py).

A field with no SQL form (a hand-written resolver, an argument on a column, a union, a
permission that is not a role check...) is not a reason to leave the statement: the
statement writes a placeholder with the row's key, and after it ran the field is
resolved in Python by graphql-core with its real resolver, permission classes and
loaders, over the rows loaded by id through the caller's scope (`finish`). Role checks
of the SQL fields run before the statement; a refused caller, an argument a builder
rejects, an error in a Python field give the request back to the normal path, which
answers with its errors. Reads only.

tests/test_agreement.py and tests/test_compiled.py compare the answers with the normal
path's, byte for byte.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    VariableNode,
)
from sqlalchemy import JSON, Column, Date, String, Table, Text, case, cast, func, literal, literal_column, null, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import aggregate_order_by, array_agg
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.sql.elements import ColumnElement
from strawberry.permission import PermissionExtension

from crm.pagination import (
    Ordering, PageRequest, PaginationError, bounded_statement, count_statement, encode_cursor_values, page_request,
)
from engine import internals
from engine.internals import FieldDetails
from resolvers.node import NODE_LOADERS
from resolvers.scoping import row_scope
from schema.fields import (
    Column as ColumnSource, ConnectionOf, GlobalId, MoneyOf, RootById, RootConnection, RootNode, ToOne, by_id_statement,
    declared_source, node_of,
)

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
class PythonField:
    """A field resolved in Python after the statement: on the row of `type_name` whose key
    the statement wrote (None: a root field, on the root value)."""

    index: int
    key: str
    parent_type: GraphQLObjectType
    type_name: str | None
    details: list[FieldDetails]


@dataclass
class PythonPart:
    """`'key', "\\u0000F<index>:<the row's id>"`: the placeholder of a PythonField."""

    key: str
    field: PythonField
    outer: str | None

    def sql(self, principal: Any) -> str:
        if self.outer is None:
            return f"{_quoted(self.key)}, CAST('\"\\u0000F{self.field.index}:\"' AS JSON)"
        return (f"{_quoted(self.key)}, CAST('\"\\u0000F{self.field.index}:' || CAST({self.outer}.id AS TEXT) || '\"' "
                "AS JSON)")


@dataclass
class NodePlan:
    """A node's JSON over the row of a page subquery named `alias`: static SQL text for
    its plain fields, relations, Python fields and nested connections, in the
    selection's order."""

    type_name: str
    table: Table | None
    alias: str
    parts: list[str | RelationPart | PythonPart | tuple[str, ConnectionPlan]]
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


def _part_sql(part: str | RelationPart | PythonPart, principal: Any) -> str:
    return part if isinstance(part, str) else part.sql(principal)


@dataclass
class ConnectionPlan:
    """One connection field: its arguments, the builder, and what of it is selected."""

    details: list[FieldDetails]
    definition: Any
    strawberry_field: Any
    build: Callable[..., Any]
    item: NodePlan
    # [(key, "edges", [(key, "node"|"cursor"|"__typename")]), (key, "pageInfo", [(key, name)]),
    #  (key, "typename", name), (key, "count", None)]
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
    kind: str  # "connection" | "node" (by id: RootById, or any type: RootNode)
    roles: tuple[Any, ...] | None
    details: list[FieldDetails]
    definition: Any
    strawberry_field: Any
    source: Any
    connection: ConnectionPlan | None = None
    item: NodePlan | None = None  # RootById's; RootNode's are per type, in `items`
    items: dict[str, NodePlan | None] = field(default_factory=dict)
    item_roles: dict[str, list] = field(default_factory=dict)


@dataclass
class SqlPlan:
    # Root fields in the selection's order: a RootPlan, static SQL text (`__typename`),
    # or a PythonPart.
    roots: list[RootPlan | str | PythonPart]
    # Role checks of nested fields (e.g. contacts are staff only): tuples of allowed roles.
    nested_roles: list[tuple[Any, ...]]
    python: list[PythonField]
    planner: _Planner
    # No variables in the arguments of any nested list: all but the roots' rows is
    # compiled once per caller (`sql_of`).
    static_below: bool = False
    templates: OrderedDict = field(default_factory=OrderedDict)
    # Python fields' compiled plans by index (engine/plan.py; None: graphql-core runs it).
    python_plans: dict[int, Any] = field(default_factory=dict)

    @property
    def wants_cursors(self) -> bool:
        # Read off the planner: a node(id:) root plans the type an ID names when it first
        # meets one.
        return self.planner.wants_cursors


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


def _name(details: list[FieldDetails]) -> str:
    return details[0].node.name.value


def _has_arguments(details: list[FieldDetails]) -> bool:
    return any(detail.node.arguments for detail in details)


def _has_variable(value: Any) -> bool:
    if isinstance(value, VariableNode):
        return True
    children = getattr(value, "values", None) or getattr(value, "fields", None) or ()
    return any(_has_variable(getattr(child, "value", child)) for child in children)


def _static_arguments(details: list[FieldDetails]) -> bool:
    return not any(_has_variable(argument.value) for detail in details for argument in detail.node.arguments or ())


def _columns_of(expression: ColumnElement[Any], alias_name: str) -> list[Any]:
    from sqlalchemy.sql import visitors

    return [element for element in visitors.iterate(expression)
            if isinstance(element, Column) and getattr(element.table, "name", None) == alias_name]


def table_of(type_name: str) -> Table | None:
    """The table whose rows a row-backed type reads (the table its by-id loader reads),
    if its objects are made from a row alone (not, like a membership's view, from a
    computation over the request)."""
    from schema.node import NODE_TYPES

    loader = NODE_LOADERS.get(type_name)
    make = NODE_TYPES.get(type_name)
    if loader is None or make is None or inspect.iscoroutinefunction(make):
        return None
    return loader.model.__table__


class SqlCompiler:
    """Compiles operations into SqlPlans; holds what every plan shares."""

    def __init__(self, schema: Any) -> None:
        self.schema = schema
        self.strawberry_schema = schema.extensions.get(BACKREF) if schema.extensions else None
        self.rows = _RowsCache()

    def compile(self, operation: Any, fragments: dict, variables: Any) -> SqlPlan:
        """`variables`: the values @include/@skip read (a plan is per their values)."""
        if self.strawberry_schema is None:
            raise Unsupported("not a strawberry schema")
        planner = _Planner(self.schema, operation, fragments, variables)
        nested_roles: list[tuple[Any, ...]] = []
        roots: list[RootPlan | str | PythonPart] = []
        query_type = self.schema.query_type
        for key, details in internals.collect_root(self.schema, fragments, variables, operation).items():
            name = _name(details)
            if name == "__typename":
                roots.append(f"{_quoted(key)}, {_quoted(query_type.name)}")
                continue
            roles: list[tuple[Any, ...]] = []
            try:
                roots.append(planner.root(key, details, roles))
            except Unsupported:
                roots.append(PythonPart(key, planner.python_field(key, query_type, None, details), None))
            else:
                nested_roles += roles
        if not any(isinstance(root, RootPlan) for root in roots):
            raise Unsupported("no root field has a SQL form")
        nested = [part[1] for root in roots if isinstance(root, RootPlan) and (root.connection or root.item)
                  for part in (root.connection.item if root.connection else root.item).parts if isinstance(part, tuple)]
        static_below = all(connection.static for connection in nested)
        return SqlPlan(roots, nested_roles, planner.python, planner, static_below)


class _Planner:
    """One operation's planning: its fragments, the directive variables' values, the
    aliases handed out, the Python fields found."""

    def __init__(self, schema: Any, operation: Any, fragments: dict, variables: Any) -> None:
        self.schema, self.operation, self.fragments, self.variables = schema, operation, fragments, variables
        self.aliases = 0
        self.wants_cursors = False
        self.python: list[PythonField] = []

    def sub(self, object_type: GraphQLObjectType, details: list[FieldDetails]) -> dict[str, list[FieldDetails]]:
        return internals.collect_sub(self.schema, self.fragments, self.variables, self.operation, object_type, details)

    def python_field(self, key: str, parent_type: GraphQLObjectType, type_name: str | None,
                     details: list[FieldDetails]) -> PythonField:
        found = PythonField(len(self.python), key, parent_type, type_name, details)
        self.python.append(found)
        return found

    def root(self, key: str, details: list[FieldDetails], roles: list) -> RootPlan:
        definition = self.schema.query_type.fields[_name(details)]
        strawberry_field = definition.extensions[BACKREF]
        source = declared_source(strawberry_field)
        if not isinstance(source, (RootConnection, RootById, RootNode)):
            raise Unsupported(f"root field {_name(details)}")
        plan = RootPlan(key, "connection" if isinstance(source, RootConnection) else "node", _roles(strawberry_field),
                        details, definition, strawberry_field, source)
        target = _unwrap(definition.type)
        if isinstance(source, RootConnection):
            plan.connection = self.connection(target, details, definition, strawberry_field, source.build, roles)
        elif isinstance(source, RootById):
            plan.item = self.node(target, details, roles)
        return plan

    def node_of_type(self, plan: RootPlan, type_name: str) -> NodePlan | None:
        """`node(id:)`'s plan for the type the ID names (None: that type has no SQL form)."""
        if type_name not in plan.items:
            roles: list = []
            try:
                plan.items[type_name] = self.node(self.schema.get_type(type_name), plan.details, roles)
                plan.item_roles[type_name] = roles
            except Unsupported:
                plan.items[type_name] = None
        return plan.items[type_name]

    def node(self, object_type: Any, details: list[FieldDetails], roles: list) -> NodePlan:
        if not isinstance(object_type, GraphQLObjectType):
            raise Unsupported(f"abstract type {object_type}")
        table = table_of(object_type.name)
        if table is None:
            raise Unsupported(f"type {object_type.name}")
        self.aliases += 1
        alias_name = f"p{self.aliases}"
        row = table.alias(alias_name).c
        parts: list[str | RelationPart | PythonPart | tuple[str, ConnectionPlan]] = []
        used: set[str] = {"id"}  # nested lists correlate on it, Python fields load by it
        for key, sub in self.sub(object_type, details).items():
            name = _name(sub)
            if name == "__typename":
                parts.append(f"{_quoted(key)}, {_quoted(object_type.name)}")
                continue
            field_roles: list = []
            try:
                part, columns = self.field(object_type, key, sub, row, alias_name, field_roles)
            except Unsupported:
                parts.append(PythonPart(key, self.python_field(key, object_type, object_type.name, sub), alias_name))
                continue
            roles += field_roles
            parts.append(part)
            used.update(columns)
        if len(parts) > 50:  # json_build_object takes at most 100 arguments
            raise Unsupported("more than 50 fields in one object")
        columns = [column.key for column in table.columns if column.key in used]
        return NodePlan(object_type.name, table, alias_name, parts, columns)

    def field(self, object_type: GraphQLObjectType, key: str, details: list[FieldDetails], row: Any, alias_name: str,
              roles: list) -> tuple[Any, set[str]]:
        """One declared field of a node: its part and the columns it reads."""
        definition = object_type.fields[_name(details)]
        strawberry_field = definition.extensions[BACKREF]
        source = declared_source(strawberry_field)
        if source is None:
            raise Unsupported(f"{object_type.name}.{_name(details)} has no SQL form")
        allowed = _roles(strawberry_field)
        if allowed is not None:
            roles.append(allowed)
        field_type = _unwrap(definition.type)
        if isinstance(source, ConnectionOf):
            return (key, self.connection(field_type, details, definition, strawberry_field, source.build, roles)), set()
        if _has_arguments(details):
            raise Unsupported("arguments")
        if isinstance(source, ToOne):
            if getattr(field_type, "name", None) != source.type_name:
                raise Unsupported(f"relation to {source.type_name}")
            item = self.node(field_type, details, roles)
            if any(isinstance(part, tuple) for part in item.parts):
                raise Unsupported("a list below a relation")
            return RelationPart(key, item, source.foreign_key, alias_name), {source.foreign_key}
        if isinstance(source, MoneyOf):
            amount = source.amount(row) if callable(source.amount) else row[source.amount]
            pieces: list[Any] = []
            for part_key, part in self.sub(field_type, details).items():
                value = {"amount": lambda: cast(func.round(amount, 2), Text), "currency": lambda: row[source.currency],
                         "__typename": lambda: literal(field_type.name)}.get(_name(part))
                if value is None:
                    raise Unsupported("money field")
                pieces += [literal(part_key), value()]
            expression = case((amount.is_(None), null()), else_=func.json_build_object(*pieces))
        elif isinstance(source, GlobalId):
            expression = global_id(source.type_name, row[source.column])
        elif isinstance(source, ColumnSource):
            expression = _leaf(field_type, row[source.name])
        else:
            raise Unsupported(f"source {source}")
        return f"{_quoted(key)}, {_sql(expression)}", {column.key for column in _columns_of(expression, alias_name)}

    def connection(self, connection_type: GraphQLObjectType, details: list[FieldDetails], definition: Any,
                   strawberry_field: Any, build: Callable[..., Any], roles: list) -> ConnectionPlan:
        selection: list[tuple[str, str, Any]] = []
        item: NodePlan | None = None
        wants_cursors = False
        edge_type = ""
        for key, sub in self.sub(connection_type, details).items():
            name = _name(sub)
            if name == "__typename":
                selection.append((key, "typename", connection_type.name))
            elif name == "edges":
                edge_object = _unwrap(_unwrap(connection_type.fields["edges"].type).of_type)
                edge_type = edge_object.name
                edge_selection = []
                for edge_key, edge_sub in self.sub(edge_object, sub).items():
                    edge_name = _name(edge_sub)
                    if edge_name == "node":
                        if item is not None:  # one node plan per page
                            raise Unsupported("nodes under two keys")
                        item = self.node(_unwrap(edge_object.fields["node"].type), edge_sub, roles)
                    elif edge_name == "cursor":
                        wants_cursors = True
                    elif edge_name != "__typename":
                        raise Unsupported(f"edge field {edge_name}")
                    edge_selection.append((edge_key, edge_name))
                selection.append((key, "edges", edge_selection))
            elif name == "pageInfo":
                info_selection = []
                for info_key, info_sub in self.sub(_unwrap(connection_type.fields["pageInfo"].type), sub).items():
                    info_name = _name(info_sub)
                    if info_name not in ("hasNextPage", "hasPreviousPage", "startCursor", "endCursor", "__typename"):
                        raise Unsupported(f"pageInfo field {info_name}")
                    wants_cursors = wants_cursors or info_name in ("startCursor", "endCursor")
                    info_selection.append((info_key, info_name))
                selection.append((key, "pageInfo", info_selection))
            elif name == "totalCount":
                selection.append((key, "count", None))
            else:
                raise Unsupported(f"connection field {name}")
        if item is None:  # no node selected: the rows still tell the cursors and pageInfo
            self.aliases += 1
            item = NodePlan("", None, f"p{self.aliases}", [], ["id"])
        self.wants_cursors = self.wants_cursors or wants_cursors
        static = _static_arguments(details) and all(part[1].static for part in item.parts if isinstance(part, tuple))
        kinds = {kind for _, kind, _ in selection}
        return ConnectionPlan(details, definition, strawberry_field, build, item, selection, edge_type, wants_cursors,
                              static, needs_page=bool(kinds & {"edges", "pageInfo"}), counts="count" in kinds)


# --- running -------------------------------------------------------------------------------

class _Request:
    """One request: the caller, its variables, and the arguments of a field converted as
    Strawberry converts them for the field's resolver."""

    def __init__(self, compiler: SqlCompiler, principal: Any, variables: Any) -> None:
        self.compiler = compiler
        self.principal = principal
        # What a builder may read of the caller (resolvers/scoping.py): the key of what
        # is kept per caller.
        self.caller = (principal.subject, principal.role, principal.account_id, principal.user_id)
        self.variables = variables

    def arguments(self, details: list[FieldDetails], definition: Any, strawberry_field: Any) -> dict[str, Any]:
        raw = internals.arguments_of(definition, details[0].node, self.variables)
        return internals.strawberry_arguments(raw, strawberry_field, self.compiler.strawberry_schema)

    def page(self, arguments: dict[str, Any], ordering: Ordering) -> PageRequest:
        try:
            return page_request(ordering, **{name: arguments.get(name) for name in PAGE_ARGUMENTS})
        except PaginationError as error:
            raise Refused(error.message) from None

    def check_roles(self, required: list[tuple[Any, ...]]) -> None:
        if any(self.principal.role not in roles for roles in required):
            raise Refused("not allowed")


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
    arguments = run.arguments(plan.details, plan.definition, plan.strawberry_field)
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


RootRows = tuple[Any, Any, Any, Ordering | None, PageRequest | None, NodePlan | None]


def _roots(plan: SqlPlan, run: _Request) -> list[RootRows]:
    """Per root field: the SELECT of its rows (a page, or the one node; None when no page
    is asked for), of its totalCount (or None), its ordering, page and node plan. A
    `__typename` or Python field at the root is passed through."""
    roots: list[RootRows] = []
    for root in plan.roots:
        if not isinstance(root, RootPlan):
            roots.append((root, None, None, None, None, None))
            continue
        arguments = run.arguments(root.details, root.definition, root.strawberry_field)
        try:
            if root.kind == "connection":
                built = root.source.build(run.principal, **_split(arguments))
            else:
                type_name = root.source.type_name if isinstance(root.source, RootById) else None
                type_name, built = by_id_statement(type_name, run.principal, arguments["id"])
        except Exception as error:  # the builder refused an argument: the normal path reports it
            raise Refused(repr(error)) from error
        if root.kind == "connection":
            statement, ordering = built
            request = run.page(arguments, ordering)
            connection = root.connection
            rows = _page_rows(connection, statement, ordering, request) if connection.needs_page else None
            roots.append((root, rows, count_statement(statement) if connection.counts else None, ordering, request,
                          connection.item))
        else:
            item = root.item if root.item is not None else plan.planner.node_of_type(root, type_name)
            if item is None:
                raise Refused(f"node(id:) of a {type_name}")
            if root.item is None:
                run.check_roles(root.item_roles[type_name])
            roots.append((root, _rows(item, built).limit(1), None, None, None, item))
    return roots


def _statement(roots: list[RootRows], run: _Request) -> Any:
    parts: list[Any] = []
    for root, rows, count, ordering, request, item in roots:
        if not isinstance(root, RootPlan):
            parts.append(literal_column(_part_sql(root, run.principal)))
            continue
        if root.kind == "connection":
            # `count`: its SELECT, or a hole of sql_of's template already in parentheses.
            count_value = count if count is None or isinstance(count, ColumnElement) else count.scalar_subquery()
            value = _page_json(root.connection, rows.subquery(item.alias) if rows is not None else None, ordering,
                               request, run, count_value)
        else:
            value = select(_node_json(item, run)).select_from(rows.subquery(item.alias)).scalar_subquery()
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
    processors = internals.bind_processors(compiled)
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
        key = internals.sql_cache_key(statement)
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


def _static(item: NodePlan | None) -> bool:
    return item is None or all(part[1].static for part in item.parts if isinstance(part, tuple))


def sql_of(plan: SqlPlan, principal: Any, variables: Any, compiler: SqlCompiler) -> tuple[str, list[Any]]:
    """The statement as SQL text and its parameters."""
    run = _Request(compiler, principal, variables)
    roots = _roots(plan, run)
    if not (plan.static_below and all(_static(item) for *_, item in roots)):
        one = _compiled(_statement(roots, run))
        return one.sql, one.parameters
    shape = (run.caller, tuple((item.type_name if item else None, o.name if o else None, q.size if q else None,
                                 q.forward if q else None, q.after is not None if q else None,
                                 q.before is not None if q else None)
                                for _, _, _, o, q, item in roots))
    template = plan.templates.get(shape)
    if template is None:
        holes = [(root, text(f"__rows_{i}__").columns() if rows is not None else None,
                  literal_column(f"(__count_{i}__)") if count is not None else None, ordering, request, item)
                 for i, (root, rows, count, ordering, request, item) in enumerate(roots)]
        template = plan.templates[shape] = _compiled(_statement(holes, run))
        if len(plan.templates) > TEMPLATES_PER_PLAN:
            plan.templates.popitem(last=False)
    else:
        plan.templates.move_to_end(shape)
    sql, parameters = template.sql, list(template.parameters)
    for i, (_, rows, count, *_) in enumerate(roots):
        for hole, statement in ((f"__rows_{i}__", rows), (f"__count_{i}__", count)):
            if statement is not None:
                piece, piece_parameters = compiler.rows.sql_and_parameters(statement, len(parameters))
                sql = sql.replace(hole, piece, 1)
                parameters += piece_parameters
    return sql, parameters


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
