"""The regression corpus (tests/corpus/): each reproducer ends in time, with its exit code and key line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "corpus"
CASES = json.loads((CORPUS / "expected.json").read_text())["cases"]
DEADLINE = 10  # seconds: every reproducer here once hung, crashed or was misread


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['file']}-{c['input']}")
def test_corpus(case):
    path = CORPUS / case["file"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "carpscope", "read", "-q"]
    if case["input"] == "stdin":
        with path.open("rb") as stdin:
            result = subprocess.run([*command, "-"], stdin=stdin, capture_output=True, text=True, env=env,
                                    timeout=DEADLINE)
    else:
        result = subprocess.run([*command, str(path)], capture_output=True, text=True, env=env, timeout=DEADLINE)
    assert result.returncode == case["exit"], result.stderr
    assert "Traceback" not in result.stderr
    if case["exit"] not in (0, 1):
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    output = (result.stdout + result.stderr).splitlines()
    assert any(case["line"] in line for line in output), output


def test_every_corpus_file_has_a_case():
    files = {p.name for p in CORPUS.iterdir() if p.name != "expected.json"}
    assert files == {c["file"] for c in CASES}
