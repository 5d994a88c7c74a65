"""election/ stays readable (issue 18): small modules and functions, kinds from one catalogue."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from carpscope import findings

ELECTION = Path(__file__).resolve().parents[1] / "carpscope" / "election"
MODULES = sorted(ELECTION.glob("*.py"))


def test_tracker_and_every_election_module_are_small():
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in MODULES}
    assert sizes["tracker.py"] < 500
    assert not {name: n for name, n in sizes.items() if n > 400}


def test_no_election_function_is_over_50_lines():
    long = []
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.end_lineno - node.lineno + 1 > 50:
                long.append(f"{path.name}:{node.name}")
    assert not long


def test_finding_kinds_are_named_by_the_catalogue():
    """No module of election/ spells a finding kind as a bare string: it names findings.py's constant."""
    kinds = set(findings.SEVERITY)
    causes = {("events.py", "demoted")}  # events.DEMOTED, the cause of a master change, shares the word
    bare = []
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in kinds and (path.name, node.value) not in causes:
                bare.append(f"{path.name}:{node.lineno} {node.value}")
    assert not bare


def test_every_catalogued_kind_has_a_severity_and_a_constant():
    text = (ELECTION.parent / "findings.py").read_text(encoding="utf-8")
    constants = dict(re.findall(r'^([A-Z][A-Z0-9_]*) = "([a-z][a-z0-9-]*)"', text, re.M))
    assert set(constants.values()) == set(findings.SEVERITY)
    assert all(getattr(findings, name) == kind for name, kind in constants.items())
