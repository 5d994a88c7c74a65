"""capture/ is split by job (issue 18): no import cycle, small modules, small functions."""

from __future__ import annotations

import ast
from pathlib import Path

CAPTURE = Path(__file__).resolve().parent.parent / "carpscope" / "capture"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 50


def _imports(path: Path) -> set[str]:
    """The capture modules `path` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "carpscope.capture":
                found.update(alias.name for alias in node.names)
            elif node.module.startswith("carpscope.capture."):
                found.add(node.module.rsplit(".", 1)[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.rsplit(".", 1)[1] for a in node.names if a.name.startswith("carpscope.capture."))
    return found


def test_capture_modules_import_no_cycle():
    graph = {p.stem: _imports(p) for p in CAPTURE.glob("*.py")}
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, f"import cycle: {' -> '.join((*path, module))}"
        if module in done:
            return
        for imported in sorted(graph.get(module, ())):
            visit(imported, (*path, module))
        done.add(module)

    for module in sorted(graph):
        visit(module, ())


def test_capture_modules_and_functions_are_small():
    for path in CAPTURE.glob("*.py"):
        text = path.read_text()
        assert len(text.splitlines()) <= MAX_MODULE_LINES, f"{path.name} has over {MAX_MODULE_LINES} lines"
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                assert length <= MAX_FUNCTION_LINES, f"{path.name}: {node.name} has {length} lines"


def test_one_definition_of_the_batch_record_and_carp_length():
    root = CAPTURE.parent
    sources = [p.read_text() for p in (*root.joinpath("capture").glob("*.py"), *root.joinpath("wire").glob("*.py"))]
    assert sum(s.count('Struct("=IIII")') for s in sources) == 1
    assert sum(s.count("CARP_LEN = ") for s in sources) == 1
