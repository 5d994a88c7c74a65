"""Signature verdicts that never blame the healthy node (issue 12), on frames from tests/stacks.py.

Each case of the issue is read the way a user reads a capture (`carpscope read X
-T json`), and where cheap through the Pipeline directly: `live` feeds the same
Pipeline (cli.live -> live_shell.watch -> shell.run()), so the pipeline-level checks cover the dashboard's
data (its groups come from the same tracker snapshot).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dpkt
import pytest

import stacks
from carpscope.auth import Verifier
from carpscope.election.tracker import Tracker
from carpscope.model import CarpAdvert, Frame, Severity
from carpscope.pipeline import HELD_MAX, Pipeline
from stacks import T0, Node, adverts, bsd_key, gui_password, merged, takeover, write_pcap

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "captures"
V4A, V4B = "192.0.2.1", "192.0.2.2"
TWO_VIPS = ["192.0.2.50", "198.51.100.50"]  # two VIPs, one outside the /24: no search can find them


def read_json(path: Path, *args: str) -> dict:
    result = subprocess.run([sys.executable, "-m", "carpscope", "read", str(path), "-T", "json", *args],
                            capture_output=True, timeout=120, cwd=ROOT,
                            env={**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)})
    assert b"Traceback" not in result.stderr, result.stderr.decode()
    return json.loads(result.stdout)


def members(doc: dict, vhid: int = 1, family: int = 4) -> dict[str, str]:
    """Final per-member verdicts of a group, as JSON carries them."""
    group = next(g for g in doc["groups"] if (g["proto"], g["id"], g["family"]) == ("carp", vhid, family))
    return {m["addr"]: m["hmac"] for m in group["members"]}


def kinds(doc: dict) -> dict[str, dict]:
    return {f["kind"]: f for f in doc["findings"]}


def criticals(doc: dict) -> set[str]:
    return {f["kind"] for f in doc["findings"] if f["severity"] == "critical"}


def pipeline_run(frames, passphrases, vips=None, tick: float = 0.0) -> Pipeline:
    """The live path's core: frames fed one by one, then finish().

    tick: also advance the clock every `tick` seconds between frames, as `live` does.
    """
    p = Pipeline(Verifier(passphrases, vips or {}), Tracker())
    now = frames[0][0]
    for n, (t, data) in enumerate(frames, 1):
        while tick and now + tick < t:
            now += tick
            p.advance(now)
        p.feed(Frame(n, t, 1, data, len(data)))
    p.finish()
    return p


def snapshot_verdicts(p: Pipeline, vhid: int = 1, family: int = 4) -> dict[str, str]:
    g = next(g for g in p.tracker.snapshot().groups if (g.key.id, g.key.family) == (vhid, family))
    return {m.addr: m.hmac for m in g.members}


def split_brain(a: Node, b: Node, start: float, end: float, b_from: float) -> list:
    """A is master throughout; B (not hearing A) advertises too from b_from."""
    return merged(adverts(a, start, end), adverts(b, b_from, end, interval=1.39))


# -- case 1: one failing member marks every member bad -----------------------------------

def test_case1_shipped_mismatch_without_arp_from_bs_first_advert(tmp_path):
    """The issue's repro: passphrase-mismatch.pcap, ARP removed, starting at B's first advert."""
    frames = []
    with (CAPTURES / "passphrase-mismatch.pcap").open("rb") as f:
        for n, (ts, buf) in enumerate(dpkt.pcap.Reader(f), 1):
            if 5 <= n <= 29 and dpkt.ethernet.Ethernet(buf).type != dpkt.ethernet.ETH_TYPE_ARP:
                frames.append((ts, buf))
    assert len(frames) > 10
    path = write_pcap(tmp_path / "mismatch-no-arp.pcap", frames)
    doc = read_json(path, "-p", "s3cret", "--vip", "1=192.0.2.50")
    assert members(doc) == {V4A: "ok", V4B: "bad"}
    assert {p["hmac"] for p in doc["packets"] if p["src"] == V4A} == {"ok"}
    doc = read_json(path, "-p", "s3cret")  # no --vip: A's single VIP is found by the search
    assert members(doc) == {V4A: "ok", V4B: "bad"}


def test_case1_kernel_carp_members_share_the_virtual_mac():
    a = Node(V4A, 1, bsd_key(b"s3cret"), ["192.0.2.50"])
    b = Node(V4B, 1, bsd_key(b"wr0ng-pass"), ["192.0.2.50"], advskew=100)
    assert a.advert_mac == b.advert_mac  # 00:00:5e:00:01:01: the MAC tells nobody apart
    frames = merged(adverts(b, T0, T0 + 8, interval=1.39), adverts(a, T0 + 0.3, T0 + 8))  # B first
    p = pipeline_run(frames, [b"s3cret"], {1: ["192.0.2.50"]})
    assert snapshot_verdicts(p) == {V4A: "ok", V4B: "bad"}
    split = next(t.first for t in p.tallies() if t.first.kind == "split-brain")
    assert "passphrases or the VIP sets differ" in split.detail


# -- case 2: unknown VIPs are not a wrong key --------------------------------------------

def test_case2_shipped_multicast_loss_proto112(tmp_path):
    """captures/multicast-loss-proto112.pcap: rebuilt from tests/stacks.py; the keys are not blamed."""
    shipped = CAPTURES / "multicast-loss-proto112.pcap"
    rebuilt = write_pcap(tmp_path / "rebuilt.pcap", stacks.multicast_loss_proto112())
    assert rebuilt.read_bytes() == shipped.read_bytes()
    for args in (("-p", "s3cret"), ()):
        doc = read_json(shipped, *args)
        assert criticals(doc) == {"split-brain"}
        cause = kinds(doc)["split-brain"]["detail"]
        assert "the keys are not the problem" in cause and "IGMP snooping" in cause
    doc = read_json(shipped, "-p", "s3cret", "--vip", "1=192.0.2.50", "--vip", "1=192.0.2.51")
    assert members(doc) == {V4A: "ok", V4B: "ok"} and criticals(doc) == {"split-brain"}


def test_case2_protocol_112_only_is_unverified_not_bad(tmp_path):
    a = Node(V4A, 1, bsd_key(b"s3cret"), TWO_VIPS)
    b = Node(V4B, 1, bsd_key(b"s3cret"), TWO_VIPS, advskew=100)
    path = write_pcap(tmp_path / "p112.pcap", split_brain(a, b, T0, T0 + 12, T0 + 4))
    doc = read_json(path, "-p", "s3cret")
    assert members(doc) == {V4A: "unverified", V4B: "unverified"}
    assert {p["hmac_reason"] for p in doc["packets"]} == {"vips-unknown"}
    assert "hmac-failed" not in criticals(doc)
    found = kinds(doc)
    assert found["vips-unknown"]["severity"] == "info" and "--vip 1=" in found["vips-unknown"]["detail"]
    cause = found["split-brain"]["detail"]
    assert "IGMP snooping" in cause and "passphrases or the VIP sets differ" not in cause
    doc = read_json(path, "-p", "s3cret", "--vip", "1=192.0.2.50", "--vip", "1=198.51.100.50")
    assert members(doc) == {V4A: "ok", V4B: "ok"}
    assert "every advert verifies" in kinds(doc)["split-brain"]["detail"]


def test_case2_a_later_claim_rejudges_the_earlier_adverts(tmp_path):
    """Capture started after the last takeover: the master re-announces its VIPs later."""
    a = Node(V4A, 1, bsd_key(b"s3cret"), TWO_VIPS)
    frames = adverts(a, T0, T0 + 5) + [(T0 + 5.2, c) for c in a.claims()] + adverts(a, T0 + 6, T0 + 9)
    path = write_pcap(tmp_path / "late-claim.pcap", frames)
    doc = read_json(path, "-p", "s3cret")
    verdicts = [p["hmac"] for p in doc["packets"]]
    assert verdicts[:5] == ["unverified"] * 5 and set(verdicts[5:]) == {"ok"}
    assert members(doc) == {V4A: "ok"}  # the final verdict, not a stale "unverified" or "mixed"
    assert not criticals(doc)
    for tick in (0.0, 0.1):
        assert snapshot_verdicts(pipeline_run(frames, [b"s3cret"], tick=tick)) == {V4A: "ok"}


def test_case2_bad_against_part_of_the_vips_is_rejudged_when_all_are_claimed(tmp_path):
    """The capture starts inside a takeover's claims: one VIP of two is claimed, then all are."""
    a = Node(V4A, 1, bsd_key(b"s3cret"), TWO_VIPS)
    claims = a.claims()
    frames = ([(T0, claims[1])] + adverts(a, T0 + 0.2, T0 + 5) + [(T0 + 5.2, c) for c in claims]
              + adverts(a, T0 + 6, T0 + 9))
    path = write_pcap(tmp_path / "partial.pcap", frames)
    doc = read_json(path, "-p", "s3cret")
    verdicts = [p["hmac"] for p in doc["packets"]]
    assert verdicts[0] == "bad" and verdicts[-1] == "ok"  # the lines as printed
    assert members(doc) == {V4A: "ok"} and "hmac-failed" not in kinds(doc)  # the report, re-judged


