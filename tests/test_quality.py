"""ruff and mypy are clean (issue 18), with the configuration in pyproject.toml.

Both come with the test extra (`pip install .[test]`), so CI runs them through this module.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_is_clean_with_the_project_configuration():
    """--config names pyproject.toml, so a ruff.toml above the checkout cannot win."""
    done = _run("ruff", "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"), ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_is_clean():
    done = _run("mypy", "--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", "/dev/null")
    assert done.returncode == 0, done.stdout + done.stderr
