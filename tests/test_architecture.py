"""The architecture holds (issue 18): a pure core, no import cycle, small modules and functions.

Everything here reads the source with `ast`; nothing is imported or run.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "carpscope"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 50
WHY_LONGER = re.compile(r"^\s*Longer than 400 lines because \S", re.M)

# Functions allowed over MAX_FUNCTION_LINES, each with its reason. Empty: split instead.
LONG_FUNCTIONS: dict[str, str] = {}

# The sans-I/O core (docs/design.md, principle 1): decoding, election, verification, the
# pipeline, the values and the views take bytes and times in and hand values out.
PURE = sorted(
    {
        *PACKAGE.glob("wire/*.py"),
        *PACKAGE.glob("election/*.py"),
        *PACKAGE.glob("auth/*.py"),
        *(PACKAGE / f"{name}.py" for name in ("pipeline", "summary", "model", "findings", "metrics", "check")),
        *(p for p in PACKAGE.glob("views/*.py") if p.name != "progress.py"),  # progress.py is the progress thread
    }
)

# Modules that do I/O, read a clock, or drive processes, threads or terminals.
IO_MODULES = {
    "asyncio", "click", "concurrent", "fcntl", "glob", "http", "io", "logging", "mmap", "multiprocessing",
    "os", "pathlib", "pcapy", "pty", "select", "selectors", "shutil", "signal", "socket", "socketserver",
    "subprocess", "sys", "tempfile", "termios", "threading", "time", "tty", "urllib",
}
# Submodules of otherwise pure libraries that print, serve or read the terminal.
IO_SUBMODULES = {"rich.console", "rich.live", "rich.progress", "prometheus_client.exposition"}
# The only attributes of `socket` a pure module may use: address formatting, no socket.
PURE_SOCKET = {"inet_ntop", "inet_pton", "AF_INET", "AF_INET6"}
CLOCK_READS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter"}
IO_BUILTINS = {"open", "print", "input", "breakpoint"}


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _type_checking_only(tree: ast.Module) -> set[ast.AST]:
    """Imports under `if TYPE_CHECKING:` run at type-check time only."""
    guarded = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                guarded.update(ast.walk(child))
    return guarded


def _imported_names(tree: ast.Module, path: Path):
    """(line, dotted name) for every import in the module, at the top or inside a function."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, path)
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}" if base else alias.name


def _absolute(node: ast.ImportFrom, path: Path) -> str:
    """The absolute module a `from … import` reads, resolving leading dots against `path`."""
    if not node.level:
        return node.module or ""
    package = _module_name(path).split(".")
    if not _is_package(path):
        package = package[:-1]
    package = package[: len(package) - (node.level - 1)]
    return ".".join([*package, node.module] if node.module else package)


# (a) the pure core imports no I/O


def _imports_io(name: str) -> bool:
    top, _, rest = name.partition(".")
    if top == "socket":
        return bool(rest) and rest not in PURE_SOCKET
    return top in IO_MODULES or any(name == m or name.startswith(m + ".") for m in IO_SUBMODULES)


