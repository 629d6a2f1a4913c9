"""The package's modules import on their own, and no two of them import each other, even indirectly.

A cycle (model -> hub -> model) makes the import order matter and hides which module owns what;
imports inside functions count too, since they only postpone the cycle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "textcnn"
MODULES = sorted(f"textcnn.{path.stem}" for path in PACKAGE.glob("*.py") if path.stem != "__main__")


def imported_modules(path: Path) -> set[str]:
    """The ``textcnn`` modules ``path`` imports, anywhere in the file (top level, functions, TYPE_CHECKING)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("textcnn")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "textcnn":
            if node.module == "textcnn":  # from textcnn import model
                found |= {f"textcnn.{alias.name}" for alias in node.names}
            else:
                found.add(node.module)
    return found


def import_graph() -> dict[str, set[str]]:
    return {f"textcnn.{path.stem}": imported_modules(path) - {f"textcnn.{path.stem}"} for path in PACKAGE.glob("*.py")}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path (first module repeated at the end), or None."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" once fully explored
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_sees_imports_inside_functions(tmp_path):
    source = tmp_path / "example.py"
    source.write_text("import os\nfrom textcnn.vocab import Vocab\n\ndef f():\n    from textcnn import model\n")
    assert imported_modules(source) == {"textcnn.vocab", "textcnn.model"}


def test_no_import_cycles_in_the_package():
    graph = import_graph()
    assert "textcnn.model" in graph and "textcnn.hub" in graph["textcnn.pipeline"]  # the graph is the real one
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph))}"


def test_every_module_imports_in_a_fresh_interpreter():
    script = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\nprint('ok')\n"
    result = subprocess.run([sys.executable, "-c", script, *MODULES], capture_output=True, text=True, timeout=300,
                            cwd=PACKAGE.parent)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]
