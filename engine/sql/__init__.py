"""The `sql` path: the answer of a read query in ONE SQL statement, built as JSON by
PostgreSQL.

Each page is a `LIMIT n + 1` subquery, each nested page a subquery correlated to its
parent's row, each to-one relation a scoped subquery, each node a JSON object of its
fields written exactly as the GraphQL scalars and enums would write them, each
connection's edges and pageInfo built around its page. The JSON is concatenated text
(engine/sql/common.py's builders), which costs PostgreSQL half of json_build_object. Python encodes the cursors and
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

from engine.sql.answer import PythonFieldFailed, RawJSON, finish, resolve_by_graphql_core
from engine.sql.common import Refused, Unsupported
from engine.sql.plan import PythonField, RootPlan, SqlCompiler, SqlPlan, table_of
from engine.sql.statement import sql_of

__all__ = ["PythonField", "PythonFieldFailed", "RawJSON", "Refused", "RootPlan", "SqlCompiler", "SqlPlan", "Unsupported",
           "finish", "resolve_by_graphql_core", "sql_of", "table_of"]
