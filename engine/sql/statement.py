"""The statement of one request: the plan's SQL with the request's arguments, compiled
once where nothing changes between requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Text, bindparam, cast, func, literal_column, select, text
from sqlalchemy.dialects.postgresql import aggregate_order_by, array_agg
from sqlalchemy.sql.elements import ColumnElement

from kernel.pagination import Ordering, PageRequest, PaginationError, bounded_statement, count_statement, page_request
from engine import internals
from engine.internals import FieldDetails
from engine.sql.common import (
    ASYNCPG, BUILT_PER_LIST, NULL_JSON, PAGE_ARGUMENTS, Const, JsonValue, Refused, compile_text, const_of, cursor_value,
    json_array, json_array_agg, json_concat, json_object, json_or_null, positional, shift,
)
from engine.sql.plan import ConnectionPlan, NodePlan, RootPlan, SqlCompiler, SqlPlan, part_pair
from resolvers.ids import NODE_LOADERS, from_global_id
from resolvers.scoping import row_scope
from schema.fields import RootById


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
    pairs: list[tuple[str, JsonValue]] = []
    for part in plan.parts:
        if not isinstance(part, tuple):
            pairs.append(part_pair(part, run.principal))
        else:
            key, connection = part
            pairs.append((key, _nested_json(connection, plan.alias, run)))
    return json_object(pairs)


def _rows(plan: NodePlan, statement: Any) -> Any:
    """Only the columns the node reads (the builder's statement selects the entity)."""
    columns = [plan.table.c[name] for name in plan.columns] if plan.table is not None else \
        [statement.selected_columns[name] for name in plan.columns]
    return statement.with_only_columns(*columns, maintain_column_froms=True)


def _cursor_json(ordering: Ordering, alias: str) -> ColumnElement[Any]:
    """A cursor to be encoded in Python (kernel.pagination writes cursors, and only Python's
    json.dumps writes them alike): a JSON string holding NUL and then the ordering's name
    and the row's sort-key values as JSON. PostgreSQL text never holds NUL, so no value
    can look like one (see `CURSOR`)."""
    values: list[JsonValue] = [const_of(ordering.name)] + [cursor_value(key, literal_column(f"{alias}._k{i}"))
                                                          for i, key in enumerate(ordering.keys)]
    as_string = cast(func.to_json(json_array(values)), Text)
    return json_concat([Const('"\\u0000'), func.substr(as_string, 2)])


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
    asked for) and its count, as kernel.pagination.page_from_rows and
    schema.pagination.Connection make it."""
    alias = plan.item.alias
    rank = literal_column(f"{alias}._rank")
    on_page = rank <= request.size
    # A backward page is fetched nearest-first and shown in list order.
    shown = rank if request.forward else rank.desc()
    more = cast(func.count() > request.size, Text)  # `true` / `false`
    cursor = _cursor_json(ordering, alias) if plan.wants_cursors else None
    pieces: list[tuple[str, JsonValue]] = []
    for key, kind, selection in plan.selection:
        if kind == "typename":
            value: JsonValue = const_of(selection)
        elif kind == "count":
            value = json_or_null(cast(count, Text))
        elif kind == "edges":
            edge: list[tuple[str, JsonValue]] = []
            for edge_key, edge_name in selection:
                edge.append((edge_key, _node_json(plan.item, run) if edge_name == "node"
                             else cursor if edge_name == "cursor" else const_of(plan.edge_type)))
            value = json_array_agg(json_object(edge), shown, on_page)
        else:
            # Arrays, not json_agg and ->: extracting from JSON would unescape the NUL.
            first = _first(cursor, shown, on_page) if cursor is not None else None
            last = _first(cursor, rank.desc() if request.forward else rank, on_page) if cursor is not None else None
            info: list[tuple[str, JsonValue]] = []
            for info_key, info_name in selection:
                flag: JsonValue
                if info_name == "hasNextPage":
                    flag = more if request.forward else const_of(request.before is not None)
                elif info_name == "hasPreviousPage":
                    flag = const_of(request.after is not None) if request.forward else more
                elif info_name == "startCursor":
                    flag = json_or_null(first) if first is not None else NULL_JSON
                elif info_name == "endCursor":
                    flag = json_or_null(last) if last is not None else NULL_JSON
                else:
                    flag = const_of("PageInfo")
                info.append((info_key, flag))
            value = json_object(info)
        pieces.append((key, value))
    envelope = select(json_object(pieces))
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
                expected = root.source.type_name if isinstance(root.source, RootById) else None
                type_name, pk = from_global_id(arguments["id"], expected_type=expected)
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
            roots.append((root, ByIdRows(item, type_name, pk, run), None, None, None, item))
    return roots


@dataclass
class ByIdRows:
    """The one row of a by-id root, as the by-id loader reads it (resolvers/scoping.py's
    row scope). Its SQL is compiled once per node plan and caller with the key as a
    parameter, so a request builds no SQLAlchemy statement for it."""

    item: NodePlan
    type_name: str
    pk: int
    run: _Request

    def statement(self, pk: Any) -> Any:
        model = NODE_LOADERS[self.type_name].model
        return _rows(self.item, select(model).where(model.id == pk, row_scope(self.type_name, self.run.principal))).limit(1)

    def subquery(self, alias: str) -> Any:
        return self.statement(self.pk).subquery(alias)

    def sql_and_parameters(self, offset: int) -> tuple[str, list[Any]]:
        cache = self.item.by_id
        key = (self.type_name, self.run.caller)
        found = cache.get(key)
        if found is None:
            compiled = self.statement(bindparam("pk", type_=BigInteger)).compile(
                dialect=ASYNCPG, compile_kwargs={"render_postcompile": True})
            names = list(compiled.positiontup)
            # A scope that is `false` for this caller leaves no key in the SQL at all.
            found = cache[key] = (compiled.string, positional(compiled, compiled.construct_params({"pk": 0})),
                                  names.index("pk") if "pk" in names else None, {})
            if len(cache) > BUILT_PER_LIST:
                cache.popitem(last=False)
        sql, values, at, shifted = found
        text_at = shifted.get(offset)
        if text_at is None:
            text_at = shifted[offset] = shift(sql, offset)
        parameters = list(values)
        if at is not None:
            parameters[at] = self.pk
        return text_at, parameters


def _statement(roots: list[RootRows], run: _Request) -> Any:
    parts: list[tuple[str, JsonValue]] = []
    for root, rows, count, ordering, request, item in roots:
        if not isinstance(root, RootPlan):
            parts.append(part_pair(root, run.principal))
            continue
        if root.kind == "connection":
            # `count`: its SELECT, or a hole of sql_of's template already in parentheses.
            count_value = count if count is None or isinstance(count, ColumnElement) else count.scalar_subquery()
            value = _page_json(root.connection, rows.subquery(item.alias) if rows is not None else None, ordering,
                               request, run, count_value)
        else:
            # No row (none, or out of the caller's scope): `null`.
            value = json_or_null(select(_node_json(item, run)).select_from(rows.subquery(item.alias)).scalar_subquery())
        parts.append((root.key, value))
    return select(json_object(parts))


# --- compiled once -----------------------------------------------------------------------------
# SQLAlchemy compiles this statement in 6-8 ms, and looking it up in its compiled cache
# walks the whole tree (~1 ms). So what does not change between requests of one caller
# (everything but the root fields' rows, when the nested lists' arguments hold no
# variables) is compiled once into SQL text with a hole per root field; each request
# compiles only the rows' SELECT (from a cache keyed by its shape, its values taken
# out), fills the holes and runs the text on the driver's connection.

TEMPLATES_PER_PLAN = 32  # per plan: callers x page shapes (a few KB of SQL each)


def _static(item: NodePlan | None) -> bool:
    return item is None or all(part[1].static for part in item.parts if isinstance(part, tuple))


def sql_of(plan: SqlPlan, principal: Any, variables: Any, compiler: SqlCompiler) -> tuple[str, list[Any]]:
    """The statement as SQL text and its parameters."""
    run = _Request(compiler, principal, variables)
    roots = _roots(plan, run)
    if not (plan.static_below and all(_static(item) for *_, item in roots)):
        one = compile_text(_statement(roots, run))
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
        template = plan.templates[shape] = compile_text(_statement(holes, run))
        if len(plan.templates) > TEMPLATES_PER_PLAN:
            plan.templates.popitem(last=False)
    else:
        plan.templates.move_to_end(shape)
    sql, parameters = template.sql, list(template.parameters)
    for i, (_, rows, count, *_) in enumerate(roots):
        for hole, statement in ((f"__rows_{i}__", rows), (f"__count_{i}__", count)):
            if statement is not None:
                piece, piece_parameters = (statement.sql_and_parameters(len(parameters)) if isinstance(statement, ByIdRows)
                                           else compiler.rows.sql_and_parameters(statement, len(parameters)))
                sql = sql.replace(hole, piece, 1)
                parameters += piece_parameters
    return sql, parameters
