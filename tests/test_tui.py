"""The live dashboard (carpscope/views/tui.py): snapshots rendered to text, then a real terminal.

The unit tests build Snapshot/GroupState/Member values by hand and render them into a
fixed 120-column rich Console without colour. The last test runs `carpscope live` in a
lab namespace under a pseudo-terminal: the group and its master appear on screen, and
SIGINT replaces the dashboard with the report.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

from rich.console import Console

from carpscope.election.events import Event, GroupState, Member, Snapshot
from carpscope.model import Finding, GroupKey, Severity
from carpscope.views import tui

T = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
ROOT = Path(__file__).resolve().parents[1]
CARP1 = GroupKey("carp", 1, 4)
VRRP7 = GroupKey("vrrp", 7, 6, (10,))


def carp_member(addr: str, advskew: int, first: float, last: float, hmac: str = "ok") -> Member:
    return Member(addr, "00:00:5e:00:00:01", 1, advskew, 0, None, 5, hmac, first, last, 1, 2)


def snapshot() -> Snapshot:
    """CARP vhid 1 (B master since A went silent) and VRRPv3 vrid 7 over IPv6 in VLAN 10."""
    carp = GroupState(CARP1, "192.0.2.2", T + 9.5, (carp_member("192.0.2.1", 0, T, T + 5),
                                                     carp_member("192.0.2.2", 100, T + 9.5, T + 20.0)),
                      T + 20.0, T + 23.390625, ("192.0.2.50",), "inferred", 1, "ok", ("192.0.2.2",))
    vrrp = GroupState(VRRP7, "fe80::1", T, (Member("fe80::1", "00:00:5e:00:02:07", 100, None, None, 150, 21,
                                                   "n/a", T, T + 20.5, None, 3),),
                      T + 20.5, T + 23.91, ("2001:db8::7",), "advert", None, "n/a", ("fe80::1",))
    return Snapshot(T + 21.0, (carp, vrrp))


def render(renderable, width: int = 120) -> str:
    console = Console(record=True, width=width, no_color=True, color_system=None, file=open(os.devnull, "w"))
    console.print(renderable)
    return console.export_text()


def rows(text: str, anchor: int = 0) -> list[list[str]]:
    """The cells of the header (┃ between them) and of every row (│); wrapped cells joined.

    A line whose `anchor` cell (a column that never wraps nor stays empty) is blank continues
    the row above.
    """
    out: list[list[str]] = []
    for line in text.splitlines():
        if "│" not in line and "┃" not in line:
            continue
        cells = [cell.strip() for cell in re.split("[│┃]", line)]
        if len(out) > 1 and not cells[anchor]:
            out[-1] = [f"{a} {b}".strip() for a, b in zip(out[-1], cells)]
        else:
            out.append(cells)
    return out


def test_group_rows_show_master_backups_timers_countdown_and_verdict():
    table = rows(render(tui.groups_table(snapshot(), T + 21.0)), anchor=6)
    assert table[0] == list(tui.GROUP_COLUMNS)
    assert table[1] == ["CARP vhid 1", "192.0.2.50", "192.0.2.2", "192.0.2.1", "1/100", "1.0s ago", "2.4s",
                        "ok (pass 1)", "192.0.2.2: unknown; 192.0.2.1: unknown"]
    assert table[2] == ["VRRP vrid 7 IPv6 VLAN 10", "2001:db8::7", "fe80::1", "-", "prio 150 int 100cs",
                        "0.5s ago", "2.9s", "n/a", "fe80::1: unknown"]


def test_a_group_without_master_and_a_second_advertiser():
    state = snapshot().groups[0]
    down = GroupState(CARP1, None, None, state.members, T + 5, None, (), None, None, "mixed")
    split = GroupState(GroupKey("carp", 2, 4), "192.0.2.1", T, state.members, T + 20.0, T + 20.5, ("192.0.2.60",),
                       "given", 1, "ok", ("192.0.2.1", "192.0.2.2"))
    table = rows(render(tui.groups_table(Snapshot(T + 21, (down, split)), T + 21.0)), anchor=6)
    assert table[1] == ["CARP vhid 1", "?", "none", "192.0.2.1, 192.0.2.2", "-", "16.0s ago", "-", "mixed",
                        "192.0.2.1: unknown; 192.0.2.2: unknown"]
    assert table[2][:4] == ["CARP vhid 2", "192.0.2.60", "192.0.2.1", "192.0.2.2 (advertising)"]
    assert table[2][6] == "0.0s"  # overdue: the next tick declares it down


def test_no_groups_yet():
    assert rows(render(tui.groups_table(Snapshot(None, ()), T)))[1][0] == "no protocol-112 packets yet"


def test_recent_events_oldest_first_and_limited():
    events = [Event(T + i, i, "carp", 1, "master-elected", None, "192.0.2.1") for i in range(10)]
    events.append(Event(T + 28, 17, "carp", 1, "master-down", "192.0.2.1", None, expected=3.0))
    events.append(Event(T + 29.5, 18, "carp", 1, "master-changed", "192.0.2.1", "192.0.2.2", "master-silent", 4.5))
    table = rows(render(tui.events_table(events)))
    assert table[0] == ["time (UTC)", "group", "event", "from → to", "cause / gap"]
    assert len(table) == 1 + 8
    assert table[-2] == ["22:13:48.000", "CARP vhid 1", "master-down", "192.0.2.1 → -", ""]
    assert table[-1] == ["22:13:49.500", "CARP vhid 1", "master-changed", "192.0.2.1 → 192.0.2.2",
                         "master-silent gap 4.50s"]


def test_findings_with_counts_and_escaped_detail():
    findings = [(Finding("split-brain", Severity.CRITICAL, "both advertise", 3, T, "carp", 1), 1),
                (Finding("bad-ttl", Severity.WARNING, "TTL 64\x1b[2J", 7, T, "vrrp", 7), 3)]
    table = rows(render(tui.findings_table(findings)))
    assert table[1:] == [["critical", "split-brain", "CARP vhid 1", "both advertise"],
                         ["warning", "bad-ttl (x3)", "VRRP vrid 7", "TTL 64\\x1b[2J"]]


def test_the_whole_screen():
    text = render(tui.dashboard(snapshot(), [], [], T + 21.0, "br0", 42))
    assert text.splitlines()[0] == ("carpscope live br0  2023-11-14 22:13:41 UTC  42 protocol-112 packets  "
                                    "(Ctrl-C for the report)")
    assert [line.strip() for line in text.splitlines() if line.strip() in ("Groups", "Recent events", "Findings")] \
        == ["Groups", "Recent events", "Findings"]


def test_an_80_column_terminal_folds_cells_instead_of_cutting_them():
    findings = [(Finding("bad-ttl", Severity.WARNING, "TTL 64", 7, T, "vrrp", 7), 1)]
    text = render(tui.dashboard(snapshot(), [], findings, T + 21.0, "br0", 42), width=80)
    assert "…" not in text and max(map(len, text.splitlines())) <= 80
    assert "192.0.2.2" in text and "fe80::1" in text  # masters never wrap


# -- end to end under a pseudo-terminal ----------------------------------------------------

_ANSI = re.compile(r"\x1b(\[[0-9;?]*[A-Za-z]|\][^\x07]*\x07|[()][A-Z0-9])")


class Terminal:
    """A child process on a 40x150 pseudo-terminal; everything it draws is kept."""

    def __init__(self, argv: list[str]):
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 150, 0, 0))
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, cwd=ROOT,
                                     env={**env, "TERM": "xterm-256color"}, start_new_session=True)
        os.close(slave)
        self.master, self.data, self.lock = master, bytearray(), threading.Lock()
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: the child closed the terminal
                return
            if not chunk:
                return
            with self.lock:
                self.data += chunk

    def screen(self, start: int = 0) -> str:
        with self.lock:
            return _ANSI.sub("", self.data[start:].decode("utf-8", "replace"))

    def wait_for(self, pattern: str, timeout: float, start: int = 0) -> re.Match | None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if m := re.search(pattern, self.screen(start)):
                return m
            time.sleep(0.05)
        return None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.thread.join(2)
        os.close(self.master)


def test_dashboard_on_a_terminal_then_the_report_on_sigint(lab):
    a = lab.host("a", "192.0.2.1")
    peer = lab.ucarp(a, vhid=9, password="tui-pass", vip="192.0.2.90")
    term = Terminal(["ip", "netns", "exec", lab.bridge_ns, sys.executable, "-m", "carpscope", "live", "br0",
                     "-p", "tui-pass"])
    try:
        assert term.wait_for(r"carpscope live br0 .*protocol-112 packets", 10), term.screen()
        assert peer.wait_for("MASTER", timeout=8), peer.text()
        row = term.wait_for(r"CARP vhid 9\s*│\s*192\.0\.2\.90\s*│\s*192\.0\.2\.1\s*│.*│\s*1/0\s*│"
                            r"\s*\d\.\ds ago\s*│\s*\d\.\ds\s*│\s*ok \(pass 1\)", 8)
        assert row, term.screen()
        assert term.wait_for(r"master-elected\s*│\s*- → 192\.0\.2\.1", 2), term.screen()
        shown = len(term.data)
        term.proc.send_signal(signal.SIGINT)
        assert term.proc.wait(5) == 0
        term.thread.join(2)
        report = term.screen(shown)
        assert "carpscope report" in report and "CARP vhid 9" in report, report
        assert re.search(r"master-elected\s*│\s*-\s*│\s*192\.0\.2\.1", report), report
        assert "Traceback" not in term.screen()
    finally:
        term.close()
