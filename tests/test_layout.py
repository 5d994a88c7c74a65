"""What a terminal shows (issue 14): `carpscope read` in a real pseudo-terminal (tmux) at 80x24,
120x40 and 200x50, and the `live` dashboard fed from a capture at 80x24.

On screen every line fits, no IP address or word of a finding's detail is broken, and each
group's master and each finding's kind are there. Colour is on (a terminal, NO_COLOR unset):
it must not change the layout.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from carpscope import cli
from carpscope.capture import files as capture_files
from carpscope.views import tui

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "captures"
SIZES = [(80, 24), (120, 40), (200, 50)]
CASES = [("passphrase-mismatch.pcap", ["-p", "s3cret"]), ("several-groups.pcap", [])]


def facts(capture: str, args: list[str]) -> dict:
    """What must be on screen, from the JSON of the same run."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "carpscope", "read", str(CAPTURES / capture), *args, "-T", "json"],
                         capture_output=True, env=env, timeout=60, check=False).stdout
    return json.loads(out)


class Tmux:
    """A private tmux server with one window of the given size; its whole scrollback is kept."""

    def __init__(self, tmp_path: Path, columns: int, rows: int):
        self.socket = f"carpscope-layout-{os.getpid()}-{columns}"
        conf = tmp_path / "tmux.conf"
        conf.write_text("set -g history-limit 50000\nset -g remain-on-exit on\n")
        self.base = ["tmux", "-L", self.socket, "-f", str(conf)]
        self.columns, self.rows = columns, rows

    def run(self, argv: list[str], timeout: float = 60) -> str:
        """Run argv in the window; return what it drew, wrapped lines joined (-J)."""
        env = f"env -u NO_COLOR -u COLUMNS -u LINES PYTHONPATH={ROOT} TERM=xterm-256color"
        command = f"cd {ROOT} && {env} {' '.join(argv)}; echo __END__ $?"
        subprocess.run([*self.base, "new-session", "-d", "-x", str(self.columns), "-y", str(self.rows), command],
                       check=True, timeout=10)
        return self.ended(timeout)

    def ended(self, timeout: float) -> str:
        """The whole scrollback once the command has ended (its `__END__ status` line)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = self.capture()
            if re.search(r"^__END__ \d+$", text, re.M):
                return text
            time.sleep(0.2)
        raise AssertionError("no end in time:\n" + self.capture())

    def capture(self) -> str:
        return subprocess.run([*self.base, "capture-pane", "-p", "-J", "-S", "-", "-E", "-"], capture_output=True,
                              text=True, timeout=10).stdout

    def close(self) -> None:
        subprocess.run([*self.base, "kill-server"], capture_output=True, timeout=10)


@pytest.fixture
def tmux_factory(tmp_path):
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed (tests/bootstrap installs it)")
    made = []

    def make(columns: int, rows: int) -> Tmux:
        made.append(Tmux(tmp_path, columns, rows))
        return made[-1]

    yield make
    for t in made:
        t.close()


def check_screen(text: str, columns: int, doc: dict) -> None:
    lines = text.split("__END__")[0].rstrip("\n").splitlines()
    too_long = [line for line in lines if len(line) > columns]
    assert not too_long, f"{len(too_long)} lines wider than {columns}:\n" + "\n".join(too_long)
    words = set(" ".join(lines).split())
    tokens = set(re.findall(r"[^\s,;()\[\]]+", " ".join(lines)))
    for f in doc["findings"]:
        missing = [w for w in f["detail"].split() if w not in words]
        assert not missing, (f["kind"], missing)
        assert any(f["kind"] in t for t in tokens), f["kind"]
    for g in doc["groups"]:
        assert g["master"] in tokens, g
    for address in {a for p in doc["packets"] for a in (p["src"], *p.get("addresses", ()))} | \
            {m["addr"] for g in doc["groups"] for m in g["members"]}:
        assert address in tokens, address
    # A line the terminal had to wrap is too long above (-J joins it back): an address or word
    # split by the screen's edge fails there, one split by carpscope fails the token checks.


@pytest.mark.parametrize("columns, rows", SIZES)
@pytest.mark.parametrize("capture, args", CASES)
def test_read_on_a_terminal(tmux_factory, columns, rows, capture, args):
    doc = facts(capture, args)
    screen = tmux_factory(columns, rows).run([sys.executable, "-m", "carpscope", "read",
                                              f"captures/{capture}", *args])
    assert "__END__ 0" in screen, screen
    check_screen(screen, columns, doc)
    if columns >= 200:
        assert "  group " in screen  # a wide terminal gets the groups as one table


@pytest.mark.parametrize("columns, rows", [(80, 24)])
def test_read_quiet_with_colour_always_on_a_terminal(tmux_factory, columns, rows):
    doc = facts("passphrase-mismatch.pcap", ["-p", "s3cret"])
    screen = tmux_factory(columns, rows).run([sys.executable, "-m", "carpscope", "read", "-q", "--color", "always",
                                              "captures/passphrase-mismatch.pcap", "-p", "s3cret"])
    check_screen(screen, columns, doc)


def test_colour_only_colours_when_piped():
    """`--color always | less -R` gets the same text as `--color never`, only coloured; but for the
    timeline strip (issue 17), whose columns are coloured blocks instead of letters, '.' and '#'."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "carpscope", "read", str(CAPTURES / "passphrase-mismatch.pcap"), "-p", "s3cret"]
    plain = subprocess.run([*argv, "--color", "never"], capture_output=True, text=True, env=env).stdout
    coloured = subprocess.run([*argv, "--color", "always"], capture_output=True, text=True, env=env).stdout
    assert "\x1b[" in coloured
    bare = re.sub(r"\x1b\[[0-9;]*m", "", coloured).split("\n")
    assert len(bare) == len(plain.split("\n"))
    differ = [(a, b) for a, b in zip(plain.split("\n"), bare) if a != b]
    assert len(differ) == 2  # the group's strip and its legend
    for a, b in differ:
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert x == y or (x.isalpha() and y == "\u2588") or (x, y) in ((".", "\u2591"), ("#", "\u2593")), (a, b)
    assert max(len(line) for line in plain.split("\n\ncarpscope report")[1].splitlines()) <= 80


