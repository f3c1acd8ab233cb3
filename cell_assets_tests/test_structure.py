"""The house rules of ARCHITECTURE.md, read from the source: layers, no import cycle, where the
environment is read.

Every ``import`` counts, the lazy ones inside functions too: a cycle that only
closes when a function runs is still a cycle a reader has to untangle.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cell_assets"

# Top to bottom: a layer may import the layers below it, never those above.
LAYERS = [
    ("definitions",),
    ("cli",),
    tuple(f"orchestration.{m}" for m in ("jobs", "sensors", "run_queue", "uploads")),
    ("assets",),
    tuple(f"orchestration.{m}" for m in ("partitions", "run_tags", "resources", "io_manager",
                                         "config", "placement", "checks"))
    + ("orchestration",),
    ("stages",),
    ("synthetic",),
    ("storage",),
    ("formats",),
    ("imaging",),
    ("columns", "identifiers", "errors", "pipelining", "terminal", "parameters", "environment"),
]  # fmt: skip
DAGSTER_FREE = ("imaging", "formats", "storage", "stages", "synthetic", "columns", "identifiers",
                "errors", "pipelining", "terminal", "parameters", "environment")  # fmt: skip
# Only the edges read the environment: the code location and the command.
READS_ENVIRONMENT = ("definitions", "cli")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name: str) -> set[str]:
    """The cell_assets modules ``name`` imports, anywhere in its source."""
    tree = ast.parse(MODULES[name].read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in MODULES else node.module)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: _imports(name) for name in MODULES}


def _layer(name: str) -> int | None:
    short = name.removeprefix("cell_assets.")
    for position, members in enumerate(LAYERS):
        if any(short == m or short.startswith(m + ".") for m in members):
            return position
    return None


def test_every_module_has_a_layer():
    assert [m for m in MODULES if m != "cell_assets" and _layer(m) is None] == []


def test_imports_only_point_down():
    upward = [
        f"{name} → {target}"
        for name, targets in GRAPH.items()
        for target in targets
        if _layer(name) is not None and _layer(target) is not None and _layer(target) < _layer(name)
    ]
    assert upward == []


def test_no_import_cycle_anywhere():
    """Tarjan's strongly connected components of the whole import graph, lazy imports included."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            # a package's __init__ importing its own children is not a cycle of code
            real = [m for m in component if not any(c.startswith(m + ".") for c in component)]
            if len(real) > 1:
                cycles.append(sorted(component))

    for node in GRAPH:
        if node not in index:
            visit(node)
    assert cycles == []


def test_stages_do_not_import_other_stages():
    crossing = [
        f"{name} → {target}"
        for name, targets in GRAPH.items()
        if name.startswith("cell_assets.stages.")
        for target in targets
        if target.startswith("cell_assets.stages.")
    ]
    assert crossing == []


@pytest.mark.parametrize("layer", DAGSTER_FREE)
def test_the_lower_layers_are_dagster_free(layer):
    offenders = []
    for name, path in MODULES.items():
        short = name.removeprefix("cell_assets.")
        if short == layer or short.startswith(layer + "."):
            text = path.read_text()
            if "import dagster" in text or "from dagster" in text:
                offenders.append(name)
    assert offenders == []


def test_the_environment_is_read_only_at_the_edges():
    readers = defaultdict(list)
    for name, path in MODULES.items():
        short = name.removeprefix("cell_assets.")
        if any(short == e or short.startswith(e + ".") for e in READS_ENVIRONMENT):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"):
                readers[name].append(node.lineno)
    assert dict(readers) == {}
