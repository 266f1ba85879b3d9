"""Dependencies run one way: workflows -> assets -> transforms -> storage. No module under
assets/ imports workflows, and no two packages under assets/ import each other (lazy imports
inside functions included: they are dependencies all the same)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def _package(path: Path) -> str:
    rel = path.relative_to(ASSETS)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _package_edges() -> dict[tuple[str, str], list[str]]:
    edges: dict[tuple[str, str], list[str]] = {}
    for path in ASSETS.rglob("*.py"):
        src = _package(path)
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] != "assets" or len(parts) < 2:
                continue
            dst = parts[1]
            if dst != src and ((ASSETS / dst).is_dir() or (ASSETS / f"{dst}.py").exists()):
                edges.setdefault((src, dst), []).append(str(path.relative_to(ROOT)))
    return edges


def test_no_module_in_assets_imports_workflows():
    offenders = [
        str(p.relative_to(ROOT))
        for p in ASSETS.rglob("*.py")
        if any(n == "workflows" or n.startswith("workflows.") for n in _imports(p))
    ]
    assert offenders == []


def test_no_two_packages_under_assets_import_each_other():
    edges = _package_edges()
    both_ways = sorted(
        f"{a} <-> {b}: {edges[(a, b)][0]} / {edges[(b, a)][0]}"
        for (a, b) in edges
        if (b, a) in edges and a < b
    )
    assert both_ways == []


def test_the_walk_sees_the_real_dependencies():
    # guards the test itself: these edges exist, so an empty result above means something
    edges = _package_edges()
    assert ("categorised", "reference") in edges
    assert ("validated", "zeek") in edges
