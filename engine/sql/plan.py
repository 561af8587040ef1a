"""Plans: what of a document the single statement writes, read off the fields'
declarations (schema/fields.py); the fields it cannot write become Python fields."""

from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLObjectType, VariableNode
from sqlalchemy import Column, Table, Text, case, cast, func, literal_column, select
from sqlalchemy.sql.elements import ColumnElement
from strawberry.permission import PermissionExtension

from engine import internals
from engine.internals import FieldDetails
from engine.sql.common import (
    BACKREF,
    BUILT_PER_LIST,
    DIALECT,
    Const,
    JsonValue,
    Unsupported,
    RowsCache,
    const_of,
    json_object,
    json_or_null,
    json_string,
    json_value,
    rendered,
    leaf,
    literal_sql,
    unwrap,
    global_id,
)
from engine.sql.carry import LEARNED, carried_sql, type_columns
from resolvers.ids import NODE_LOADERS
from resolvers.scoping import row_scope
from schema.fields import (
    Column as ColumnSource,
    ConnectionOf,
    GlobalId,
    MoneyOf,
    RootById,
    RootConnection,
    RootNode,
    ToOne,
    declared_source,
)


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
    # The row's attributes the statement carries (engine/sql/carry.py); None: the row
    # is read by id after the statement.
    carried: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Pair:
    """A key and its value's JSON text, the same for every caller."""

    key: str
    value: JsonValue

    def sql(self, principal: Any) -> JsonValue:
        return self.value


@dataclass
class PythonPart:
    """`"\\u0000F<index>:<the row's id>"`, or the carried row
    `["\\u0000F<index>", <id>, ...]`: the placeholder of a PythonField under `key`."""

    key: str
    field: PythonField
    outer: str | None

    def sql(self, principal: Any) -> JsonValue:
        if self.outer is None:
            return Const(f'"\\u0000F{self.field.index}:"')
        if self.field.carried is not None:
            return carried_sql(self.field.type_name, self.field.index, self.outer, self.field.carried)
        return f"""'"\\u0000F{self.field.index}:' || CAST({self.outer}.id AS TEXT) || '"'"""


@dataclass
class NodePlan:
    """A node's JSON over the row of a page subquery named `alias`: static SQL text for
    its plain fields, relations, Python fields and nested connections, in the
    selection's order."""

    type_name: str
    table: Table | None
    alias: str
    parts: list[Pair | RelationPart | PythonPart | tuple[str, ConnectionPlan]]
    columns: list[str]
    # As the row of a by-id root: its SQL per (type, caller) (engine/sql/statement.ByIdRows).
    by_id: OrderedDict = field(default_factory=OrderedDict)


@dataclass
class RelationPart:
    """`key`: `(SELECT <its JSON> FROM <table> AS pN WHERE pN.id = <outer>.<foreign key>
    AND <the caller's row scope>)`: NULL when the key is NULL or the row is out of the
    caller's scope, as the resolver's load by id (resolvers/loaders.ByIdLoader) answers.
    The scope is resolvers/scoping.row_scope, the same declaration the loader reads; its
    SQL depends on the caller, so it is rendered per caller and kept."""

    key: str
    item: NodePlan
    foreign_key: str
    outer: str
    rendered: OrderedDict = field(default_factory=OrderedDict)

    def sql(self, principal: Any) -> JsonValue:
        caller = (principal.role, principal.account_id, principal.user_id) if principal is not None else None
        cached = self.rendered.get(caller)
        if cached is not None:
            return cached
        alias = self.item.table.alias(self.item.alias)
        statement = select(json_object([part_pair(part, principal) for part in self.item.parts])).select_from(alias).where(
            alias.c.id == literal_column(f"{self.outer}.{DIALECT.identifier_preparer.quote(self.foreign_key)}"),
            row_scope(self.item.type_name, principal, alias.c))
        rendered = self.rendered[caller] = literal_sql(json_or_null(statement.scalar_subquery()))
        if len(self.rendered) > BUILT_PER_LIST:
            self.rendered.popitem(last=False)
        return rendered


def part_pair(part: Pair | RelationPart | PythonPart, principal: Any) -> tuple[str, JsonValue]:
    """The key of a part and its value's JSON text for this caller."""
    return part.key, part.sql(principal)


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
    # Root fields in the selection's order: a RootPlan, a Pair (`__typename`), or a
    # PythonPart.
    roots: list[RootPlan | Pair | PythonPart]
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
    # What the plan carries of each type's rows (engine/sql/carry.py), as of LEARNED's
    # `generation`.
    carried: dict[str, tuple[str, ...] | None] = field(default_factory=dict)
    generation: int = 0

    def stale(self) -> bool:
        """Whether the Python fields' resolvers have read columns this plan does not carry
        (or no longer need a row read by id): compile it again."""
        if self.generation == LEARNED.generation:
            return False
        if LEARNED.agrees(self.carried):
            self.generation = LEARNED.generation
            return False
        return True

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
        self.rows = RowsCache()

    def compile(self, operation: Any, fragments: dict, variables: Any) -> SqlPlan:
        """`variables`: the values @include/@skip read (a plan is per their values)."""
        if self.strawberry_schema is None:
            raise Unsupported("not a strawberry schema")
        generation = LEARNED.generation
        planner = _Planner(self.schema, operation, fragments, variables)
        nested_roles: list[tuple[Any, ...]] = []
        roots: list[RootPlan | Pair | PythonPart] = []
        query_type = self.schema.query_type
        for key, details in internals.collect_root(self.schema, fragments, variables, operation).items():
            name = _name(details)
            if name == "__typename":
                roots.append(Pair(key, const_of(query_type.name)))
                continue
            if name.startswith("__"):  # __schema, __type: introspection stays on the normal path
                raise Unsupported("introspection")
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
        return SqlPlan(roots, nested_roles, planner.python, planner, static_below, carried=planner.carried,
                       generation=generation)


