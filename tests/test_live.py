"""`carpscope live` against real peers: every capture runs inside a lab namespace (tests/lab.py).

Timing the tests rely on (see also test_lab.py): ucarp becomes master 3 s after it last
heard one, plus up to ~2 s of its own polling; with only the master advertising,
carpscope's master-down time is the master's own 3*advbase+advskew/256 = 3 s, so a
backup with advskew 200 (3.78 s) takes over well after carpscope has declared the
master down, if ticks drive the timeouts while the wire is silent.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import stacks
from lab import Lab, carp_adverts, require_lab, run

ROOT = Path(__file__).resolve().parents[1]
PASS, VIP = "live-s3cret", "192.0.2.50"
A, B = "192.0.2.1", "192.0.2.2"


class Carpscope:
    """`carpscope live ARGS` in a namespace; stdout lines kept with the time they were read."""

    def __init__(self, netns: str, *args: str, prefix: tuple[str, ...] = ()):
        argv = ["ip", "netns", "exec", netns, *prefix, sys.executable, "-m", "carpscope", "live", *args]
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: list[tuple[float, str]] = []
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.append((time.time(), line.rstrip("\n")))

    def wait_for(self, predicate, timeout: float, count: int = 1) -> bool:
        """Until `count` stdout lines satisfy predicate(line)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if sum(1 for _, line in list(self.lines) if predicate(line)) >= count:
                return True
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        return False

    def finish(self, timeout: float = 10) -> tuple[int, str, str]:
        """Exit status, stdout and stderr once it has ended by itself."""
        rc = self.proc.wait(timeout)
        self._thread.join(5)
        return rc, "\n".join(line for _, line in self.lines), self.proc.stderr.read()

    def objects(self) -> list[tuple[float, dict]]:
        return [(t, json.loads(line)) for t, line in self.lines]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def carpscope():
    """Start `carpscope live` in a namespace; whatever still runs is killed afterwards."""
    started: list[Carpscope] = []

    def start(netns: str, *args: str, **kwargs) -> Carpscope:
        started.append(Carpscope(netns, *args, **kwargs))
        return started[-1]

    yield start
    for c in started:
        c.kill()


@pytest.fixture(scope="module")
def pair():
    """One lab for the shorter tests: a ucarp pair on br0 with A (advskew 0) master, B backup."""
    require_lab()
    with Lab() as lab:
        a, b = lab.host("a", A), lab.host("b", B)
        pa = lab.ucarp(a, vhid=1, password=PASS, vip=VIP)
        assert pa.wait_for("MASTER", timeout=8), pa.text()
        lab.ucarp(b, vhid=1, password=PASS, vip=VIP, advskew=100)
        yield lab


def is_carp_line(line: str) -> bool:
    return "CARPv2-advertise" in line


def is_packet(line: str) -> bool:
    return line.startswith('{"type":"packet"')


# -- a failover, as it happens --------------------------------------------------------------


