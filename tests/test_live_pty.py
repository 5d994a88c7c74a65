"""`carpscope live` on real terminals of three sizes (issue 14), against real ucarp peers.

One lab (tests/lab.py), three tmux servers of 80x24, 120x40 and 200x50 each running
`carpscope live br0 -p PASS -w FILE` inside the bridge namespace at once, while the lab
plays a failover and a split brain (a third peer with a wrong passphrase) in vhid 1
while vhid 2 keeps one master. On every captured dashboard: each line fits the width
and the screen's height, each group's state words and addresses are whole, no "..."
cut, and every finding is either shown by its kind or counted in "+N more findings";
on the last one every finding's kind is shown and a detail shown is whole. After
Ctrl-C, the report at that width: each line fits, every address and every word of
every finding detail whole, each group's master and each finding's kind there (the
facts come from `carpscope read FILE -T json` of the packets that run saved).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_layout import Tmux, check_screen

ROOT = Path(__file__).resolve().parents[1]
SIZES = [(80, 24), (120, 40), (200, 50)]
PASS, WRONG, VIP = "pty-s3cret", "pty-wrong", "192.0.2.50"
A, B, C, D = "192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"
VIP2 = "192.0.2.60"
ADDRESS = re.compile(r"\d+\.\d+\.\d+\.\d+")
SEVERITIES = ("CRITICAL", "WARNING", "NOTICE", "INFO")


class LiveTerminal(Tmux):
    """A tmux window of one size running `carpscope live` in the lab's bridge namespace."""

    def __init__(self, tmp_path: Path, columns: int, rows: int):
        super().__init__(tmp_path, columns, rows)
        self.socket = f"carpscope-live-{os.getpid()}-{columns}"
        self.base[2] = self.socket

    def close(self) -> None:
        """Kill the server (and carpscope with it) and remove its socket file."""
        super().close()
        tmpdir = Path(os.environ.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.getuid()}"
        (tmpdir / self.socket).unlink(missing_ok=True)

    def start(self, netns: str, saved: Path) -> None:
        env = f"env -u NO_COLOR -u COLUMNS -u LINES PYTHONPATH={ROOT} TERM=xterm-256color"
        command = (f"cd {ROOT} && {env} ip netns exec {netns} {sys.executable} -m carpscope live br0 "
                   f"-p {PASS} -w {saved}; echo __END__ $?")
        subprocess.run([*self.base, "new-session", "-d", "-x", str(self.columns), "-y", str(self.rows), command],
                       check=True, timeout=10)

    def visible(self) -> str:
        """What the window shows now; a line the terminal wrapped comes back joined (-J)."""
        return subprocess.run([*self.base, "capture-pane", "-p", "-J"], capture_output=True, text=True,
                              timeout=10).stdout

    def wait_for(self, pattern: str, timeout: float) -> str | None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = self.visible()
            if re.search(pattern, text, re.M):
                return text
            time.sleep(0.2)
        return None

    def interrupt(self, timeout: float = 15) -> str:
        """Ctrl-C; the whole scrollback once the run has ended."""
        subprocess.run([*self.base, "send-keys", "C-c"], check=True, timeout=10)
        return self.ended(timeout)


@pytest.fixture
def terminals(tmp_path):
    made = [LiveTerminal(tmp_path, columns, rows) for columns, rows in SIZES]
    yield made
    for t in made:
        t.close()


def check_dashboard(text: str, columns: int, rows: int, addresses: set[str]) -> None:
    """One screenful of the dashboard as the terminal shows it."""
    lines = text.rstrip("\n").splitlines()
    assert len(lines) <= rows, text
    too_long = [line for line in lines if len(line) > columns]
    assert not too_long, f"lines wider than {columns}:\n" + "\n".join(too_long)
    assert "..." not in text and "\u2026" not in text, text
    groups = text.split("Recent events")[0]
    assert "(advertising)" not in groups and "backup" not in groups, text
    for name in ("CARP vhid 1", "CARP vhid 2"):  # each group's head: its state in words
        heads = [line for line in lines if line.startswith(name + " ")]
        assert len(heads) == 1, (name, text)
        state = re.search(r"(MASTER \S+|NO MASTER|SPLIT BRAIN \S+ and \S+)", heads[0])
        assert state, text
        for address in ADDRESS.findall(state.group(1)):
            assert address in addresses, (address, text)  # whole: no address cut or broken
    assert re.search(rf"^CARP vhid 2 +MASTER {re.escape(D)} ", text, re.M), text
    for address in ADDRESS.findall(text):
        assert address in addresses | {VIP, VIP2}, (address, text)
    # Every finding: its kind on screen, or counted in "+N more findings".
    total = int(re.search(r"^Findings \((\d+)\)", text, re.M).group(1))
    shown = [line for line in lines if re.match(rf"({'|'.join(SEVERITIES)}) [a-z-]+", line)]
    more = re.search(r"^  \+(\d+) more findings? \(in the report after Ctrl-C\)$", text, re.M)
    assert len(shown) + (int(more.group(1)) if more else 0) == total, text