def _io_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = []
    for line, name in _imported_names(tree, path):
        if _imports_io(name):
            bad.append(f"{_rel(path)}:{line} imports {name}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "socket" and node.attr not in PURE_SOCKET:
                bad.append(f"{_rel(path)}:{node.lineno} uses socket.{node.attr}")
            if node.attr in CLOCK_READS and node.value.id in {"datetime", "date", "_dt", "time"}:
                bad.append(f"{_rel(path)}:{node.lineno} reads the clock ({node.value.id}.{node.attr})")
        if isinstance(node, ast.Attribute) and node.attr in {"now", "utcnow", "today"}:
            bad.append(f"{_rel(path)}:{node.lineno} reads the clock (.{node.attr})")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in IO_BUILTINS:
            bad.append(f"{_rel(path)}:{node.lineno} calls {node.func.id}()")
    return sorted(set(bad))


@pytest.mark.parametrize("path", PURE, ids=_rel)
def test_pure_module_does_no_io(path):
    assert not _io_uses(path)


def test_the_io_check_sees_function_level_imports_and_clock_reads(tmp_path):
    """The check itself: an import inside a function, a clock read and a print are all caught."""
    source = tmp_path / "fake.py"
    source.write_text(
        "import socket\nfrom rich.text import Text\n"
        "def f():\n    import os\n    from time import monotonic\n    return socket.inet_ntop(socket.AF_INET, b'')\n"
        "def g(datetime):\n    print(datetime.datetime.now())\n    return socket.socket()\n"
    )
    found = " ".join(_io_uses(source))
    for expected in ("imports os", "imports time.monotonic", "calls print()", "reads the clock", "socket.socket"):
        assert expected in found
    assert "rich.text" not in found and "inet_ntop" not in found


# (b) no import cycle


def _import_graph() -> dict[str, set[str]]:
    """carpscope module -> the carpscope modules it imports (function-level imports count too)."""
    paths = {_module_name(p): p for p in _modules()}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        guarded = _type_checking_only(tree)
        edges = set()
        for node in ast.walk(tree):
            if node in guarded or not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for _, dotted in _imported_names(ast.Module(body=[node], type_ignores=[]), path):
                target = _resolve(dotted, paths)
                if target and target != name:
                    edges.add(target)
        graph[name] = edges
    return graph


def _resolve(dotted: str, paths: dict[str, Path]) -> str | None:
    """The longest carpscope module that `dotted` (a module, or a module's attribute) names."""
    parts = dotted.split(".")
    while parts:
        if ".".join(parts) in paths:
            return ".".join(parts)
        parts.pop()
    return None


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        for imported in sorted(graph.get(module, ())):
            cycle = visit(imported, [*path, module])
            if cycle:
                return cycle
        done.add(module)
        return None

    for module in sorted(graph):
        cycle = visit(module, [])
        if cycle:
            return cycle
    return None


def test_no_import_cycle_among_carpscope_modules():
    cycle = _find_cycle(_import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or ())


def test_the_graph_resolves_relative_and_absolute_imports_and_finds_a_cycle():
    graph = _import_graph()
    assert {"carpscope.wire.decode", "carpscope.auth"} <= graph["carpscope.pipeline"]  # a module, a package's name
    assert all(target.startswith("carpscope") for targets in graph.values() for target in targets)
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    node = ast.parse("from ..wire import decode").body[0]
    assert _absolute(node, PACKAGE / "election" / "tracker.py") == "carpscope.wire"  # type: ignore[arg-type]


# (c) small modules and functions


def test_no_module_over_400_lines_unless_its_docstring_says_why():
    long = []
    for path in _modules():
        text = path.read_text(encoding="utf-8")
        why = WHY_LONGER.search(ast.get_docstring(ast.parse(text)) or "")
        if len(text.splitlines()) > MAX_MODULE_LINES and not why:
            long.append(f"{_rel(path)}: {len(text.splitlines())} lines")
    assert not long


def test_no_function_over_50_lines():
    long = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                where = f"{_rel(path)}:{node.name}"
                if length > MAX_FUNCTION_LINES and where not in LONG_FUNCTIONS:
                    long.append(f"{where} has {length} lines")
    assert not long


def test_every_package_is_installed():
    """pyproject lists its packages by hand: a new one left off installs a broken carpscope."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    listed = set(re.findall(r'"(carpscope[a-z_.]*)"', re.search(r"^packages = \[(.*?)\]", text, re.M | re.S)[1]))
    assert listed == {_module_name(p) for p in PACKAGE.rglob("__init__.py")}


# (d) a repository that stands on its own

# The reference notes the project started from live outside the repository; docs/ restates
# them, so code, tests and docs cite docs/protocol.md and docs/design.md instead.
OUTSIDE = re.compile(r"(?<![\w/])(?:PROTOCOL|DESIGN)\.md|\.\./shared\b|/work/" + "shared")


def test_no_reference_points_outside_the_repository():
    import subprocess

    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    found = []
    for name in listed:
        path = ROOT / name
        if path.suffix in (".pcap", ".gz", ".png", ".pcapng") or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        found += [f"{name}:{n}" for n, line in enumerate(text.splitlines(), 1) if OUTSIDE.search(line)]
    assert listed and not found
