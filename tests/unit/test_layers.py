"""The folder tree is the architecture: every import points down the layers, and no
two packages (or modules) import each other, directly or round a loop."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import mrsjobs

ROOT = Path(mrsjobs.__file__).parent

#: Bottom first. A module may import its own package and anything in a lower layer;
#: packages of one layer may import each other as long as no loop forms.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"domain", "settings", "telemetry"}),
    frozenset({"store", "containment"}),
    frozenset({"engines", "identity"}),
    frozenset({"service", "supervisor"}),
    frozenset({"bootstrap", "api", "cli"}),
)
LAYER_OF = {top: i for i, layer in enumerate(LAYERS) for top in layer}


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        if rel.parts[0] == "store" and "migrations" in rel.parts:
            continue  # Alembic's scripts, run by Alembic, not imported by the package
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        if parts and parts[-1] != "__main__":
            yield ".".join(parts), path


def imports(name: str, path: Path) -> set[str]:
    """The mrsjobs modules ``name`` imports, at module level or inside functions."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    known = dict(modules())
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, *(node.module or "").split(".")]).strip(".")
            elif node.module and node.module.startswith("mrsjobs."):
                target = node.module.removeprefix("mrsjobs.")
            else:
                continue
            for alias in node.names:  # `from . import x` may name a module
                sub = f"{target}.{alias.name}" if target else alias.name
                found.add(sub if sub in known else target)
        elif isinstance(node, ast.Import):
            found.update(a.name.removeprefix("mrsjobs.") for a in node.names
                         if a.name.startswith("mrsjobs."))
    return {t for t in found if t in known and t != name}


def graph() -> dict[str, set[str]]:
    return {name: imports(name, path) for name, path in modules()}


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One loop in the graph, or None."""
    state: dict[str, int] = {}
    trail: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        trail.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*trail[trail.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        trail.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def top(module: str) -> str:
    return module.split(".")[0]


def test_every_package_has_a_layer() -> None:
    assert {top(name) for name, _ in modules() if name} - set(LAYER_OF) == set()


def test_no_import_points_up() -> None:
    upward = sorted(f"{src} -> {dst}" for src, targets in graph().items() for dst in targets
                    if LAYER_OF[top(dst)] > LAYER_OF[top(src)])
    assert upward == []


def test_no_two_packages_import_each_other() -> None:
    packages: dict[str, set[str]] = {}
    for src, targets in graph().items():
        packages.setdefault(top(src), set()).update(top(t) for t in targets
                                                    if top(t) != top(src))
    assert cycle(packages) is None


def test_no_two_modules_import_each_other() -> None:
    assert cycle(graph()) is None


def test_the_checks_see_a_loop() -> None:
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None
