"""The package's shape: no import circle, layered packages, small modules, config a torch-free leaf.

Every import counts, at module level, inside a function or under ``TYPE_CHECKING``: an import
deferred into a function still couples the two modules, and a circle of them only works by luck
of call order.
"""

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


def _import_graph(*, deferred: bool = True) -> dict[str, set[str]]:
    """Module -> ablate modules it imports: every import anywhere in the module, or with
    ``deferred=False`` only those run at import time (module level, not under TYPE_CHECKING)."""
    modules = {_module_name(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for mod, path in modules.items():
        tree = ast.parse(path.read_text())
        deps: set[str] = set()
        for node in tree.body:
            if not deferred and isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            walk = deferred or isinstance(node, (ast.If, ast.Try))
            for sub in ast.walk(node) if walk else [node]:
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
    """Not even through an import inside a function or under TYPE_CHECKING."""
    assert _cycle(_import_graph()) is None


# The layers, as data: each package (a top-level module counts as one) and the packages it may
# import. Everything may import the leaves (`LEAVES`). A new arrow is a decision: add it here only
# if it points down (the test below checks that these arrows form no circle).
LEAVES = {"ablate", "errors", "atomic"}
ALLOWED: dict[str, set[str]] = {
    "config": set(),
    "models": {"config"},
    "data": {"config"},
    "results": {"config", "models"},
    "engine": {"config", "data", "models", "results"},
    "search": {"config", "models", "results"},
    "replay": {"config", "results", "search"},
    "report": {"config", "engine", "models", "results", "search"},
    "probe": {"config", "data", "engine", "models", "report", "results"},
    "weights": {"config", "data", "models", "search"},
    "study": {"config", "data", "models", "probe", "results", "search", "weights"},
    "tracking": {"config"},
    "runners": {"config", "engine", "models", "probe", "results", "search", "study", "tracking"},
    "runners.ray": {"config", "engine", "probe", "replay", "results", "runners", "search", "study", "tracking"},
    "api": {"config", "data", "engine", "report", "results", "runners", "runners.ray", "study"},
    "cli": {"api", "cli_data", "cli_probe", "cli_results", "cli_weights", "config", "models", "replay", "report",
            "study"},
    "cli_data": {"config", "data"},
    "cli_probe": {"api", "probe"},
    "cli_results": {"api"},
    "cli_weights": {"models", "weights"},
}


def _package(module: str) -> str:
    parts = module.split(".")[1:]
    if parts[:2] == ["runners", "ray"]:
        return "runners.ray"
    return parts[0] if parts else "ablate"


def _package_arrows() -> dict[tuple[str, str], list[str]]:
    arrows: dict[tuple[str, str], list[str]] = {}
    for mod, deps in _import_graph().items():
        for d in deps:
            a, b = _package(mod), _package(d)
            if a != b and b not in LEAVES:
                arrows.setdefault((a, b), []).append(f"{mod} -> {d}")
    return arrows


def test_packages_import_only_down_the_layers():
    wrong = {f"{a} -> {b}": sorted(via)[:2] for (a, b), via in _package_arrows().items()
             if b not in ALLOWED.get(a, set())}
    assert not wrong, f"imports against the layers (fix them, or add the arrow to ALLOWED if it points down): {wrong}"


def test_the_layers_form_no_circle():
    assert _cycle({a: set(bs) for a, bs in ALLOWED.items()}) is None
    assert set().union(*ALLOWED.values()) <= set(ALLOWED), "an arrow to a package the layers do not name"


def test_the_cycle_finder_finds_a_planted_circle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_config_is_a_leaf():
    graph = _import_graph(deferred=False)
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