# -- case 3: pfSense / OPNsense GUI passwords ---------------------------------------------

@pytest.mark.parametrize("password", ["my pass", "it's-a-secret", 'say "hi" \\o/'])
def test_case3_gui_password_matches_in_its_pfsense_form(tmp_path, password):
    a = Node(V4A, 1, bsd_key(gui_password(password)), ["192.0.2.50"])
    path = write_pcap(tmp_path / "gui.pcap", adverts(a, T0, T0 + 4))
    doc = read_json(path, "-p", password, "--vip", "1=192.0.2.50")
    assert {(p["hmac"], p["passphrase"], p["key_form"]) for p in doc["packets"]} == {("ok", 1, "pfsense-gui")}
    assert members(doc) == {V4A: "ok"}
    gui = kinds(doc)["gui-passphrase"]
    assert gui["severity"] == "info" and "pfSense/OPNsense form" in gui["detail"]
    assert password not in json.dumps(doc)


# -- case 4: OpenBSD load balancing -------------------------------------------------------

@pytest.mark.parametrize("claim_mac", ["01:00:5e:00:01:01", "00:00:5e:00:01:01"], ids=["ip", "ip-stealth"])
def test_case4_balancing_claims_name_the_vips_of_every_vhid(tmp_path, claim_mac):
    """carpnodes 1:0,2:100: claims come from the leader (vhid 1) only, in both modes (§9.5)."""
    one = Node(V4A, 1, bsd_key(b"s3cret"), TWO_VIPS, stack="openbsd")
    two = Node(V4A, 2, bsd_key(b"s3cret"), TWO_VIPS, stack="openbsd")
    frames = merged(takeover(one, T0, claim_mac=claim_mac), adverts(one, T0 + 1, T0 + 6),
                    adverts(two, T0 + 0.1, T0 + 6))
    path = write_pcap(tmp_path / "balancing.pcap", frames)
    doc = read_json(path, "-p", "s3cret")
    assert members(doc, vhid=1) == {V4A: "ok"} and members(doc, vhid=2) == {V4A: "ok"}
    assert {p["hmac"] for p in doc["packets"]} == {"ok"}
    assert not criticals(doc)


