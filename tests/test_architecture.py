"""The house rules between packages: no import circle in `src/`, and no sibling's `actions` module
imported except through the flows (issue 19).

The graph is built from the source with `ast`, so an import inside a function counts as much as one at the
top of the file: it runs as surely, only later. Imports under `if TYPE_CHECKING:` are left out, since they
never run; they name a type, not a dependency of the running code.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
ROOT = "staydown"


def _modules() -> dict[str, Path]:
    """Every module under src/staydown by dotted name (a package by its own name, not `...__init__`)."""
    found = {}
    for path in sorted((SRC / ROOT).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if "migrations" in parts:
            continue  # Alembic's scripts are loaded by file, not imported
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of `staydown` that `module` imports anywhere in its file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    targets: set[str] = set()

    def resolve(name: str) -> str | None:
        # The longest dotted prefix that is a module of ours ("a.b.c" from "a.b" when c is a name in a.b).
        while name:
            if name in modules:
                return name
            name = name.rpartition(".")[0]
        return None

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == ROOT and (hit := resolve(alias.name)):
                    targets.add(hit)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            if prefix.split(".")[0] != ROOT:
                return
            for alias in node.names:
                if hit := resolve(f"{prefix}.{alias.name}"):
                    targets.add(hit)
        for inner in ast.iter_child_nodes(node):
            visit(inner)

    visit(tree)
    targets.discard(module)
    return targets


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def _describe(component: list[str], graph: dict[str, set[str]]) -> str:
    members = set(component)
    edges = [f"  {a} -> {b}" for a in component for b in sorted(graph[a] & members)]
    return f"{len(component)} modules:\n" + "\n".join(edges)


def test_the_graph_sees_imports_inside_functions_and_relative_ones():
    """The checker itself: an import hidden in a function, or written relatively, is an edge."""
    graph = import_graph()
    assert "staydown.db" in graph and "staydown.cases.actions" in graph
    # A made-up circle through a function-level import is found.
    fake = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(fake) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_in_src():
    """Issue 19: no module of src/ reaches itself through imports, function-level ones included."""
    graph = import_graph()
    found = cycles(graph)
    assert not found, "import circles:\n" + "\n\n".join(_describe(c, graph) for c in found)


# Packages whose `actions` another package may call directly: the flows orchestrate the rest.
FLOWS = {"staydown.flows"}


def test_the_layers_are_matched_by_whole_names():
    """`staydown.app` is an entry point; `staydown.appeals` is not, although its name starts the same."""
    assert _within("staydown.appeals.filing") == {"staydown.appeals", "staydown.appeals.filing"}
    assert "staydown.app" not in _within("staydown.appeals")
    assert "staydown.flows" in _within("staydown.flows.decisions")


def _within(module: str) -> set[str]:
    """The module and the packages it sits in, below the root: a.b.c -> {a.b, a.b.c}."""
    return {".".join(module.split(".")[:n]) for n in range(2, module.count(".") + 2)}


def test_no_package_imports_a_siblings_actions_except_the_flows():
    """Issue 19: `x.actions` is the state changes of package x; another package reaches them through a flow.

    The web and API layers (`web`, `*.api`, `cli`, `app`, `hma`) sit above every package and may call any
    package's actions; packages of the domain may not call each other's.
    """
    graph = import_graph()
    above = {"staydown.web", "staydown.cli", "staydown.cli_support", "staydown.app", "staydown.hma", "staydown.jobs"}
    above |= {"staydown.runtime", "staydown.intake.writer"}
    offenders = []
    for module, targets in graph.items():
        if _within(module) & (FLOWS | above) or module.endswith((".api", ".cli")):
            continue
        own = module.split(".")[1] if module.count(".") >= 1 else ""
        for target in targets:
            parts = target.split(".")
            if len(parts) == 3 and parts[2] == "actions" and parts[1] != own:
                offenders.append(f"{module} -> {target}")
    assert not offenders, "sibling actions imported outside the flows:\n" + "\n".join(sorted(offenders))
