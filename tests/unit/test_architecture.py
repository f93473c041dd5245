"""The package's shape: no import circle, small modules, config a torch-free leaf."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "ablate"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(mod: str, node: ast.ImportFrom, is_pkg: bool) -> str:
    if not node.level:
        return node.module or ""
    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _import_graph() -> dict[str, set[str]]:
    """Module -> ablate modules it imports at import time (module level, not under TYPE_CHECKING)."""
    modules = {_module_name(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for mod, path in modules.items():
        tree = ast.parse(path.read_text())
        deps: set[str] = set()
        for node in tree.body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            for sub in ast.walk(node) if isinstance(node, (ast.If, ast.Try)) else [node]:
                names: list[str] = []
                if isinstance(sub, ast.Import):
                    names = [a.name for a in sub.names]
                elif isinstance(sub, ast.ImportFrom):
                    target = _resolve(mod, sub, path.name == "__init__.py")
                    names = [target] + [f"{target}.{a.name}" for a in sub.names]
                for n in names:
                    while n and n not in modules:
                        n = n.rpartition(".")[0]
                    if n and n != mod:
                        deps.add(n)
        graph[mod] = deps
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if d.startswith(m + "."):
                continue  # a package importing its own submodules is not a circle
            if state.get(d) == 1 and not m.startswith(d + "."):
                return stack[stack.index(d):] + [d]
            if d not in state:
                found = visit(d)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_no_import_circle():
    assert _cycle(_import_graph()) is None


def test_the_cycle_finder_finds_a_planted_circle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_config_is_a_leaf():
    graph = _import_graph()
    for mod, deps in graph.items():
        if mod == "ablate.config" or mod.startswith("ablate.config."):
            outside = {d for d in deps if not d.startswith("ablate.config")} - {"ablate.errors", "ablate"}
            assert not outside, f"{mod} imports {outside}"


def test_modules_are_small():
    sizes = {p: len(p.read_text().splitlines()) for p in PKG.rglob("*.py")}
    big = {str(p.relative_to(PKG)): n for p, n in sizes.items() if n > 420}
    assert not big, f"modules over ~400 lines: {big}"
    ray = {str(p.relative_to(PKG)): n for p, n in sizes.items()
           if "runners/ray/" in p.as_posix() and n > 250}
    assert not ray, f"Ray adapter modules over 250 lines: {ray}"
