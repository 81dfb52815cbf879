"""The layers import one way only: ops -> services -> shared, platform -> domain; services never
import each other; no import cycles among the project's modules."""

from __future__ import annotations

import ast
from collections import defaultdict

from tests.support import ROOT

LAYERS = ("shared", "services", "ops")


def _modules() -> dict[str, set[str]]:
    """module -> the project modules it imports (at any depth of the file)."""
    graph: dict[str, set[str]] = {}
    for top in LAYERS:
        for path in (ROOT / top).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            found: set[str] = set()
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    found.add(node.module)
                    found.update(f"{node.module}.{a.name}" for a in node.names)
                elif isinstance(node, ast.Import):
                    found.update(a.name for a in node.names)
            graph[name] = {m for m in found if m.split(".")[0] in LAYERS}
    return graph


GRAPH = _modules()


def _layer(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "services" and len(parts) > 1 and parts[1] != "registry":
        return f"services.{parts[1]}"
    if parts[0] == "shared" and len(parts) > 1:
        return f"shared.{parts[1]}"
    return parts[0]


def test_shared_never_imports_services_or_ops_and_domain_never_imports_platform() -> None:
    for module, imports in GRAPH.items():
        if module.startswith("shared."):
            assert not [m for m in imports if m.startswith(("services", "ops"))], module
        if module.startswith("shared.domain"):
            assert not [m for m in imports if m.startswith("shared.platform")], module


def test_services_never_import_each_other_nor_ops() -> None:
    for module, imports in GRAPH.items():
        if not module.startswith("services.") or module == "services.registry":
            continue
        own = _layer(module)
        for m in imports:
            assert not m.startswith("ops"), (module, m)
            if m.startswith("services."):
                assert _layer(m) == own, f"{module} imports {m}"


def test_no_import_cycles_between_modules() -> None:
    known = set(GRAPH)
    edges = defaultdict(set)
    for module, imports in GRAPH.items():
        for m in imports:
            target = m if m in known else m.rsplit(".", 1)[0]
            if target in known and target != module:
                edges[module].add(target)
    # packages' __init__ re-export their children: an edge to a package is to its face, not a cycle
    packages = {m for m in known if (ROOT / m.replace(".", "/") / "__init__.py").exists()}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in edges[node]:
            if nxt in packages:
                continue
            if state.get(nxt) == 1:
                raise AssertionError(" -> ".join([*path, node, nxt]))
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for module in sorted(known):
        if module not in state:
            visit(module, [])