def test_failover_streams_verified_adverts_master_down_on_time_and_the_takeover(lab, carpscope, tmp_path):
    a, b = lab.host("a", A), lab.host("b", B)
    saved = tmp_path / "failover.pcap"
    live = carpscope(lab.bridge_ns, "br0", "-T", "jsonl", "-p", PASS, "--duration", "15", "-w", str(saved))
    pa = lab.ucarp(a, vhid=3, password=PASS, vip=VIP)
    assert pa.wait_for("MASTER", timeout=8), pa.text()
    pb = lab.ucarp(b, vhid=3, password=PASS, vip=VIP, advskew=200)
    assert live.wait_for(is_packet, timeout=3, count=2)
    killed = pa.kill()
    assert pb.wait_for("MASTER", timeout=8, since=killed), pb.text()
    rc, _, stderr = live.finish(timeout=15)
    assert (rc, stderr) == (0, "")  # no libpcap warning either (the kernel took the filter)

    seen = live.objects()
    objs = [o for _, o in seen]
    packets = [o for o in objs if o["type"] == "packet"]
    assert {p["src"] for p in packets} == {A, B} and {p["vhid"] for p in packets} == {3}
    assert all(p["hmac"] == "ok" and p["checksum"] == "ok" for p in packets), packets
    events = [o for o in objs if o["type"] == "event"]
    assert [(e["kind"], e["from"], e["to"]) for e in events] == [
        ("master-elected", None, A), ("master-down", A, None), ("master-changed", A, B)]
    assert events[2]["cause"] == "master-silent"

    # Ticks, not B's first advert, made carpscope conclude that A was down: the line came
    # out (wall clock) before B's first advert was even sent, and soon after the deadline.
    (read_down, down), = [(t, o) for t, o in seen if o.get("kind") == "master-down"]
    first_b = next(i for i, o in enumerate(objs) if o["type"] == "packet" and o["src"] == B)
    last_a = max(p["time"] for p in packets if p["src"] == A)
    assert objs.index(down) < first_b
    assert down["time"] >= last_a + 3.0 - 0.01  # A's own master-down time: 3*advbase + advskew/256
    assert read_down < objs[first_b]["time"], (read_down, objs[first_b]["time"])
    assert read_down - down["time"] < 0.6

    assert objs[-1]["type"] == "group" and [o["type"] for o in objs].index("group") == len(objs) - 1
    group = objs[-1]
    assert (group["proto"], group["id"], group["master"], group["passphrase"]) == ("carp", 3, B, 1)
    assert {m["addr"] for m in group["members"]} == {A, B}

    # The same story as `read` tells from the saved frames (frame numbers aside: live counts
    # every frame the filter passed, the file holds only the analysed ones).
    result = subprocess.run([sys.executable, "-m", "carpscope", "read", str(saved), "-T", "jsonl", "-p", PASS],
                            cwd=ROOT, capture_output=True, text=True, timeout=30)
    replay = [json.loads(line) for line in result.stdout.splitlines()]

    def story(items):
        return [{k: v for k, v in o.items() if k != "frame"} for o in items]

    assert story(replay) == story(objs)


# -- stopping: SIGINT, -c, a vanished interface ---------------------------------------------


def test_sigint_prints_the_report_and_leaves_a_pcap_tcpdump_reads(pair, carpscope, tmp_path):
    path = tmp_path / "live.pcap"
    live = carpscope(pair.bridge_ns, "br0", "-p", PASS, "-w", str(path))
    assert live.wait_for(is_carp_line, timeout=4, count=2)
    live.proc.send_signal(signal.SIGINT)
    rc, stdout, stderr = live.finish(timeout=3)
    assert (rc, stderr) == (0, "")
    assert "carpscope report" in stdout and "CARP vhid 1" in stdout, stdout
    printed = [line for line in stdout.splitlines() if is_carp_line(line) and "hmac ok" in line]
    saved = carp_adverts(path)  # tcpdump reads it (lab.run raises if it cannot)
    assert len(saved) == len(printed) >= 2
    assert {x.src for x in saved} == {A}


def test_sigterm_ends_the_capture_like_sigint(pair, carpscope):
    live = carpscope(pair.bridge_ns, "br0", "-p", PASS)
    assert live.wait_for(is_carp_line, timeout=4)
    live.proc.send_signal(signal.SIGTERM)
    rc, stdout, stderr = live.finish(timeout=3)
    assert (rc, stderr) == (0, "")
    assert "carpscope report" in stdout and "CARP vhid 1" in stdout, stdout


@pytest.mark.parametrize("first", [signal.SIGINT, signal.SIGTERM])
def test_a_second_sigint_exits_130_at_once(pair, carpscope, first):
    live = carpscope(pair.bridge_ns, "br0", "-p", PASS)
    assert live.wait_for(is_carp_line, timeout=4)
    live.proc.send_signal(first)
    time.sleep(0.005)  # two signals at once are one for Python
    live.proc.send_signal(signal.SIGINT)
    rc, _, stderr = live.finish(timeout=3)
    assert (rc, stderr) == (130, "")