# -- case 5: dual stack --------------------------------------------------------------------

@pytest.mark.parametrize("stack, vips", [
    ("freebsd", ["192.0.2.50", "2001:db8::50"]),
    ("openbsd", ["192.0.2.50", "2001:db8::50", "fe80::200:5eff:fe00:101"]),  # signs without link-local
], ids=["freebsd", "openbsd-nov6ll"])
def test_case5_dual_stack_takeover_first_advert_is_ok(tmp_path, stack, vips):
    b4 = Node(V4B, 1, bsd_key(b"s3cret"), vips, stack=stack)
    b6 = Node("fe80::2", 1, bsd_key(b"s3cret"), vips, stack=stack)  # the same node's IPv6 adverts
    first = [(T0, b4.advert()), (T0 + 0.001, b6.advert())] + [(T0 + 0.002 + i / 1000, c)
                                                                for i, c in enumerate(b4.claims())]
    frames = first + merged(adverts(b4, T0 + 1, T0 + 5), adverts(b6, T0 + 1.001, T0 + 5))
    path = write_pcap(tmp_path / "dual.pcap", frames)
    doc = read_json(path, "-p", "s3cret")
    assert [p["hmac"] for p in doc["packets"]] == ["ok"] * 10
    if stack == "openbsd":  # the link-local VIP was claimed, but OpenBSD signs without it (NOV6LL)
        assert {p["hmac_variant"] for p in doc["packets"]} == {"openbsd-nov6ll"}
    assert members(doc, family=4) == {V4B: "ok"} and not doc["findings"]
    for tick in (0.0, 0.1):
        assert snapshot_verdicts(pipeline_run(frames, [b"s3cret"], tick=tick), family=4) == {V4B: "ok"}
    # The frames that waited behind the held advert are still saved by -w, and counted by -c.
    out = tmp_path / "saved.pcap"
    read_json(path, "-p", "s3cret", "-w", str(out))
    with out.open("rb") as f:
        assert len(list(dpkt.pcap.Reader(f))) == len(frames)
    assert len(read_json(path, "-p", "s3cret", "-c", "2")["packets"]) == 2


# -- case 6: a changed passphrase left the old key's tail ------------------------------------

