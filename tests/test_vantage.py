"""Vantage points (issue 15): captures named by where they were taken, copies folded,
who heard whom, one-way loss; `live` from pipes. The first half uses synthetic captures
(tests/stacks.py); the lab half (at the end) runs ucarp and tcpdump in namespaces."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import stacks

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}
VIPS = ("--vip", "192.0.2.50", "--vip", "192.0.2.51", "-p", "s3cret")


def carpscope(*args, stdin=None, timeout=120) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "carpscope", *args], capture_output=True, env=ENV,
                            timeout=timeout, stdin=stdin, text=True, check=False)
    assert result.returncode in (0, 1), result.stderr
    return result


def document(*args) -> dict:
    return json.loads(carpscope("read", *args, "-T", "json").stdout)


def hms(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%H:%M:%S")


def kinds(doc: dict) -> list[str]:
    return [f["kind"] for f in doc["findings"]]


def pair(tmp_path: Path, **options) -> tuple[Path, Path]:
    at_a, at_b = stacks.at_two_points(**options)
    return stacks.write_pcap(tmp_path / "a.pcap", at_a), stacks.write_pcap(tmp_path / "b.pcap", at_b)


def test_the_same_advert_at_two_points_is_one_packet(tmp_path):
    """Both captures complete, B's clock 0.3 s ahead and its frames VLAN-tagged: one packet per
    advert, seen at both points, no looped-advert, no one-way-loss; the offset is shown."""
    a, b = pair(tmp_path, lose=None, skew=0.3, tag_second=7)
    alone = document(str(a), *VIPS)
    both = document(f"fw1={a}", f"fw2={b}", *VIPS)
    assert len(both["packets"]) == len(alone["packets"]) == 31
    assert all(p["seen_at"] == ["fw1", "fw2"] and p["vantage"] == "fw1" for p in both["packets"])
    assert [p["time"] for p in both["packets"]] == [p["time"] for p in alone["packets"]]  # fw1's clock
    assert "looped-advert" not in kinds(both) and "one-way-loss" not in kinds(both)
    offset = {v["name"]: v["offset"] for v in both["vantages"]}
    assert abs(offset["fw2"] - 0.3004) < 0.001
    text = carpscope("read", "-q", f"fw1={a}", f"fw2={b}", *VIPS).stdout
    assert "fw2 +0.300s (from" in text


@pytest.mark.parametrize("names", [("fw1", "fw2"), ("left", "right")])
def test_one_way_loss_is_named_with_its_direction_and_start(tmp_path, names):
    """B stops hearing A from +6 s (A's advert of +6 is the first that went missing) and hears it again
    at +19: one-way loss from A's point to B's, the split brain's cause, healed at +19."""
    a, b = pair(tmp_path)
    pa, pb = names
    doc = document(f"{pa}={a}", f"{pb}={b}", *VIPS)
    loss = [f for f in doc["findings"] if f["kind"] == "one-way-loss"]
    assert len(loss) == 1
    f = loss[0]
    assert f["members"] == ["192.0.2.1"] and f["vantage"] == pb and f["severity"] == "critical"
    assert abs(f["time"] - (stacks.T0 + 6)) < 0.01
    assert f"one-way loss from {pa} to {pb}" in f["detail"]
    assert f"{pb}'s own adverts still reach {pa}" in f["detail"]
    assert f"stopped reaching {pb} at {hms(stacks.T0 + 6)};" in f["detail"]
    assert f"again from {hms(stacks.T0 + 19)}" in f["detail"]  # A's first advert B hears again
    split = next(x for x in doc["findings"] if x["kind"] == "split-brain")
    assert f"one-way loss from {pa} to {pb}" in split["detail"]


def test_the_loss_in_the_other_direction_names_the_other_point(tmp_path):
    """The same files with the points swapped on the command line: the loss is still from A's point."""
    a, b = pair(tmp_path)
    doc = document(f"fw2={b}", f"fw1={a}", *VIPS)
    f = next(f for f in doc["findings"] if f["kind"] == "one-way-loss")
    assert f["vantage"] == "fw2" and "one-way loss from fw1 to fw2" in f["detail"]


def test_a_real_loop_at_one_point_is_still_looped(tmp_path):
    """The same advert twice at ONE point, 1 ms apart (a layer-2 loop): looped-advert."""
    at_a, at_b = stacks.at_two_points(lose=None)
    t, frame = next((t, d) for t, d in at_a if t > stacks.T0 + 3)
    at_a = sorted(at_a + [(t + 0.001, frame)], key=lambda f: f[0])
    a = stacks.write_pcap(tmp_path / "a.pcap", at_a)
    b = stacks.write_pcap(tmp_path / "b.pcap", at_b)
    assert "looped-advert" in kinds(document(f"fw1={a}", f"fw2={b}", *VIPS))


def test_linux_any_copies_on_other_interfaces_are_one_packet(tmp_path):
    """`tcpdump -i any` on a bridge host: each frame on three interfaces (SLL2) a few µs apart."""
    frames = []
    for t, data in stacks.at_two_points(lose=None)[0]:
        frames += [(t + i * 0.00002, stacks.sll2(data, ifindex)) for i, ifindex in enumerate((3, 4, 5))]
    path = stacks.write_pcap(tmp_path / "any.pcap", frames, linktype=276)
    doc = document(str(path), *VIPS)
    assert len(doc["packets"]) == 31
    assert "looped-advert" not in kinds(doc)


def test_linux_any_still_sees_a_loop_on_one_interface(tmp_path):
    frames = [(t, stacks.sll2(d, 3)) for t, d in stacks.at_two_points(lose=None)[0]]
    t, frame = frames[6]
    frames = sorted(frames + [(t + 0.03, frame)], key=lambda f: f[0])
    path = stacks.write_pcap(tmp_path / "any.pcap", frames, linktype=276)
    assert "looped-advert" in kinds(document(str(path), *VIPS))


def test_plain_files_are_named_after_their_file_and_equals_signs_need_a_slash(tmp_path):
    a, b = pair(tmp_path)
    odd = tmp_path / "x=y.pcap"
    odd.write_bytes(b.read_bytes())
    doc = document(str(a), str(odd), *VIPS)
    f = next(f for f in doc["findings"] if f["kind"] == "one-way-loss")
    assert f["vantage"] == "x=y"
    os.chdir(tmp_path)
    doc = document("fw1=a.pcap", "./x=y.pcap", *VIPS)
    assert next(f for f in doc["findings"] if f["kind"] == "one-way-loss")["vantage"] == "x=y"
    result = subprocess.run([sys.executable, "-m", "carpscope", "read", "fw=a.pcap", "fw=b.pcap"],
                            capture_output=True, env=ENV, text=True, timeout=60, check=False)
    assert result.returncode == 2 and "named twice" in result.stderr and "Traceback" not in result.stderr



def test_captures_of_different_spans_are_no_loss(tmp_path):
    """fw2's capture starts 4 s late and ends 8 s early: what it could not see is not a loss."""
    at_a, at_b = stacks.at_two_points(lose=None)
    at_b = [(t, d) for t, d in at_b if stacks.T0 + 4 <= t <= stacks.T0 + 15]
    a = stacks.write_pcap(tmp_path / "a.pcap", at_a)
    b = stacks.write_pcap(tmp_path / "b.pcap", at_b)
    doc = document(f"fw1={a}", f"fw2={b}", *VIPS)
    assert "one-way-loss" not in kinds(doc) and "looped-advert" not in kinds(doc)
    assert len(doc["packets"]) == 31


def test_a_single_ethernet_file_keeps_the_fast_path(tmp_path):
    """The common read is not wrapped: no merger, no vantage fields, the pipeline as it was."""
    from carpscope import shell
    from carpscope.capture import files

    a, _ = pair(tmp_path, lose=None)
    sources = files.open_sources([str(a)], None)
    sentinel = object()
    assert shell.at_points(sentinel, sources, [None], False) == (sentinel, None)
    assert "vantage" not in document(str(a), *VIPS)["packets"][0]

SLOW = """import sys, time
f = open(sys.argv[1], "rb"); out = sys.stdout.buffer
out.write(f.read(24)); out.flush()
while True:
    h = f.read(16)
    if len(h) < 16: break
    out.write(h + f.read(int.from_bytes(h[8:12], "little"))); out.flush(); time.sleep(0.01)
"""


def test_live_reads_a_pcap_stream_on_stdin(tmp_path):
    """`tcpdump -U -w - | carpscope live -`: the same packets as `read` of the file."""
    a, _ = pair(tmp_path, lose=None)
    with a.open("rb") as stdin:
        doc = json.loads(carpscope("live", "-", "-T", "json", *VIPS, stdin=stdin).stdout)
    assert len(doc["packets"]) == 31 and "looped-advert" not in kinds(doc)


def test_live_from_commands_one_dies_the_others_go_on(tmp_path):
    """--from: two streams fed frame by frame and one command that fails at once: its stderr is said
    on one line, a capture-lost finding names it, and the one-way loss is still found."""
    a, b = pair(tmp_path)
    slow = tmp_path / "slow.py"
    slow.write_text(SLOW)
    result = carpscope("live", "-T", "json", *VIPS,
                       "--from", f"fw1={sys.executable} {slow} {a}", "--from", f"fw2={sys.executable} {slow} {b}",
                       "--from", "fw3=echo 'ssh: connect to host fw3 port 22: No route to host' >&2; exit 255")
    assert "fw3 (" in result.stderr and "exited with status 255: ssh: connect to host fw3" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    doc = json.loads(result.stdout)
    lost = [f for f in doc["findings"] if f["kind"] == "capture-lost"]
    assert lost and lost[0]["vantage"] == "fw3"
    f = next(f for f in doc["findings"] if f["kind"] == "one-way-loss")
    assert f["vantage"] == "fw2" and "one-way loss from fw1 to fw2" in f["detail"]


def test_live_stream_options_are_checked(tmp_path):
    for args, words in ((["--from", "nocommand"], "NAME=COMMAND"), (["eth0", "--from", "a=true"], "not both"),
                        (["-", "-w", str(tmp_path / "x.pcap")], "-w")):
        result = subprocess.run([sys.executable, "-m", "carpscope", "live", *args], capture_output=True, env=ENV,
                                text=True, timeout=60, stdin=subprocess.DEVNULL, check=False)
        assert result.returncode == 2 and words in result.stderr and "Traceback" not in result.stderr


# -- the lab: ucarp in namespaces, tcpdump inside each node, a bridge that drops one way ----------

LAB_FILTER = "ip proto 112 or arp"
LAB_VIP = "192.0.2.50"


def _pair_in_lab(lab, cut: str | None, names=("fw1", "fw2")) -> dict:
    """ucarp on fw1 and fw2 (the master first: advskew 0, the other 100); with `cut` the bridge stops
    flooding multicast to that node ~4 s after the master is up, until ~5 s after it took over too.
    Returns the moments (wall clock, as tcpdump stamps frames) and the peers."""
    hosts = {names[0]: lab.host(names[0], "192.0.2.1"), names[1]: lab.host(names[1], "192.0.2.2")}
    master = names[0] if cut != names[0] else names[1]
    backup = names[1] if master == names[0] else names[0]
    pm = lab.ucarp(hosts[master], 1, "s3cret", LAB_VIP)
    if pm.wait_for("BACKUP", 3) is None:
        raise RuntimeError(pm.text())
    time.sleep(0.3)
    pb = lab.ucarp(hosts[backup], 1, "s3cret", LAB_VIP, advskew=100)
    up = pm.wait_for("MASTER", 6)
    assert up is not None, pm.text()
    out = {"master": master, "backup": backup, "addr": {n: h.addr for n, h in hosts.items()},
           "peers": {master: pm, backup: pb}, "hosts": hosts}
    time.sleep(max(0.0, up + 4 - time.time()))
    if cut is not None:
        lab.multicast_flood_off(hosts[cut])
        out["cut_at"] = time.time()
        took = pb.wait_for("MASTER", 8)
        assert took is not None, pb.text()
        time.sleep(max(0.0, took + 5 - time.time()))
        lab.multicast_flood_on(hosts[cut])
        out["healed_at"] = time.time()
        pb.wait_for("BACKUP", 4, since=out["healed_at"])
        time.sleep(5)  # the split brain ends once the other node stays silent for master-down
    else:
        time.sleep(8)
    return out


def _assert_one_way(doc: dict, run: dict, cut: str) -> None:
    loss = [f for f in doc["findings"] if f["kind"] == "one-way-loss"]
    assert len(loss) == 1, doc["findings"]
    f = loss[0]
    sender = run["master"]
    assert f["vantage"] == cut and f["members"] == [run["addr"][sender]]
    assert f"one-way loss from {sender} to {cut}" in f["detail"]
    # The first advert that went missing left within a second (advbase 1) after the rule went in.
    assert run["cut_at"] - 0.05 <= f["time"] <= run["cut_at"] + 1.05, (f["time"], run["cut_at"])
    assert "looped-advert" not in kinds(doc)
    split = [x for x in doc["findings"] if x["kind"] == "split-brain"]
    assert split and f"one-way loss from {sender} to {cut}" in split[0]["detail"]


@pytest.fixture
def lab_ready():
    from lab import require_lab

    require_lab()


@pytest.mark.parametrize("cut", ["fw2", "fw1"])
def test_lab_one_way_loss_from_the_nodes_captures(tmp_path, lab_ready, cut):
    """tcpdump inside each node's namespace; the bridge stops flooding multicast to `cut`, the backup:
    the report names the direction and when it began, from the two captures."""
    from lab import Lab

    with Lab() as lab:
        captures = {}
        run_ = None
        orig_host = lab.host

        def host(name, addr, mac=None):
            h = orig_host(name, addr, mac)
            captures[name] = lab.capture(tmp_path / f"{name}.pcap", on=h, filter=LAB_FILTER)
            return h

        lab.host = host
        run_ = _pair_in_lab(lab, cut)
        for c in captures.values():
            c.stop()
    doc = document(f"fw1={tmp_path / 'fw1.pcap'}", f"fw2={tmp_path / 'fw2.pcap'}", "-p", "s3cret")
    _assert_one_way(doc, run_, cut)
    assert all(len(p["seen_at"]) == 2 for p in doc["packets"][:3])  # before the cut: one packet, two points


def test_lab_both_directions_healthy_no_one_way_loss(tmp_path, lab_ready):
    from lab import Lab

    with Lab() as lab:
        captures = []
        orig_host = lab.host

        def host(name, addr, mac=None):
            h = orig_host(name, addr, mac)
            captures.append(lab.capture(tmp_path / f"{name}.pcap", on=h, filter=LAB_FILTER))
            return h

        lab.host = host
        _pair_in_lab(lab, None)
        for c in captures:
            c.stop()
    doc = document(f"fw1={tmp_path / 'fw1.pcap'}", f"fw2={tmp_path / 'fw2.pcap'}", "-p", "s3cret")
    assert "one-way-loss" not in kinds(doc) and "looped-advert" not in kinds(doc)
    carp = [p for p in doc["packets"] if p["proto"] == "carp"]
    assert carp and all(p["seen_at"] == ["fw1", "fw2"] for p in carp)


def test_lab_one_way_loss_live_from_tcpdump_pipes(tmp_path, lab_ready):
    """live --from: tcpdump -U -w - inside each node's namespace, read as it arrives."""
    from lab import Lab

    with Lab() as lab:
        netns = {n: f"{lab.run_id}-{n}" for n in ("fw1", "fw2")}
        orig_host = lab.host
        lab.host = lambda name, addr, mac=None: orig_host(name, addr, mac)
        args = [sys.executable, "-m", "carpscope", "live", "-q", "-T", "json", "-p", "s3cret", "--duration", "40"]
        for name in ("fw1", "fw2"):
            args += ["--from", (f"{name}=ip netns exec {netns[name]} tcpdump -U -n -s 0 -i eth0 -w - "
                                f"'{LAB_FILTER}' 2>/dev/null")]
        watcher = None

        def host(name, addr, mac=None):
            nonlocal watcher
            h = orig_host(name, addr, mac)
            if name == "fw2":
                watcher = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, text=True)
                time.sleep(2.0)  # both tcpdumps listening
            return h

        lab.host = host
        run_ = _pair_in_lab(lab, "fw2")
        watcher.send_signal(2)  # SIGINT: the report now
        out, err = watcher.communicate(timeout=30)
    assert watcher.returncode in (0, 1), err
    _assert_one_way(json.loads(out), run_, "fw2")


