"""Shared pytest fixtures."""

import sys
from pathlib import Path

import pytest

# tests/ has no __init__.py; make `import lab` work whatever pytest's import mode.
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from lab import Lab, require_lab  # noqa: E402


@pytest.fixture
def lab():
    """A fresh real-peer Lab (tests/lab.py): skipped unless root, failed instead under CI=true."""
    require_lab()
    with Lab() as the_lab:
        yield the_lab