class _Planner:
    """One operation's planning: its fragments, the directive variables' values, the
    aliases handed out, the Python fields found."""

    def __init__(self, schema: Any, operation: Any, fragments: dict, variables: Any) -> None:
        self.schema, self.operation, self.fragments, self.variables = schema, operation, fragments, variables
        self.aliases = 0
        self.wants_cursors = False
        self.python: list[PythonField] = []
        self.carried: dict[str, tuple[str, ...] | None] = {}

    def sub(self, object_type: GraphQLObjectType, details: list[FieldDetails]) -> dict[str, list[FieldDetails]]:
        return internals.collect_sub(self.schema, self.fragments, self.variables, self.operation, object_type, details)

    def python_field(self, key: str, parent_type: GraphQLObjectType, type_name: str | None,
                     details: list[FieldDetails]) -> PythonField:
        found = PythonField(len(self.python), key, parent_type, type_name, details)
        if type_name is not None:
            found.carried = self.carried[type_name] = LEARNED.carried(type_name)
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
        target = unwrap(definition.type)
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
        parts: list[Pair | RelationPart | PythonPart | tuple[str, ConnectionPlan]] = []
        used: set[str] = {"id"}  # nested lists correlate on it, Python fields load by it
        for key, sub in self.sub(object_type, details).items():
            name = _name(sub)
            if name == "__typename":
                parts.append(Pair(key, const_of(object_type.name)))
                continue
            field_roles: list = []
            try:
                part, columns = self.field(object_type, key, sub, row, alias_name, field_roles)
            except Unsupported:
                python_field = self.python_field(key, object_type, object_type.name, sub)
                parts.append(PythonPart(key, python_field, alias_name))
                if python_field.carried is not None:
                    used.update(type_columns(object_type.name).columns[name].key for name in python_field.carried)
                continue
            roles += field_roles
            parts.append(part)
            used.update(columns)
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
        field_type = unwrap(definition.type)
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
            pieces: list[tuple[str, JsonValue]] = []
            for part_key, part in self.sub(field_type, details).items():
                # The amount is not NULL where the object is written.
                value = {"amount": lambda: json_string(cast(func.round(amount, 2), Text), nullable=False),
                         "currency": lambda: json_value(row[source.currency], row[source.currency].nullable is not False),
                         "__typename": lambda: const_of(field_type.name)}.get(_name(part))
                if value is None:
                    raise Unsupported("money field")
                pieces.append((part_key, value()))
            expression = case((amount.is_(None), literal_column("'null'")), else_=json_object(pieces))
        elif isinstance(source, GlobalId):
            nullable = getattr(row[source.column], "nullable", True) is not False
            written = global_id(source.type_name, row[source.column])
            # base64 of `Type:<bigint>` fits one line of PostgreSQL's base64 (57 bytes): no newline to escape.
            expression = json_string(written, nullable) if len(source.type_name) + 21 <= 57 else json_value(written, nullable)
        elif isinstance(source, ColumnSource):
            expression = leaf(field_type, row[source.name])
        else:
            raise Unsupported(f"source {source}")
        return Pair(key, rendered(expression)), {column.key for column in _columns_of(expression, alias_name)}

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
                edge_object = unwrap(unwrap(connection_type.fields["edges"].type).of_type)
                edge_type = edge_object.name
                edge_selection = []
                for edge_key, edge_sub in self.sub(edge_object, sub).items():
                    edge_name = _name(edge_sub)
                    if edge_name == "node":
                        if item is not None:  # one node plan per page
                            raise Unsupported("nodes under two keys")
                        item = self.node(unwrap(edge_object.fields["node"].type), edge_sub, roles)
                    elif edge_name == "cursor":
                        wants_cursors = True
                    elif edge_name != "__typename":
                        raise Unsupported(f"edge field {edge_name}")
                    edge_selection.append((edge_key, edge_name))
                selection.append((key, "edges", edge_selection))
            elif name == "pageInfo":
                info_selection = []
                for info_key, info_sub in self.sub(unwrap(connection_type.fields["pageInfo"].type), sub).items():
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