def test_a_full_write_file_ends_with_the_report_and_exit_3(pair, carpscope):
    """-w /dev/full: the capture goes on to the end and is reported; then the error, one line."""
    live = carpscope(pair.bridge_ns, "br0", "-T", "json", "-p", PASS, "-w", "/dev/full", "--duration", "2.5")
    rc, stdout, stderr = live.finish(timeout=8)
    assert (rc, stderr) == (3, "carpscope: -w /dev/full: No space left on device\n")
    doc = json.loads(stdout)
    assert len(doc["packets"]) >= 2 and doc["groups"][0]["master"] == A


def test_count_stops_after_n_adverts_with_a_json_document(pair, carpscope):
    live = carpscope(pair.bridge_ns, "br0", "-T", "json", "-c", "2", "-p", PASS)
    rc, stdout, stderr = live.finish(timeout=6)
    assert (rc, stderr) == (0, "")
    doc = json.loads(stdout)
    assert [(p["src"], p["hmac"]) for p in doc["packets"]] == [(A, "ok")] * 2
    assert doc["groups"][0]["master"] == A


def test_an_interface_deleted_mid_capture_ends_with_the_report_and_exit_4(pair, carpscope):
    z = pair.host("z", "192.0.2.26")  # z's veth end in the bridge namespace is a fresh port, p-z
    live = carpscope(pair.bridge_ns, z.port)
    assert live.wait_for(is_carp_line, timeout=4)
    run("ip", "-n", pair.bridge_ns, "link", "del", z.port)
    rc, stdout, stderr = live.finish(timeout=3)
    assert rc == 4
    assert "carpscope report" in stdout and "capture-lost" in stdout, stdout
    assert len(stderr.splitlines()) == 1 and stderr.startswith(f"carpscope: {z.port}: capture lost: "), stderr


def test_a_lost_capture_is_a_jsonl_finding_before_the_groups(pair, carpscope):
    """capture-lost is noted after the last packet; -T jsonl still writes it, as the report has it."""
    y = pair.host("y", "192.0.2.25")
    live = carpscope(pair.bridge_ns, y.port, "-T", "jsonl")
    assert live.wait_for(is_packet, timeout=4)
    run("ip", "-n", pair.bridge_ns, "link", "del", y.port)
    rc, _, stderr = live.finish(timeout=3)
    assert rc == 4 and stderr.startswith(f"carpscope: {y.port}: capture lost: "), stderr
    objs = [o for _, o in live.objects()]
    (lost,) = [o for o in objs if o["type"] == "finding" and o["kind"] == "capture-lost"]
    assert lost["severity"] == "warning" and lost["count"] == 1 and y.port in lost["detail"]
    assert objs.index(lost) < [o["type"] for o in objs].index("group")


# -- what the kernel filter lets through -------------------------------------------------------


SENDER_MAC = "02:00:00:00:00:09"


def _carp(vhid: int, tags=()) -> bytes:
    """A CARP advert (no valid HMAC) from 192.0.2.9, in VLAN tags (TPID, VID)."""
    packet = stacks.ipv4_packet("192.0.2.9", stacks.CARP_V4_GROUP, 112, stacks.carp_advert(vhid))
    return stacks.ethernet(SENDER_MAC, stacks.CARP_V4_MAC, 0x0800, packet, tags)


def _vrrp6(vrid: int, tags=(), hop_by_hop: bool = False) -> bytes:
    """A VRRPv3 advert from fe80::9 (behind a hop-by-hop header), in VLAN tags (TPID, VID)."""
    src, dst = "fe80::9", stacks.CARP_V6_GROUP
    vrrp = stacks.vrrp3(vrid, 100, ["2001:db8::9"], src, dst)
    packet = stacks.ipv6(src, dst, 0, stacks.hop_by_hop(112) + vrrp) if hop_by_hop else stacks.ipv6(src, dst, 112, vrrp)
    return stacks.ethernet(SENDER_MAC, stacks.CARP_V6_MAC, 0x86DD, packet, tags)