def facts(saved: Path) -> dict:
    """The JSON of the packets that run saved (same groups, members, findings)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "carpscope", "read", str(saved), "-p", PASS, "-T", "json"],
                         capture_output=True, env=env, timeout=60, check=True).stdout
    return json.loads(out)


def test_live_at_three_sizes_through_a_failover_and_a_split_brain(lab, terminals, tmp_path):
    a, b, c, d = lab.host("a", A), lab.host("b", B), lab.host("c", C), lab.host("d", D)
    saved = {t.columns: tmp_path / f"live-{t.columns}.pcap" for t in terminals}
    for t in terminals:
        t.start(lab.bridge_ns, saved[t.columns])
    for t in terminals:
        assert t.wait_for(r"^carpscope live br0 ", 15), t.capture()
    pd = lab.ucarp(d, vhid=2, password=PASS, vip=VIP2)  # a second group, master all along
    pa = lab.ucarp(a, vhid=1, password=PASS, vip=VIP)
    assert pd.wait_for("MASTER", timeout=8), pd.text()
    assert pa.wait_for("MASTER", timeout=8), pa.text()
    pb = lab.ucarp(b, vhid=1, password=PASS, vip=VIP, advskew=100)
    members = {A, B, C, D}
    for t in terminals:  # A master, B a silent backup; D master of vhid 2 all along
        # (each window's capture starts on its own: wait until it has seen D's adverts too)
        assert t.wait_for(rf"^CARP vhid 2 +MASTER {re.escape(D)} ", 10), t.visible()
        text = t.wait_for(rf"^CARP vhid 1 +MASTER {re.escape(A)} +master-down in", 10)
        assert text, t.visible()
        check_dashboard(text, t.columns, t.rows, members)

    # Failover: A dies, B takes over.
    pa.kill()
    assert pb.wait_for("MASTER", timeout=10), pb.text()
    for t in terminals:
        text = t.wait_for(rf"^CARP vhid 1 +MASTER {re.escape(B)} ", 10)
        assert text, t.visible()
        check_dashboard(text, t.columns, t.rows, members)
        assert re.search(rf"master-changed +{re.escape(A)} -> {re.escape(B)}|"
                         rf"master-elected +- -> {re.escape(B)}", text), text

    # Split brain: C has the wrong passphrase, ignores B and advertises too.
    pc = lab.ucarp(c, vhid=1, password=WRONG, vip=VIP)
    assert pc.wait_for("MASTER", timeout=10), pc.text()
    for t in terminals:
        text = t.wait_for(r"^CARP vhid 1 +SPLIT BRAIN 192\.0\.2\.[23] and 192\.0\.2\.[23] ", 10)
        assert text, t.visible()
        check_dashboard(text, t.columns, t.rows, members)
        assert re.search(r"^(CRITICAL|WARNING) [a-z-]+", text, re.M), text  # findings, not "none"
        time.sleep(1.5)  # a later refresh: still fits
        check_dashboard(t.visible(), t.columns, t.rows, members)

    last = {}
    for t in terminals:
        last[t.columns] = t.visible()
        check_dashboard(last[t.columns], t.columns, t.rows, members)
    for t in terminals:
        screen = t.interrupt()
        assert "Traceback" not in screen, screen
        assert re.search(r"^__END__ 0$", screen, re.M), screen
        report = "carpscope report" + screen.split("carpscope report", 1)[1]
        doc = facts(saved[t.columns])
        assert {f["kind"] for f in doc["findings"]}, doc  # the split brain was seen
        check_screen(report, t.columns, doc)
        for f in doc["findings"]:
            assert re.search(rf"^  {f['severity'].upper()} {f['kind']} ", report, re.M), f["kind"]
        # The last dashboard had every finding of the packets it had counted by its kind (-w saves
        # exactly those packets, so frame numbers in the saved file count them).
        shown = int(re.search(r"^carpscope live br0 .* (\d+) packets ", last[t.columns], re.M).group(1))
        for i, f in enumerate(doc["findings"]):
            if f["frame"] > shown:
                continue
            assert re.search(rf"^{f['severity'].upper()} {f['kind']} ", last[t.columns], re.M), \
                (f["kind"], last[t.columns])
            # A detail shown is shown whole: wrapped at spaces only, no word or address broken.
            flat, detail = " ".join(last[t.columns].split()), " ".join(f["detail"].split())
            if (t.columns >= 120 and i == 0) or " ".join(detail.split()[:6]) in flat:
                assert detail in flat, (f["kind"], last[t.columns])
