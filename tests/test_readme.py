"""Every `$ carpscope …` example in README.md still prints what the README shows.

The outputs in the README come from real runs: `python tests/test_readme.py --update`
rewrites them (read the diff before committing it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCK = re.compile(r"```console\n\$ (?P<command>[^\n]+)\n(?P<output>.*?)```", re.S)


def examples(text: str) -> list[re.Match]:
    return list(BLOCK.finditer(text))


def run(command: str) -> str:
    """Run a README command from the repository root, as a user without a terminal would."""
    bindir = Path(sys.executable).parent
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100", "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode in (0, 1), result.stderr
    return result.stdout


def test_the_first_command_is_the_main_job():
    first = README.read_text().split("```sh\n", 1)[1].splitlines()
    # PEP 668: Debian 12 and Ubuntu 24.04 refuse `pip install .` into the system Python.
    assert first[0].startswith("python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/carpscope read captures/")
    assert first[1] == "sudo tests/bootstrap && sudo python3 -m pytest -q"
    capture = first[0].split("carpscope read ", 1)[1].split()[0]
    assert (ROOT / capture).is_file()


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "tests/bootstrap && python3 -m pytest -q" in ci


def test_ci_installs_what_bootstrap_installs():
    """.ci/run shows its installs in plain view; they must not drift from README's bootstrap."""
    ci = (ROOT / ".ci" / "run").read_text()
    bootstrap = (ROOT / "tests" / "bootstrap").read_text()
    listed = bootstrap.split("PACKAGES=(", 1)[1].split(")", 1)[0].split()
    installed = ci.split("--no-install-recommends", 1)[1].split(">", 1)[0].replace("\\", " ").split()
    assert "apt-get update" in ci.split("apt-get install", 1)[0]
    assert set(installed) == set(listed) >= {"tcpdump", "tshark", "ucarp", "keepalived"}
    assert 'pip install --quiet --root-user-action=ignore ".[test]"' in ci


@pytest.mark.parametrize("index", range(len(examples(README.read_text()))))
def test_readme_example(index):
    if shutil.which("carpscope") is None and shutil.which("carpscope", path=str(Path(sys.executable).parent)) is None:
        pytest.fail("carpscope is not installed (pip install .)")
    example = examples(README.read_text())[index]
    if "| jq" in example["command"] and shutil.which("jq") is None and os.environ.get("CI") != "true":
        pytest.skip("jq not installed")
    assert run(example["command"]) == example["output"], example["command"]


def update() -> None:
    text = README.read_text()
    out, pos = [], 0
    for m in examples(text):
        out.append(text[pos : m.start("output")])
        out.append(run(m["command"]))
        pos = m.end("output")
    out.append(text[pos:])
    README.write_text("".join(out))


if __name__ == "__main__" and "--update" in sys.argv:
    update()