def test_the_kernel_filter_passes_vlan_tagged_and_ipv6_adverts(pair, carpscope):
    live = carpscope(pair.bridge_ns, "br0", "-T", "jsonl")
    assert live.wait_for(is_packet, timeout=4)
    frames = {("carp", 42, 4, (10,)): _carp(42, [(0x8100, 10)]),
              ("carp", 43, 4, (20, 30)): _carp(43, [(0x88A8, 20), (0x8100, 30)]),
              ("vrrp", 44, 6, ()): _vrrp6(44),
              ("vrrp", 45, 6, (10,)): _vrrp6(45, [(0x8100, 10)]),
              ("vrrp", 46, 6, ()): _vrrp6(46, hop_by_hop=True)}
    script = ("import socket, sys\ns = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\ns.bind(('eth0', 0))\n"
              "for frame in sys.argv[1:]:\n    s.send(bytes.fromhex(frame))\n")
    raw = list(frames.values())
    pair.exec(pair.hosts["a"], sys.executable, "-c", script, *(f.hex() for f in raw))
    wanted = set(frames)

    def all_seen(_line: str) -> bool:
        return wanted <= {(o["proto"], o.get("vhid") or o.get("vrid"), o["family"], tuple(o["vlan"]))
                          for _, o in live.objects() if o["type"] == "packet"}

    assert live.wait_for(all_seen, timeout=3), [o for _, o in live.objects()]
    live.proc.send_signal(signal.SIGINT)
    rc, _, stderr = live.finish(timeout=3)
    assert (rc, stderr) == (0, "")


# -- refusing to start: exit 4 and one line ---------------------------------------------------


def test_a_missing_interface_is_exit_4_and_one_line(pair, carpscope):
    rc, stdout, stderr = carpscope(pair.bridge_ns, "nosuch0").finish()
    assert (rc, stdout) == (4, "")
    assert stderr.splitlines() == ["carpscope: nosuch0: no such interface (carpscope live --list shows them)"]


def test_a_bad_filter_is_exit_4_and_one_line(pair, carpscope):
    rc, stdout, stderr = carpscope(pair.bridge_ns, "br0", "-f", "host (( nonsense").finish()
    assert (rc, stdout) == (4, "")
    assert len(stderr.splitlines()) == 1 and stderr.startswith("carpscope: bad capture filter 'host (( nonsense'")


def test_a_capture_without_privileges_is_explained(pair, carpscope):
    # nobody, without CAP_NET_RAW; CAP_DAC_READ_SEARCH only so it can read an interpreter
    # installed under /root (pyenv), not to capture.
    nobody = ("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
              "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search")
    rc, stdout, stderr = carpscope(pair.bridge_ns, "br0", prefix=nobody).finish()
    assert (rc, stdout) == (4, "")
    assert len(stderr.splitlines()) == 1, stderr
    assert "br0" in stderr and "root" in stderr and "CAP_NET_RAW" in stderr, stderr


def test_list_shows_the_interfaces_of_the_namespace_it_runs_in(pair, carpscope):
    for netns in (pair.bridge_ns, pair.hosts["b"].netns):
        rc, stdout, stderr = carpscope(netns, "--list").finish()
        assert (rc, stderr) == (0, "")
        numbered = [line.split(".", 1) for line in stdout.splitlines()]
        assert [int(n) for n, _ in numbered] == list(range(1, len(numbered) + 1))
        listed = {name for _, name in numbered}
        links = {line.split(":")[1].strip().split("@")[0]
                 for line in run("ip", "-n", netns, "-o", "link").splitlines()}
        assert links <= listed
        assert all(name in links or name in ("any", "nflog", "nfqueue") or name.startswith(("bluetooth", "dbus",
                                                                                              "usbmon"))
                   for name in listed), listed
