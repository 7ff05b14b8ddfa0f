"""The product code's structure: no import circles, and no module reads another's underscore-named members.

Read from the source (``ast``), so it covers imports inside functions and under TYPE_CHECKING too.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE_TREES = [REPO / "instrumentation/src", REPO / "sidecar/src", REPO / "client/src"]
# Underscore names that are public API elsewhere: namedtuple's and SQLAlchemy Row's methods, os._exit.
PUBLIC_UNDERSCORE_NAMES = {"_replace", "_asdict", "_fields", "_mapping", "_exit"}


def modules() -> dict[str, tuple[Path, bool]]:
    """Every product module by dotted name: its file, and whether it is a package's __init__."""
    found = {}
    for root in SOURCE_TREES:
        for path in root.rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            package = parts[-1] == "__init__"
            found[".".join(parts[:-1] if package else parts)] = (path, package)
    return found


def imported(name: str, package: bool, node: ast.Import | ast.ImportFrom, known: dict) -> list[str]:
    """The product modules an import statement loads (the innermost known module of each name)."""
    if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            parts = name.split(".") if package else name.split(".")[:-1]
            parts = parts[: len(parts) - node.level + 1]
            base = ".".join([*parts, *([node.module] if node.module else [])])
        targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
    result = []
    for target in targets:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            result.append(target)
    return result


def test_no_import_circles_in_the_product_code() -> None:
    known = modules()
    graph = {
        name: {
            target
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Import | ast.ImportFrom)
            for target in imported(name, package, node, known)
        }
        for name, (path, package) in known.items()
    }
    circles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                circles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(circle) for circle in circles)


def private(name: str) -> bool:
    return name.startswith("_") and not name.endswith("__") and name not in PUBLIC_UNDERSCORE_NAMES


def defined_names(tree: ast.Module) -> set[str]:
    """Names a module defines itself (functions, classes, assigned names and attributes, slots): its own
    code may read them on its own objects."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__slots__" for t in node.targets):
            names |= {e.value for e in ast.walk(node.value) if isinstance(e, ast.Constant) and isinstance(e.value, str)}
    return names


def test_no_module_reads_another_modules_underscore_named_members() -> None:
    reads = []
    for path, _ in sorted(modules().values()):
        tree = ast.parse(path.read_text())
        own = defined_names(tree)
        where = path.relative_to(REPO)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("jobpulse")):
                reads += [f"{where}:{node.lineno}: imports {alias.name}" for alias in node.names if private(alias.name)]
            elif isinstance(node, ast.Attribute) and private(node.attr) and node.attr not in own:
                reads.append(f"{where}:{node.lineno}: reads {ast.unparse(node)}")
    assert not reads, "underscore-named members read from another module:\n" + "\n".join(reads)
