"""The live dashboard (carpscope/views/tui.py): snapshots rendered to text, then a real terminal.

The unit tests build Snapshot/GroupState/Member values by hand and render them into a
fixed 120-column rich Console without colour. The last test runs `carpscope live` in a
lab namespace under a pseudo-terminal: the group and its master appear on screen, and
SIGINT replaces the dashboard with the report.
"""

from __future__ import annotations

import fcntl
import io
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


def render(renderable, width: int = 120, height: int = 40) -> str:
    console = Console(record=True, width=width, height=height, no_color=True, color_system=None,
                      file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def screen(snap, events=(), findings=(), now=T + 21.0, width=120, height=40) -> str:
    return render(tui.dashboard(snap, list(events), list(findings), now, "br0", 42, width, height), width, height)


def test_group_rows_say_the_state_in_words_with_a_countdown():
    text = screen(snapshot())
    assert re.search(r"^CARP vhid 1 +MASTER 192\.0\.2\.2 +master-down in +2\.4s", text, re.M), text
    assert re.search(r"^VRRP vrid 7 IPv6 VLAN 10 +MASTER fe80::1 +master-down in +2\.9s", text, re.M), text
    assert "VIPs 192.0.2.50  advbase 1 advskew 100  last advert 1.0s ago  signature ok (pass 1)" in text
    assert "priority 150 adver_int 100cs" in text
    assert "stack 192.0.2.2: unknown; 192.0.2.1: unknown" in text
    # The old master went silent: it is no backup, it is a member last heard 16s ago.
    assert "others: 192.0.2.1 silent 16.0s" in text and "backup" not in text


def test_stable_columns():
    """The state and countdown start in the same column on every row, whatever the values."""
    text = screen(snapshot())
    rows = [line for line in text.splitlines() if "MASTER" in line]
    assert len({line.index("MASTER") for line in rows}) == 1
    assert len({line.index("master-down in") for line in rows}) == 1


def test_no_master_and_split_brain_in_words():
    state = snapshot().groups[0]
    down = GroupState(CARP1, None, None, state.members, T + 5, None, (), None, None, "mixed")
    split = GroupState(GroupKey("carp", 2, 4), "192.0.2.1", T, state.members, T + 20.0, T + 20.5, ("192.0.2.60",),
                       "given", 1, "ok", ("192.0.2.1", "192.0.2.2"))
    started = Event(T + 15, 9, "carp", 2, "split-brain-started", "192.0.2.1", "192.0.2.2", expected=3.39)
    text = screen(Snapshot(T + 21, (down, split)), [started])
    assert re.search(r"^CARP vhid 1 +NO MASTER", text, re.M), text
    assert re.search(r"^CARP vhid 2 +SPLIT BRAIN 192\.0\.2\.1 and 192\.0\.2\.2 +master-down now", text, re.M), text
    assert "(advertising)" not in text and "others: 192.0.2.2" not in text


def test_no_groups_events_or_findings_yet():
    text = screen(Snapshot(None, ()))
    assert "no protocol-112 packets yet" in text
    assert text.count("  none") == 2  # events and findings say so instead of staying blank


def test_recent_events_oldest_first_and_counted():
    events = [Event(T + i, i, "carp", 1, "master-elected", None, "192.0.2.1") for i in range(10)]
    events.append(Event(T + 28, 17, "carp", 1, "master-down", "192.0.2.1", None, expected=3.0))
    events.append(Event(T + 29.5, 18, "carp", 1, "master-changed", "192.0.2.1", "192.0.2.2", "master-silent", 4.5))
    text = screen(snapshot(), events)
    part = text.split("Recent events (12)")[1].split("Findings")[0].splitlines()[1:]
    assert part[0].strip() == "+4 more events (in the report after Ctrl-C)"
    assert part[-2] == "22:13:48.000  CARP vhid 1  master-down  192.0.2.1 -> -"
    assert part[-1] == "22:13:49.500  CARP vhid 1  master-changed  192.0.2.1 -> 192.0.2.2  master-silent, gap 4.50s"


def test_findings_with_counts_escaped_and_never_markup():
    findings = [(Finding("split-brain", Severity.CRITICAL, "both advertise [fd00::50] [bold]x[/bold]", 3, T,
                         "carp", 1), 1),
                (Finding("bad-ttl", Severity.WARNING, "TTL 64\x1b[2J", 7, T, "vrrp", 7), 3)]
    text = screen(snapshot(), (), findings)
    assert "CRITICAL split-brain  CARP vhid 1  frame 3" in text
    assert "both advertise [fd00::50] [bold]x[/bold]" in text  # issue 20: rich markup would eat these
    assert "WARNING bad-ttl (x3)  VRRP vrid 7  frame 7" in text and "TTL 64\\x1b[2J" in text


def test_the_whole_screen():
    text = screen(snapshot())
    assert text.splitlines()[0] == "carpscope live br0  2023-11-14 22:13:41 UTC  42 packets  Ctrl-C: report"
    assert [line.split(" (")[0] for line in text.splitlines() if line.split(" (")[0] in
            ("Groups", "Recent events", "Findings")] == ["Groups", "Recent events", "Findings"]


def test_an_80x24_terminal_fits_without_cutting():
    long = "the passphrases or the VIP sets differ; compare pass and the VIPs on both " * 3
    findings = [(Finding("split-brain", Severity.CRITICAL, long, 7, T, "carp", 1), 1),
                (Finding("bad-ttl", Severity.WARNING, "TTL 64", 7, T, "vrrp", 7), 1)]
    events = [Event(T + i, i, "carp", 1, "master-elected", None, "192.0.2.1") for i in range(10)]
    text = screen(snapshot(), events, findings, width=80, height=24)
    lines = text.rstrip("\n").splitlines()
    assert len(lines) <= 24 and max(map(len, lines)) <= 80
    assert "…" not in text and "..." not in text
    assert "192.0.2.2" in text and "fe80::1" in text
    words = set(text.split())
    assert set(long.split()) <= words  # the critical finding whole, wrapped at word boundaries


def test_at_80x24_every_finding_kind_shows_when_the_details_do_not_fit():
    """The lab's split brain at 80x24 (tests/test_live_pty.py): a long hmac-failed detail used to
    push split-brain itself into "+2 more findings"; now each kind keeps its head line and only
    the details that fit are shown."""
    hmac = ("adverts from 192.0.2.3 do not verify with any passphrase and VIP set tried (other adverts of vhid 1 "
            "verify with passphrase 1 and VIPs 192.0.2.50: this sender has another passphrase or VIP set): a node "
            "with another key or VIP set ignores its peers' adverts and becomes master as well; check the pass "
            "(19 characters at most) and the VIPs of vhid 1 on 192.0.2.3")
    split = ("192.0.2.2 and 192.0.2.3 both advertise CARP vhid 1 as master for more than the 3.39s master-down "
             "time: their signatures do not verify across the members, so each drops the other's adverts: the "
             "passphrases or the VIP sets differ; compare pass and the VIPs on both")
    tie = ("192.0.2.1 and 192.0.2.3 both advertise advbase 1 advskew 0: on a tie OpenBSD's master yields and "
           "ucarp compares raw addresses, so which one wins is arbitrary; give each member its own advskew")
    findings = [(Finding("hmac-failed", Severity.CRITICAL, hmac, 10, T, "carp", 1), 1),
                (Finding("split-brain", Severity.CRITICAL, split, 10, T, "carp", 1), 1),
                (Finding("skew-tie", Severity.WARNING, tie, 10, T, "carp", 1), 1)]
    events = [Event(T + i, i, "carp", 1, "master-elected", None, "192.0.2.1") for i in range(4)]
    text = screen(snapshot(), events, findings, width=80, height=24)
    lines = text.rstrip("\n").splitlines()
    assert len(lines) <= 24 and max(map(len, lines)) <= 80, text
    for kind in ("CRITICAL hmac-failed", "CRITICAL split-brain", "WARNING skew-tie"):
        assert sum(line.startswith(kind) for line in lines) == 1, (kind, text)
    assert "more finding" not in text, text
    assert set(hmac.split()) <= set(text.split()), text  # the first one still whole
    assert "…" not in text and "..." not in text


def test_a_long_split_brain_state_does_not_push_the_other_rows_countdown_down():
    """Two long IPv6 addresses in a split brain: that row flows on by itself; the other rows keep
    name, state and countdown on one line at 80 and at 120 columns."""
    a, b = "2001:db8:aaaa:bbbb:cccc:dddd:eeee:1", "2001:db8:aaaa:bbbb:cccc:dddd:eeee:2"
    member = lambda addr: Member(addr, "00:00:5e:00:02:07", 100, None, None, 150, 21, "n/a", T, T + 20.5, None, 3)  # noqa: E731
    split = GroupState(VRRP7, a, T, (member(a), member(b)), T + 20.5, T + 23.9, ("2001:db8::7",), "advert", None,
                       "n/a", (a, b))
    started = Event(T + 15, 9, "vrrp", 7, "split-brain-started", a, b, family=6, vlan=(10,), expected=3.39)
    for width in (80, 120):
        text = screen(Snapshot(T + 21, (split, snapshot().groups[0])), [started], width=width, height=40)
        assert re.search(r"^CARP vhid 1 +MASTER 192\.0\.2\.2 +master-down in +2\.4s$", text, re.M), text
        assert f"SPLIT BRAIN {a} and" in text and b in text.split("Recent events")[0], text
        assert max(map(len, text.splitlines())) <= width


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
        assert term.wait_for(r"carpscope live br0 .* \d+ packets  Ctrl-C: report", 10), term.screen()
        assert peer.wait_for("MASTER", timeout=8), peer.text()
        row = term.wait_for(r"CARP vhid 9 +MASTER 192\.0\.2\.1 +master-down in +\d\.\ds\s+VIPs 192\.0\.2\.90 +"
                            r"advbase 1 advskew 0 +last advert \d\.\ds ago +signature ok \(pass 1\)", 8)
        assert row, term.screen()
        assert term.wait_for(r"master-elected +- -> 192\.0\.2\.1", 2), term.screen()
        shown = len(term.data)
        term.proc.send_signal(signal.SIGINT)
        assert term.proc.wait(5) == 0
        term.thread.join(2)
        report = term.screen(shown)
        assert "carpscope report" in report and "CARP vhid 9" in report, report
        assert re.search(r"master-elected\s+- -> 192\.0\.2\.1", report), report
        assert "Traceback" not in term.screen()
    finally:
        term.close()
