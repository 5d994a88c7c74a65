"""The real-peer lab (tests/lab.py) does what later tests rely on.

These tests run unmodified ucarp and keepalived on a namespace bridge, so they
need root; without it they skip, except under CI=true where they fail.  Each
one takes a few seconds of protocol time (advbase/advert_int 1 s).

Timing bounds come from the implementations, not from hope:

* ucarp (BACKUP) becomes MASTER once ``deadratio*advbase + advskew/256`` has
  passed since it *processed* the last advert.  It only looks at the clock
  when poll() returns, which in BACKUP happens every ``advbase + advskew/256``
  seconds, and its pcap handle delivers frames in blocks with a 1 s timeout
  (ucarp's CAPTURE_TIMEOUT), so a takeover can come up to ~2 s after the timer.
* keepalived uses precise timers: ``3*advert_int + (256-priority)/256``.
"""

from __future__ import annotations

import subprocess
import time
from contextlib import nullcontext

import pytest

from lab import (
    Host,
    Lab,
    carp_adverts,
    describe,
    list_namespaces,
    namespace_pids,
    require_lab,
    run,
    running,
    vrrp_adverts,
)

A, B = ("a", "192.0.2.1"), ("b", "192.0.2.2")
VIP = "192.0.2.50"


def ucarp_pair(lab: Lab, skew_b: int = 10, pass_b: str = "s3cret"):
    """A (advskew 0) starts first and wins; B (advskew skew_b) is the backup."""
    a, b = lab.host(*A), lab.host(*B)
    pa = lab.ucarp(a, vhid=1, password="s3cret", vip=VIP)
    assert pa.wait_for("BACKUP", timeout=2), pa.text()
    pb = lab.ucarp(b, vhid=1, password=pass_b, vip=VIP, advskew=skew_b)
    return pa, pb


def test_ucarp_pair_elects_one_master_and_capture_holds_its_adverts(lab, tmp_path):
    cap = lab.capture(tmp_path / "pair.pcap")
    # advskew 100: B's first master-down timer ends 0.39 s after A's, not 0.04 s, so a
    # busy machine delaying A's first advert a little does not make B master too.
    pa, pb = ucarp_pair(lab, skew_b=100)
    assert pa.wait_for("MASTER", timeout=5), pa.text()
    time.sleep(2.5)
    cap.stop()

    assert [s for _, s in pa.transitions()] == ["BACKUP", "MASTER"]
    assert [s for _, s in pb.transitions()] == ["BACKUP"], pb.text()
    adverts = carp_adverts(cap.path)
    assert len(adverts) >= 3
    assert {(x.src, x.vhid, x.advskew, x.advbase) for x in adverts} == {("192.0.2.1", 1, 0, 1)}
    assert {x.mac for x in adverts} == {"00:00:5e:00:00:01"}  # ucarp's advert source MAC


def test_killing_the_ucarp_master_makes_the_backup_master_within_about_4s(lab, tmp_path):
    cap = lab.capture(tmp_path / "failover.pcap")
    pa, pb = ucarp_pair(lab, skew_b=10)
    assert pa.wait_for("MASTER", timeout=5), pa.text()
    time.sleep(1.5)
    killed = pa.kill()
    took_over = pb.wait_for("MASTER", timeout=6, since=killed)
    cap.stop()

    assert took_over, pb.text()
    # timer 3.04 s + one BACKUP poll period (1.04 s) + pcap block timeout
    assert took_over - killed < 4.6
    sources = [x.src for x in carp_adverts(cap.path)]
    assert sources[-1] == "192.0.2.2" and "192.0.2.1" in sources


def test_keepalived_pair_elects_one_master_and_fails_over(lab, tmp_path):
    cap = lab.capture(tmp_path / "vrrp.pcap")
    a, b = lab.host(*A), lab.host(*B)
    ka = lab.keepalived(a, vrid=7, priority=150, vip="192.0.2.60/32")
    assert ka.wait_for("BACKUP", timeout=3), ka.text()
    kb = lab.keepalived(b, vrid=7, priority=100, vip="192.0.2.60/32")
    assert ka.wait_for("MASTER", timeout=5), ka.text()
    time.sleep(2)
    assert [s for _, s in kb.transitions()] == ["BACKUP"], kb.text()

    killed = ka.kill()
    took_over = kb.wait_for("MASTER", timeout=6, since=killed)
    cap.stop()
    assert took_over, kb.text()
    assert took_over - killed < 3 + (256 - 100) / 256 + 0.3
    adverts = vrrp_adverts(cap.path)
    assert {(x.src, x.vrid, x.priority, x.version) for x in adverts} == {
        ("192.0.2.1", 7, 150, 2), ("192.0.2.2", 7, 100, 2)}


