"""The folders say what they hold, and the imports between them run one way.

Every project module is parsed with `ast`; its module-level imports are collected (not
those under `if TYPE_CHECKING:`, and not those inside functions, which run later). An
import of `a.b.c` is an edge to `a.b.c` and to the packages `a` and `a.b` it initialises
first, except the packages the importing module itself lives in (they are already
initialised when it runs). The rules:

1. the graph of module-level imports among project modules has no cycle;
2. layers do not import upward:
   - models/ and kernel/ import nothing from crm/, tiers/, resolvers/, schema/, engine/,
     server;
   - crm/ and tiers/ import nothing from resolvers/, schema/, engine/;
   - resolvers/' plumbing modules (context, loaders, scoping, ...) import nothing from
     schema/ and no resolvers/<domain>.py;
   - the direction between the two halves of a domain: `resolvers/<domain>.py` (list
     builders, Query/Mutation bodies) imports `schema/<domain>.py` (types, inputs,
     enums, payloads), never the reverse: no schema/ module but the composition
     (schema/root.py) imports a resolvers/<domain>.py module at module level. A type
     names its builders by dotted name (`connection("resolvers.customers:...")`); a
     hand-written field resolver of a type may import one inside its body, when called;
3. schema/<domain>.py holds types only: no `...Queries`/`...Mutations` class and no list
   builder (a function whose first parameter is `principal`);
4. no module in schema/, resolvers/, engine/, kernel/, crm/, tiers/ has more than 500 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "crm", "engine", "events", "kernel", "models", "resolvers", "schema", "tiers")
TOP_MODULES = ("server",)
DOMAINS = ("customers", "contacts", "opportunities", "activities", "orders", "products", "channels", "users",
           "identity", "programmes", "memberships", "segments", "analytics", "conflicts", "node", "timeline",
           "events", "webhooks", "subscriptions")
COMPOSITION = "schema.root"
SIZED = ("schema", "resolvers", "engine", "kernel", "crm", "tiers", "events")
MAX_LINES = 500


def _module_files() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    for name in TOP_MODULES:
        found[name] = ROOT / f"{name}.py"
    return found


MODULES = _module_files()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _module_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports that run when the module is imported: the module's body, and the bodies of
    its `if`/`try`/`with` blocks, except `if TYPE_CHECKING:`; never a function's or class's."""
    found: list[ast.Import | ast.ImportFrom] = []

    def walk(statements: list[ast.stmt]) -> None:
        for statement in statements:
            if isinstance(statement, (ast.Import, ast.ImportFrom)):
                found.append(statement)
            elif isinstance(statement, ast.If):
                if not _is_type_checking(statement.test):
                    walk(statement.body)
                walk(statement.orelse)
            elif isinstance(statement, ast.Try):
                for block in (statement.body, statement.orelse, statement.finalbody):
                    walk(block)
                for handler in statement.handlers:
                    walk(handler.body)
            elif isinstance(statement, ast.With):
                walk(statement.body)
    walk(tree.body)
    return found


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _targets(name: str, statement: ast.Import | ast.ImportFrom) -> set[str]:
    """The project modules an import statement in module `name` initialises."""
    imported: list[str] = []
    if isinstance(statement, ast.Import):
        imported = [alias.name for alias in statement.names]
    else:
        if statement.level:
            base = name.split(".") if _is_package(name) else name.split(".")[:-1]
            base = base[: len(base) - (statement.level - 1)]
            module = ".".join(base + ([statement.module] if statement.module else []))
        else:
            module = statement.module or ""
        imported = [module] + [f"{module}.{alias.name}" for alias in statement.names]
    own_packages = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
    if _is_package(name):
        own_packages.add(name)
    targets: set[str] = set()
    for dotted in imported:
        parts = dotted.split(".")
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            if prefix in MODULES and prefix not in own_packages and prefix != name:
                targets.add(prefix)
    return targets


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        graph[name] = set().union(*(_targets(name, s) for s in _module_level_imports(tree))) if tree.body else set()
    return graph


GRAPH = _graph()


def _layer(name: str) -> str:
    return name.split(".")[0]


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_module_level_import_graph_has_no_cycle():
    assert _find_cycle(GRAPH) is None, " -> ".join(_find_cycle(GRAPH))


def _upward(importers: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(f"{name} imports {target}" for name, targets in GRAPH.items() if _layer(name) in importers
                  for target in targets if _layer(target) in forbidden)


def test_models_and_kernel_import_no_layer_above_them():
    assert _upward(("models", "kernel"), ("crm", "tiers", "resolvers", "schema", "engine", "server")) == []


def test_the_domain_services_import_no_graphql_layer():
    assert _upward(("crm", "tiers", "events"), ("resolvers", "schema", "engine", "server")) == []


def _domain_resolvers() -> set[str]:
    return {f"resolvers.{domain}" for domain in DOMAINS}


def test_resolvers_plumbing_imports_neither_schema_nor_the_domain_resolvers():
    plumbing = [name for name in GRAPH if _layer(name) == "resolvers" and name not in _domain_resolvers()]
    found = sorted(f"{name} imports {target}" for name in plumbing for target in GRAPH[name]
                   if _layer(target) == "schema" or target in _domain_resolvers())
    assert found == []


def test_schema_modules_import_no_domain_resolvers():
    """resolvers/<domain>.py imports schema/<domain>.py, not the reverse (only the
    composition, schema/root.py, imports the domains' Query and Mutation classes)."""
    found = sorted(f"{name} imports {target}" for name, targets in GRAPH.items()
                   if _layer(name) == "schema" and name != COMPOSITION
                   for target in targets if target in _domain_resolvers())
    assert found == []


def test_every_domain_has_its_two_halves():
    assert sorted(d for d in DOMAINS if f"schema.{d}" not in MODULES or f"resolvers.{d}" not in MODULES) == []


def test_schema_domain_modules_hold_types_only():
    found = []
    for domain in DOMAINS:
        name = f"schema.{domain}"
        if name not in MODULES:
            continue
        for node in ast.parse(MODULES[name].read_text()).body:
            if isinstance(node, ast.ClassDef) and node.name.endswith(("Queries", "Mutations")):
                found.append(f"{name}.{node.name}")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                arguments = node.args.posonlyargs + node.args.args
                if arguments and arguments[0].arg == "principal":
                    found.append(f"{name}.{node.name}()")
    assert found == []


def test_no_module_is_over_500_lines():
    long = sorted(f"{name}: {len(path.read_text().splitlines())}" for name, path in MODULES.items()
                  if _layer(name) in SIZED and len(path.read_text().splitlines()) > MAX_LINES)
    assert long == []
