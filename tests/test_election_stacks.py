"""Elections judged by each stack's own rules (issue 13): OpenBSD, FreeBSD/pfSense/OPNsense, ucarp, keepalived.

Frames come from tests/stacks.py, built from the protocol facts (docs/protocol.md §1.4, §3,
§4, §9); one test per case the issue saw going wrong, plus the fingerprint itself.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import stacks
from carpscope.auth import Verifier
from carpscope.election import stack
from carpscope.election.events import Event
from carpscope.election.rules import Timing
from carpscope.election.tracker import Tracker
from carpscope.model import CarpAdvert, Finding, Frame, Severity, VrrpAdvert
from carpscope.pipeline import Pipeline

T0 = stacks.T0
KEY = stacks.bsd_key(b"s3cret")
VIPS = ("192.0.2.50",)
A, B, C, D = "192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"
ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


def node(src: str, stack_name: str, advskew: int = 0, **kw) -> stacks.Node:
    return stacks.Node(src, 1, KEY, VIPS, stack=stack_name, advskew=advskew,
                       real_mac="02:00:00:00:00:%02x" % int(src.rsplit(".", 1)[1]), **kw)


def adverts(n: stacks.Node, times, **kw) -> list[tuple[float, bytes]]:
    return [(T0 + t, n.advert(**kw)) for t in times]


def analyse(frames, timing: Timing = Timing.AUTO):
    """Feed (time, frame) pairs through the pipeline; return (everything in order, pipeline)."""
    pipeline = Pipeline(Verifier([]), Tracker(timing=timing))
    out = []
    for number, (t, data) in enumerate(frames, 1):
        out += pipeline.feed(Frame(number, t, 1, data, len(data)))
    out += pipeline.finish()
    return out, pipeline


def events(out) -> list[Event]:
    return [x for x in out if isinstance(x, Event)]


def findings(out, kind: str) -> list[Finding]:
    found = [x for x in out if isinstance(x, Finding) and x.kind == kind]
    for r in out:
        if isinstance(r, (CarpAdvert, VrrpAdvert)):
            found += [f for f in r.findings if f.kind == kind]
    return found


def members(pipeline) -> dict:
    return {m.addr: m for g in pipeline.tracker.snapshot().groups for m in g.members}


def carpscope(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "carpscope", *args], capture_output=True, timeout=120,
                          env={**os.environ, "NO_COLOR": "1"}, cwd=ROOT)


# -- the fingerprint -------------------------------------------------------------------

def test_each_stack_is_recognised_from_the_wire_with_its_evidence():
    frames = stacks.merged(
        adverts(node(A, "openbsd"), stacks.every(0, 4, 1)),
        adverts(stacks.Node(B, 2, KEY, VIPS, stack="freebsd"), stacks.every(0, 4, 1)),
        adverts(stacks.Node(A, 3, KEY, VIPS, stack="ucarp"), stacks.every(0, 4, 1)),
        [(T0 + t, stacks.keepalived_advert(C, 4, 150, ["192.0.2.60"])) for t in stacks.every(0, 4, 1)],
        adverts(stacks.Node(D, 5, KEY, VIPS, stack="openbsd", demote=128), [0.5]),
    )
    _, pipeline = analyse(frames)
    got = {(g.key.proto, g.key.id): (g.members[0].stack, g.members[0].stack_evidence)
           for g in pipeline.tracker.snapshot().groups}
    assert got[("carp", 1)] == (stack.OPENBSD, "same counter in 4 adverts")
    assert got[("carp", 2)] == ("FreeBSD (or pfSense/OPNsense)", "counting counter, demote 0, virtual MAC")
    assert got[("carp", 3)] == (stack.UCARP, "source MAC 00:00:5e:00:00:03")
    assert got[("vrrp", 4)] == (stack.VRRP, "VRRPv2")
    assert got[("carp", 5)] == (stack.OPENBSD, "demote byte 128")
    assert stack.fingerprint(stack.Clues("carp", "00:00:5e:00:01:01", 1, 1)) == (stack.UNKNOWN, "one advert")
    assert stack.fingerprint(stack.Clues("carp", "02:00:00:00:00:01", 3, 3, variant="openbsd-lladdr"))[0] == \
        stack.OPENBSD


def test_stack_shows_in_report_json_and_dashboard(tmp_path):
    path = stacks.write_pcap(tmp_path / "obsd.pcap", adverts(node(A, "openbsd"), stacks.every(0, 4, 1)))
    text = carpscope("read", str(path), "-q").stdout.decode()
    assert "OpenBSD (same counter in 4 adverts)" in text
    doc = json.loads(carpscope("read", str(path), "-T", "json").stdout)
    member = doc["groups"][0]["members"][0]
    assert (member["stack"], member["stack_evidence"]) == ("OpenBSD", "same counter in 4 adverts")
    from rich.console import Console

    from carpscope.views import tui
    _, pipeline = analyse(adverts(node(A, "openbsd"), stacks.every(0, 4, 1)))
    console = Console(width=250, record=True, color_system=None)
    console.print(tui.dashboard(pipeline.tracker.snapshot(), pipeline.events, [], T0 + 4, "eth0", 4, width=250))
    assert "OpenBSD (same counter in 4 adverts)" in console.export_text()


# -- What was seen: the timer --------------------------------------------------------------

def openbsd_failover() -> list[tuple[float, bytes]]:
    """B (advskew 100) master alone, A (advskew 0) takes over, A dies, B takes over after OpenBSD's
    3·(1 + 100/256) = 4.171875 s (docs/protocol.md §9.3)."""
    a, b = node(A, "openbsd"), node(B, "openbsd", advskew=100)
    b_first = stacks.every(0, 5.9, 1.390625)
    return stacks.merged(adverts(b, b_first), adverts(a, stacks.every(6, 15.5, 1)),
                           adverts(b, stacks.every(15 + 4.171875, 25, 1.390625)))


def test_openbsd_takeover_is_timed_by_openbsd_formula_without_being_told():
    out, pipeline = analyse(openbsd_failover())
    got = [(e.kind, e.from_, e.to, e.cause) for e in events(out)]
    assert got == [("master-elected", None, B, None), ("master-changed", B, A, "preempted"),
                   ("master-changed", A, B, "master-silent")]
    assert events(out)[-1].expected == pytest.approx(4.171875)
    assert findings(out, "slow-failover") == []
    assert members(pipeline)[B].stack == stack.OPENBSD
    # --timing bsd still overrides: then the same takeover is late for 3·1 + 100/256.
    forced = [e.kind for e in events(analyse(openbsd_failover(), Timing.BSD)[0])]
    assert "master-down" in forced


def test_timing_auto_is_the_cli_default(tmp_path):
    path = stacks.write_pcap(tmp_path / "obsd.pcap", openbsd_failover())
    default = carpscope("read", str(path), "-q").stdout.decode()
    assert "master-down" not in default and "4.17s" in default
    assert "master-down" in carpscope("read", str(path), "-q", "--timing", "bsd").stdout.decode()
    assert "master-down" not in carpscope("read", str(path), "-q", "--timing", "openbsd").stdout.decode()


# -- What was seen: normal demotion ------------------------------------------------------------

def test_demotion_is_named_with_the_severity_it_deserves():
    # OpenBSD boot interlock: demote 128 until rc is done, 32 during pfsync's bulk update, then 0.
    a = node(A, "openbsd")
    boot = stacks.merged(adverts(a, stacks.every(0, 4, 1), demote=128), adverts(a, stacks.every(4, 7, 1), demote=32),
                           adverts(a, stacks.every(7, 12, 1), demote=0))
    (found,) = findings(analyse(boot)[0], "demoted")
    assert found.severity is Severity.INFO
    assert "demote 128 -> 32" in found.detail and "boot interlock" in found.detail and "pfsync" in found.detail
    assert "a link down" not in found.detail

    # FreeBSD/pfSense/OPNsense: advskew 240 after boot until pfsync's bulk update is done.
    f = node(A, "freebsd")
    bulk = stacks.merged(adverts(f, stacks.every(0, 5, 1), advskew=240), adverts(f, stacks.every(5, 10, 1)))
    (found,) = findings(analyse(bulk)[0], "demoted")
    assert found.severity is Severity.INFO and "bulk update" in found.detail

    # pfSense maintenance mode mid-life (254 sent as 240): the backup (preempt on by default) takes over.
    a, b = node(A, "freebsd"), node(B, "freebsd", advskew=100)
    maint = stacks.merged(adverts(a, stacks.every(0, 5, 1)), adverts(a, [5.0], advskew=240),
                            adverts(b, stacks.every(5.01, 12, 1.390625)))
    out = analyse(maint)[0]
    assert events(out)[-1].cause == "demoted"
    (found,) = findings(out, "demoted")
    assert found.severity is Severity.WARNING and "maintenance mode" in found.detail

    # A demotion that never clears is a warning.
    stuck = adverts(node(A, "openbsd"), stacks.every(0, 6, 1), demote=128)
    (found,) = findings(analyse(stuck)[0], "demoted")
    assert found.severity is Severity.WARNING and "still did at the end of the capture" in found.detail


# -- What was seen: unicast peers ----------------------------------------------------------------

def test_unicast_ttl_follows_the_receiving_stack():
    freebsd = node(A, "freebsd", dst="198.51.100.2", ttl=254)  # routed to its peer, one hop
    assert findings(analyse(adverts(freebsd, stacks.every(0, 3, 1)))[0], "bad-ttl") == []
    openbsd = node(A, "openbsd", dst="198.51.100.2", ttl=254)  # OpenBSD always requires 255
    assert findings(analyse(adverts(openbsd, stacks.every(0, 3, 1)))[0], "bad-ttl")
    multicast = node(A, "freebsd", ttl=254)  # FreeBSD checks multicast adverts
    assert findings(analyse(adverts(multicast, stacks.every(0, 3, 1)))[0], "bad-ttl")


def test_unicast_multicast_mismatch_is_the_split_brain_cause():
    a = node(A, "freebsd", dst=B)  # ifconfig ... peer 192.0.2.2
    b = node(B, "freebsd", advskew=100)  # multicast
    out, pipeline = analyse(stacks.merged(adverts(a, stacks.every(0, 12, 1)),
                                            adverts(b, stacks.every(3, 12, 1.390625))))
    (split,) = findings(out, "split-brain")
    assert "unicast" in split.detail and "IGMP" not in split.detail
    assert (members(pipeline)[A].stack, members(pipeline)[A].stack_evidence) == (
        stack.FREEBSD, "counting counter, demote 0, unicast from the real MAC")


# -- What was seen: VRRPv2 with AH -------------------------------------------------------------------

def test_ah_wrapped_vrrp_is_captured_and_decoded(tmp_path):
    frames = [(T0 + t, stacks.keepalived_advert(C, 5, 150, ["192.0.2.65"], ah_seq=i + 1))
              for i, t in enumerate(stacks.every(0, 3, 1))]
    path = stacks.write_pcap(tmp_path / "ah.pcap", frames)
    doc = json.loads(carpscope("read", str(path), "-T", "json").stdout)
    packets = doc["packets"]
    assert [(p["proto"], p["vrid"], p["auth_type"], p["ah_spi"], p["ah_seq"]) for p in packets] == [
        ("vrrp", 5, 2, 0x1000, 1), ("vrrp", 5, 2, 0x1000, 2), ("vrrp", 5, 2, 0x1000, 3)]
    assert all(p["findings"] == [] for p in packets)
    assert doc["groups"][0]["master"] == C
    tree = carpscope("read", str(path), "-V").stdout.decode()
    assert "Authentication Header, SPI: 0x00001000, Sequence: 2" in tree
    assert "Auth Type: IP Authentication Header (2)" in tree
    for kernel in (False, True):
        for vlan in (False, True):
            from carpscope.capture.bpf import capture_filter

            expression = capture_filter("host 192.0.2.3", vlan, kernel)
            assert subprocess.run(["tcpdump", "-d", expression], capture_output=True).returncode == 0


# -- What was seen: preemption without delay ---------------------------------------------------

def test_vrrp_preemption_is_concluded_at_its_frame():
    d = [(T0 + t, stacks.keepalived_advert(D, 5, 100, ["192.0.2.65"])) for t in stacks.every(0, 5, 1)]
    c = [(T0 + t, stacks.keepalived_advert(C, 5, 150, ["192.0.2.65"])) for t in stacks.every(4.00025, 9, 1)]
    frames = stacks.merged(d, c)
    pipeline = Pipeline(Verifier([]), Tracker())
    preempter = next(i for i, (t, _) in enumerate(frames, 1) if t == T0 + 4.00025)
    for number, (t, data) in enumerate(frames, 1):
        out = pipeline.feed(Frame(number, t, 1, data, len(data)))
        if number == preempter:
            assert [(e.from_, e.to, e.cause, e.frame) for e in events(out)] == [(D, C, "preempted", number)]
    pipeline.finish()
    assert pipeline.tracker.snapshot().groups[0].master == C


def test_vrrp_collision_capture_agrees_with_keepalived_logs():
    text = carpscope("read", "captures/vrrp-collision.pcap", "-p", "s3cret").stdout.decode()
    lines = text.splitlines()
    for frame in (31, 55, 79):  # 192.0.2.3 (priority 150) advertised right after 192.0.2.4
        at = next(i for i, line in enumerate(lines) if line.lstrip().startswith(f"{frame} "))
        assert "master-changed 192.0.2.4 -> 192.0.2.3 (preempted" in lines[at + 1]
    report = text[text.index("carpscope report"):]
    group = next(line for line in report.splitlines() if line.startswith("  VRRP vrid 5"))
    assert group.endswith(f"master {C}")  # the final master keepalived logged
    assert report.count("preempted") == 3
    flapping = report[report.index("WARNING flapping"):]
    assert "(see vrrp-collision)" in " ".join(re.split(r"\n  (?=\S)", flapping)[0].split())


# -- What was seen: tcpdump's VRRP test captures ------------------------------------------------

@pytest.mark.parametrize("name", ["tcpdump-vrrp-vrrp_print-oobr.pcap", "tcpdump-vrrp-vrrp_print-oobr-2.pcap"])
def test_findings_name_the_vrid(name):
    text = carpscope("read", str(DATA / name), "-q").stdout.decode()
    assert "bad-ttl" in text and "vrid None" not in text
    assert ("VRRP vrid 255" if name.endswith("-2.pcap") else "VRRP vrid 2") in text


# -- issue 19: the timers' OpenBSD test without building the evidence ------------------------

def test_openbsd_shortcut_agrees_with_the_fingerprint():
    """stack.openbsd (what timers ask at every election) says OpenBSD exactly when fingerprint does."""
    import itertools

    seen = 0
    for proto, mac, adverts, counters, counting, demote, bow_out, over, variant, unicast in itertools.product(
            ("carp", "vrrp"), (None, "00:00:5E:00:00:07", "00:00:5e:00:01:07", "02:00:00:00:00:01"),
            (0, 1, 2, 9), (0, 1, 2), (False, True), (0, 1, 128), (False, True), (False, True),
            (None, "freebsd", "openbsd-lladdr", "openbsd-nov6ll"), (False, True)):
        c = stack.Clues(proto, mac, adverts, counters, counting, demote, bow_out, over, variant, unicast, 2)
        want = stack.fingerprint(c)[0] == stack.OPENBSD
        seen += want
        assert stack.openbsd(proto, mac, adverts, counters, demote, bow_out, variant) == want, c
    assert seen  # the grid reaches OpenBSD