def test_case6_stale_tail_is_found_and_explained(tmp_path):
    stale = bsd_key(b"short", previous=bsd_key(b"longpassword123"))
    assert stale.rstrip(b"\0") == b"short\0ssword123"
    a = Node(V4A, 1, bsd_key(b"longpassword123"), ["192.0.2.50"])
    before = adverts(a, T0, T0 + 3)
    a.key = stale  # `ifconfig carp0 pass short` at +3 s
    b = Node(V4B, 1, bsd_key(b"short"), ["192.0.2.50"], advskew=100)  # set afresh
    split = split_brain(a, b, T0 + 3, T0 + 10, T0 + 4)
    a.key = bsd_key(b"short")  # the interface re-created at +10 s, as the finding advises
    path = write_pcap(tmp_path / "stale.pcap", before + split + adverts(a, T0 + 10, T0 + 12))
    doc = read_json(path, "-p", "short", "-p", "longpassword123", "--vip", "1=192.0.2.50")
    forms = [(p["src"], p["hmac"], p["passphrase"], p["key_form"]) for p in doc["packets"]]
    assert forms[:4] == [(V4A, "ok", 2, "plain")] * 3 + [(V4A, "ok", 1, "stale-tail")]
    assert forms[-2:] == [(V4A, "ok", 1, "plain")] * 2  # "short" failed for A before: tried again after the change
    assert set(forms) == {(V4A, "ok", 2, "plain"), (V4A, "ok", 1, "stale-tail"), (V4A, "ok", 1, "plain"),
                          (V4B, "ok", 1, "plain")}
    found = kinds(doc)
    assert found["stale-key"]["severity"] == "warning" and "tail of passphrase 2" in found["stale-key"]["detail"]
    assert "passphrase-mismatch" in found
    assert "passphrases or the VIP sets differ" in found["split-brain"]["detail"]


# -- issue 20: the search is bounded ---------------------------------------------------------

def test_search_budget_is_reported_once_and_leaves_the_rest_unverified():
    # Distinct counters: each search hashes other messages (identical headers are searched once, below).
    forged = [Node(f"192.0.2.{10 + i}", 1, bsd_key(b"forged"), TWO_VIPS, counter=i + 1) for i in range(20)]
    frames = [(T0 + i * 0.01, n.advert()) for i, n in enumerate(forged)]
    p = Pipeline(Verifier([b"s3cret"], budget=5 * 256 * 2), Tracker())  # room for about 5 searches
    out = []
    for n, (t, data) in enumerate(frames, 1):
        out += p.feed(Frame(n, t, 1, data, len(data)))
    out += p.finish()
    notes = [t for t in p.tallies() if t.first.kind == "signature-budget"]
    assert len(notes) == 1 and notes[0].count == 1 and notes[0].first.severity is Severity.WARNING
    reasons = [r.hmac_reason for r in out if isinstance(r, CarpAdvert)]
    assert "budget-spent" in reasons and reasons.count("vips-unknown") <= 6


def test_forged_senders_of_one_header_are_searched_once():
    """Issue 20: forged sources of one /24 sending one header make the same HMACs: one search, no budget spent."""
    forged = [Node(f"192.0.2.{10 + i}", 1, bsd_key(b"forged"), TWO_VIPS) for i in range(20)]
    frames = [(T0 + i * 0.01, n.advert()) for i, n in enumerate(forged)]
    verifier = Verifier([b"s3cret"], budget=5 * 256 * 2)
    p = Pipeline(verifier, Tracker())
    out = []
    for n, (t, data) in enumerate(frames, 1):
        out += p.feed(Frame(n, t, 1, data, len(data)))
    out += p.finish()
    assert not [t for t in p.tallies() if t.first.kind == "signature-budget"]
    assert {r.hmac_reason for r in out if isinstance(r, CarpAdvert)} == {"vips-unknown"}
    # one /24 search per key (the passphrase, the empty key), as for a single sender; before: one per sender
    assert verifier._budget == 5 * 256 * 2 - len(verifier._keys) * 256 == 2048


def test_a_sender_whose_pass_changes_is_searched_again():
    """Searching once per (sender, vhid, key) must not outlive a pass change (a guard for the above)."""
    a = Node(V4A, 1, bsd_key(b"old-pass"), TWO_VIPS)
    frames = adverts(a, T0, T0 + 3)
    a.key = bsd_key(b"new-pass")  # "new-pass" was tried, and failed, on the first adverts
    frames += adverts(a, T0 + 3, T0 + 6)
    p = Pipeline(Verifier([b"new-pass", b"old-pass"], {1: TWO_VIPS}), Tracker())
    out = []
    for n, (t, data) in enumerate(frames, 1):
        out += p.feed(Frame(n, t, 1, data, len(data)))
    out += p.finish()
    assert [(r.hmac, r.passphrase) for r in out if isinstance(r, CarpAdvert)] == [("ok", 2)] * 3 + [("ok", 1)] * 3


def test_claims_held_behind_an_advert_are_capped():
    a = Node(V4A, 1, bsd_key(b"other"), TWO_VIPS)
    p = Pipeline(Verifier([b"s3cret"]), Tracker())
    p.feed(Frame(1, T0, 1, a.advert(), 0))
    deepest = 0
    for n in range(2, 2000):
        frame = stacks.garp(f"10.{n >> 8}.{n & 255}.1", "02:00:00:00:00:09")
        p.feed(Frame(n, T0 + n * 1e-5, 1, frame, len(frame)))
        deepest = max(deepest, len(p._held.queue) if p._held else 0)
    assert 0 < deepest <= HELD_MAX