def test_multicast_flood_off_is_one_way_loss_and_splits_the_brain(lab, tmp_path):
    a, b = lab.host(*A), lab.host(*B)
    lab.multicast_flood_off(b)
    on_bridge = lab.capture(tmp_path / "bridge.pcap")
    on_a = lab.capture(tmp_path / "a.pcap", on=a)
    on_b = lab.capture(tmp_path / "b.pcap", on=b)
    pa = lab.ucarp(a, vhid=1, password="s3cret", vip=VIP)
    pb = lab.ucarp(b, vhid=1, password="s3cret", vip=VIP, advskew=100)
    assert pa.wait_for("MASTER", timeout=5), pa.text()
    assert pb.wait_for("MASTER", timeout=6), pb.text()
    time.sleep(1.5)
    for cap in (on_bridge, on_a, on_b):
        cap.stop()

    sources = {name: {x.src for x in carp_adverts(c.path)}
               for name, c in (("bridge", on_bridge), ("a", on_a), ("b", on_b))}
    assert sources == {"bridge": {"192.0.2.1", "192.0.2.2"},
                       "a": {"192.0.2.1", "192.0.2.2"},  # B's multicast still reaches A
                       "b": {"192.0.2.2"}}               # A's never reaches B
    assert pa.state == pb.state == "MASTER"
    # Only multicast is cut: A's gratuitous ARP (broadcast) still reaches B.
    arp_at_b = run("tcpdump", "-n", "-e", "-r", str(on_b.path), "arp")
    assert "02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff" in arp_at_b


def test_link_down_takes_the_carrier_away_and_link_up_restores_it(lab):
    a = lab.host(*A)
    lab.link_down(a)
    assert "NO-CARRIER" in lab.exec(a, "ip", "link", "show", "eth0")
    lab.link_up(a)
    deadline = time.time() + 2
    while "NO-CARRIER" in lab.exec(a, "ip", "link", "show", "eth0") and time.time() < deadline:
        time.sleep(0.05)
    assert "LOWER_UP" in lab.exec(a, "ip", "link", "show", "eth0")


@pytest.mark.parametrize("body_raises", [False, True])
def test_exit_removes_namespaces_and_processes(tmp_path, body_raises):
    require_lab()
    with pytest.raises(RuntimeError) if body_raises else nullcontext(), Lab() as lab:
        a, b = lab.host(*A), lab.host(*B)
        lab.capture(tmp_path / "x.pcap")
        lab.ucarp(a, vhid=1, password="s3cret", vip=VIP)
        lab.keepalived(b, vrid=9, priority=100, vip="192.0.2.60/32")
        time.sleep(1)
        pids, run_id = lab.pids(), lab.run_id
        assert len(pids) >= 4  # tcpdump, ucarp, keepalived + its VRRP child
        if body_raises:
            raise RuntimeError("body failed")
    assert not [ns for ns in list_namespaces() if ns.startswith(run_id)]
    assert not [describe(pid) for pid in pids if running(pid)]


def test_enter_removes_namespaces_of_dead_runs_and_their_processes():
    require_lab()
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = f"cs-{dead.pid}-abcdef-x"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    orphan = subprocess.Popen(["ip", "netns", "exec", stale, "sleep", "60"])
    try:
        time.sleep(0.2)
        assert namespace_pids(stale) == [orphan.pid]
        with Lab():
            assert stale not in list_namespaces()
        assert orphan.wait(timeout=2) == -9
    finally:
        if orphan.poll() is None:
            orphan.kill()
        subprocess.run(["ip", "netns", "del", stale], capture_output=True)


def test_arguments_ucarp_would_reject_are_refused_early():
    host = Host("a", "unused", "192.0.2.1", "02:00:00:00:00:01", "p-a")
    with pytest.raises(ValueError, match="19"):
        Lab().ucarp(host, vhid=1, password="x" * 20, vip=VIP)
    with pytest.raises(ValueError):
        Lab().host("a", "198.51.100.1")