def record(outdir: Path) -> None:
    """Record captures/oneway-fw1.pcap and oneway-fw2.pcap: the lab run of
    test_lab_one_way_loss_from_the_nodes_captures with the bridge cutting multicast to fw2.
    Usage: sudo python3 tests/test_vantage.py OUTDIR; prints what the peers logged."""
    from lab import Lab

    captures = {}
    with Lab() as lab:
        orig_host = lab.host

        def host(name, addr, mac=None):
            h = orig_host(name, addr, mac)
            captures[name] = lab.capture(outdir / f"oneway-{name}.pcap", on=h, filter=LAB_FILTER)
            return h

        lab.host = host
        run_ = _pair_in_lab(lab, "fw2")
        for c in captures.values():
            c.stop()
        first = _first_frame(outdir / "oneway-fw1.pcap")
        print(f"bridge stops flooding multicast to fw2 at +{run_['cut_at'] - first:.1f} s, "
              f"restored at +{run_['healed_at'] - first:.1f} s")
        for name, peer in run_["peers"].items():
            for t, state in peer.transitions():
                print(f"{name}: +{t - first:.1f} s {state}")


def _first_frame(path: Path) -> float:
    import struct

    with path.open("rb") as f:
        f.read(24)
        sec, usec = struct.unpack("<II", f.read(8))
    return sec + usec / 1e6


if __name__ == "__main__":
    record(Path(sys.argv[1]).resolve())