# -- the live dashboard, fed from a capture -------------------------------------------------

def dashboards(capture: str, passphrases: tuple[str, ...], width: int = 80, height: int = 24):
    """(frame time, screen text) after every frame, as `live` would draw it 0.1s later."""
    pipeline = cli.build_pipeline(passphrases, None, (), None, "bsd")
    sources = capture_files.open_sources([str(CAPTURES / capture)], None)
    for frame in capture_files.frames(sources):
        pipeline.feed(frame)
        now = frame.time + 0.1
        pipeline.advance(now)
        findings = [(t.first, t.count) for t in pipeline.tallies()]
        screen = tui.dashboard(pipeline.tracker.snapshot(), pipeline.events, findings, now, "br0", pipeline.adverts,
                               width, height)
        console = Console(record=True, width=width, height=height, color_system=None, file=io.StringIO())
        console.print(screen)
        yield frame.time, console.export_text(), pipeline


def test_dashboard_at_80x24_from_a_split_brain_capture():
    doc = facts("passphrase-mismatch.pcap", ["-p", "s3cret"])
    split_seen = False
    for _, text, _ in dashboards("passphrase-mismatch.pcap", ("s3cret",)):
        lines = text.rstrip("\n").splitlines()
        assert len(lines) <= 24 and max(map(len, lines)) <= 80, text
        assert "…" not in text and "..." not in text
        assert "(advertising)" not in text and "backup" not in text
        if "SPLIT BRAIN" in text:
            split_seen = True
            assert re.search(r"^CARP vhid 1 +SPLIT BRAIN 192\.0\.2\.1 and 192\.0\.2\.2", text, re.M), text
    assert split_seen
    words = set(text.split())
    for f in doc["findings"]:
        assert f"CRITICAL {f['kind']}" in text
        assert set(f["detail"].split()) <= words, f["kind"]


def test_dashboard_after_a_failover_names_the_new_master_and_not_the_dead_one_as_backup():
    screens = list(dashboards("failover.pcap", ("s3cret",)))
    text = screens[-1][1]
    assert re.search(r"^CARP vhid 1 +MASTER 192\.0\.2\.2 +master-down in +\d\.\ds", text, re.M), text
    assert re.search(r"others: 192\.0\.2\.1 silent \d+\.\ds", text), text
    assert re.search(r"master-changed  192\.0\.2\.1 -> 192\.0\.2\.2\s+master-silent, gap 4\.69s", text), text
    # While A was silent and B not yet master: NO MASTER, no countdown.
    assert any(re.search(r"^CARP vhid 1 +NO MASTER", t, re.M) for _, t, _ in screens)
