"""The manual page, man/carpscope.1: it lints clean and documents what the CLI has.

Options are compared in both directions: every option `--help` lists must be in the
page as `.Fl x` / `.Fl -long`, and every `.Fl` in the page must be a real option (the
page writes other programs' flags literally, with .Ql or in displays, never with .Fl).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from carpscope import cli

ROOT = Path(__file__).resolve().parents[1]
MANUAL = ROOT / "man" / "carpscope.1"

# Finding kinds users can meet, by who emits them (docs/design.md keeps the list open:
# kinds are added, never renamed). Kinds found in the source are added below.
FINDING_KINDS = {
    # decoders (carpscope/wire)
    "bad-ttl", "bad-checksum", "malformed", "short-capture", "ambiguous", "fragmented", "trailing-bytes",
    # the CLI
    "truncated-capture", "capture-lost",
    # signature verifier and election tracker
    "split-brain", "passphrase-mismatch", "vip-mismatch", "hmac-failed", "no-passphrase", "vrrp-collision",
    "vhid-collision", "advbase-mismatch", "skew-tie", "demoted", "flapping", "looped-advert",
    "replayed-advert", "slow-failover", "vips-unknown", "stale-key", "gui-passphrase", "signature-budget",
    "limit-reached",
}
EVENT_KINDS = {"master-elected", "master-changed", "master-down", "split-brain-started",
               "split-brain-ended", "parameters-changed"}
EVENT_CAUSES = {"master-silent", "preempted", "demoted", "resigned", "unknown"}

# mdoc macros that can follow .Fl on the same line and end its arguments.
_CALLABLE = set(
    "Ac Ao Ap Aq Ar At Bc Bo Bq Brc Bro Brq Bsx Bx Cm Dc Do Dq Dv Dx Ec Em En Eo Er Ev Fa Fc Fl Fn Fo "
    "Fr Fx Ic Li Lk Ms Mt Nm No Ns Nx Oc Oo Op Ox Pa Pc Pf Po Pq Qc Ql Qo Qq Sc So Sq Sx Sy Ta Tn Ux "
    "Va Vt Xc Xo Xr".split()
)
_DELIMITERS = set("( [ ) ] . , ; : ? ! |".split())


def manual_source() -> str:
    return MANUAL.read_text(encoding="utf-8")


def section(name: str) -> list[str]:
    """The source lines of one `.Sh` section, without its heading."""
    lines, inside = [], False
    for line in manual_source().splitlines():
        if line.startswith(".Sh "):
            inside = line[4:].strip().strip('"') == name
            continue
        if inside:
            lines.append(line)
    assert lines, f"no .Sh {name} section in {MANUAL}"
    return lines


def macro_words(line: str) -> list[str]:
    """The words of a macro line, quotes honoured, the leading dot dropped."""
    try:
        return shlex.split(line[1:].replace("\\&", ""), posix=True)
    except ValueError:
        return line[1:].split()


def documented_options() -> dict[str, int]:
    """Every option the page marks up with .Fl, with the line it first appears on.

    `.Fl qV` is `-q -V`, `.Fl -pass-file` is `--pass-file`, `.Fl p Ar x , Fl -pass` is `-p --pass`.
    """
    found: dict[str, int] = {}
    in_display = False
    for number, line in enumerate(manual_source().splitlines(), 1):
        if line.startswith((".Bd", ".Ed")):
            in_display = line.startswith(".Bd")
        if in_display or not line.startswith(".") or line.startswith('.\\"'):
            continue
        words = macro_words(line)
        for i, word in enumerate(words):
            if word != "Fl":
                continue
            for arg in words[i + 1 :]:
                if arg in _CALLABLE:
                    break
                if arg in _DELIMITERS:
                    continue
                if arg.startswith("-"):
                    names = [f"-{arg}"]
                elif len(arg) > 1:
                    names = [f"-{letter}" for letter in arg]  # .Fl qV
                else:
                    names = [f"-{arg}"]
                for name in names:
                    found.setdefault(name, number)
    return found


_OPTION_LINE = re.compile(r"^  (-[^\s,]+(?:, -[^\s,]+)*)")


def help_options(*args: str) -> set[str]:
    """The options click's `--help` lists for a command (aliases included)."""
    result = CliRunner().invoke(cli.main, [*args, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    options, inside = set(), False
    for line in result.output.splitlines():
        if line.strip() == "Options:":
            inside = True
            continue
        if inside and line and not line.startswith(" "):
            inside = False
        if inside and (m := _OPTION_LINE.match(line)):
            options.update(m.group(1).split(", "))
    assert options, result.output
    return options


def all_help_options() -> dict[str, set[str]]:
    commands = {"carpscope": ()} | {f"carpscope {name}": (name,) for name in cli.main.commands}
    return {label: help_options(*args) for label, args in commands.items()}


# -- (a) the page lints clean ------------------------------------------------------


def test_mandoc_lint_is_clean():
    mandoc = shutil.which("mandoc")
    if mandoc is None:
        if os.environ.get("CI") == "true":
            pytest.fail("mandoc is not installed (tests/bootstrap installs it)")
        pytest.skip("mandoc is not installed")
    result = subprocess.run([mandoc, "-Tlint", "-Wwarning", str(MANUAL)], capture_output=True, text=True,
                            timeout=60)
    assert result.stdout + result.stderr == ""
    assert result.returncode == 0


# -- (b) and (c) options, both directions ----------------------------------------


def test_every_cli_option_is_in_the_manual():
    documented = documented_options()
    missing = sorted(f"{label}: {option}" for label, options in all_help_options().items()
                     for option in options if option not in documented)
    assert not missing, f"options missing from {MANUAL.name} (add them as .Fl): {missing}"


def test_every_manual_option_exists_in_the_cli():
    real = set().union(*all_help_options().values())
    unknown = sorted(f"line {line}: {option}" for option, line in documented_options().items()
                     if option not in real)
    assert not unknown, f"{MANUAL.name} documents options the CLI does not have: {unknown}"


def test_every_option_has_an_item_in_an_option_list():
    """An option named in SYNOPSIS or in prose is not enough: each needs its own .It."""
    items = set()
    for line in manual_source().splitlines():
        if line.startswith(".It ") and "Fl" in macro_words(line):
            items.update(documented_options_of_line(line))
    missing = sorted(set().union(*all_help_options().values()) - items)
    assert not missing, f"options without an .It entry in {MANUAL.name}: {missing}"


def documented_options_of_line(line: str) -> set[str]:
    words = macro_words(line)
    out = set()
    for i, word in enumerate(words):
        if word == "Fl":
            for arg in words[i + 1 :]:
                if arg in _CALLABLE:
                    break
                if arg not in _DELIMITERS:
                    out.add(f"-{arg}")
    return out


def test_every_choice_is_documented():
    """Values of -T, --fail-on, --timing, --decode-as, --color: each named in the page."""
    text = manual_source()
    missing = []
    for command in cli.main.commands.values():
        for param in command.params:
            if isinstance(param.type, click.Choice):
                missing += [f"{param.opts[-1]} {choice}" for choice in param.type.choices
                            if not re.search(rf"^\.(?:It|Fl)\b.*\bCm {re.escape(choice)}\b"
                                             rf"|^\.Cm {re.escape(choice)}\b", text, re.M)]
    assert not missing, f"option values missing from {MANUAL.name} (as .Cm): {sorted(set(missing))}"


# -- (d) findings, events, exit status -----------------------------------------------


def kinds_in_source() -> set[str]:
    """Finding kinds the code emits: the catalogue's constants (findings.py), and any bare
    Finding("kind", …) or add("kind", Severity.…) left outside it."""
    pattern = re.compile(r'(?:\bFinding\(\s*|\badd\(\s*)"([a-z][a-z0-9-]*)"(?=\s*(?:,|if\b))')
    constant = re.compile(r'^([A-Z][A-Z0-9_]*) = "([a-z][a-z0-9-]*)"', re.M)
    catalogue = (ROOT / "carpscope" / "findings.py").read_text(encoding="utf-8")
    kinds = {kind for _, kind in constant.findall(catalogue)}
    for path in (ROOT / "carpscope").rglob("*.py"):
        kinds.update(pattern.findall(path.read_text(encoding="utf-8")))
    return kinds


def items(section_name: str) -> set[str]:
    """The words of every .It line of a section."""
    out = set()
    for line in section(section_name):
        if line.startswith(".It "):
            out.update(w.strip(",") for w in macro_words(line))
    return out


def test_every_finding_kind_is_explained():
    explained = items("FINDINGS")
    expected = FINDING_KINDS | kinds_in_source()
    missing = sorted(expected - explained)
    assert not missing, f"finding kinds without an .It entry in FINDINGS: {missing}"


def test_source_scan_sees_the_decoders_kinds():
    """Guards the scan above: if it stops matching, new kinds would slip through."""
    assert {"bad-ttl", "bad-checksum", "malformed", "truncated-capture"} <= kinds_in_source()


def test_every_event_kind_and_cause_is_explained():
    explained = items("OUTPUT FORMATS")
    missing = sorted((EVENT_KINDS | EVENT_CAUSES) - explained)
    assert not missing, f"event kinds or causes without an .It entry: {missing}"


def test_every_exit_status_is_explained():
    codes = {0, cli.EXIT_FINDING, cli.EXIT_USAGE, cli.EXIT_CAPTURE, cli.EXIT_LIVE, cli.EXIT_INTERRUPTED}
    explained = {line.split()[1] for line in section("EXIT STATUS") if line.startswith(".It ")}
    missing = sorted(str(code) for code in codes if str(code) not in explained)
    assert not missing, f"exit statuses missing from EXIT STATUS: {missing}"


def test_the_signals_that_end_live_are_documented():
    """SIGINT and SIGTERM end `live` with the report (live_shell._StopOnSignals); a second SIGINT exits 130."""
    description = " ".join(section("DESCRIPTION"))
    interrupted = " ".join(section("EXIT STATUS")).split(".It 130", 1)[1]
    for text in (description, interrupted):
        assert ".Dv SIGTERM" in text and "second .Dv SIGINT" in text, text
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert "SIGTERM" in readme and "second Ctrl-C exits 130" in readme
