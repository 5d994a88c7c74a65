"""The election tracker: scripted adverts with times in, exact events and findings out."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carpscope.election import rules
from carpscope.election.events import Event, Snapshot
from carpscope.election.rules import Timing
from carpscope.election.tracker import TAKEOVER_GRACE, Tracker
from carpscope.model import CarpAdvert, Finding, Severity, VrrpAdvert

A, B, C = "192.0.2.1", "192.0.2.2", "192.0.2.3"
VIP = ("192.0.2.50",)


class Script:
    """Builds adverts with consecutive frame numbers, like a capture would."""

    def __init__(self):
        self.frame = 0

    def _base(self, t, src, family, vlan, mac):
        self.frame += 1
        return dict(frame=self.frame, time=float(t), family=family, src=src,
                    dst="224.0.0.18" if family == 4 else "ff02::12", src_mac=mac, dst_mac="01:00:5e:00:00:12",
                    vlan=tuple(vlan), ttl=255, version=None, type=1, checksum="ok", why="test")

    def carp(self, t, src, vhid=1, advbase=1, advskew=0, demote=0, counter=None, md=None, hmac="unverified",
             passphrase=None, vips=None, hint=None, family=4, vlan=(), mac=None):
        base = self._base(t, src, family, vlan, mac or f"00:00:5e:00:00:{vhid:02x}")
        base.update(version=2, length=36, caplen=36)
        counter = self.frame * 7919 if counter is None else counter
        md = counter.to_bytes(20, "big") if md is None else md
        if hmac == "ok":
            vips = VIP if vips is None else vips
            passphrase = 1 if passphrase is None else passphrase
        return CarpAdvert(**base, vhid=vhid, advbase=advbase, advskew=advskew, authlen=7, demote=demote,
                          cksum=0, counter=counter, md=md, hmac=hmac, passphrase=passphrase if hmac == "ok" else None,
                          vips=vips if hmac == "ok" else None, vips_from="given" if hmac == "ok" else None,
                          hmac_hint=hint)

    def vrrp(self, t, src, vrid=1, priority=100, adver_int=1, version=2, family=4, vlan=(), addresses=("192.0.2.60",),
             auth_type=0, auth_data=bytes(8)):
        base = self._base(t, src, family, vlan, f"00:00:5e:00:0{1 if family == 4 else 2}:{vrid:02x}")
        base.update(version=version, length=8 + 4 * len(addresses), caplen=8 + 4 * len(addresses))
        return VrrpAdvert(**base, vrid=vrid, priority=priority, count=len(addresses),
                          auth_type=auth_type if version == 2 else None,
                          auth_data=auth_data if version == 2 else None, adver_int=adver_int, cksum=0,
                          addresses=tuple(addresses))

    def every(self, src, start, stop, step, **kw):
        """Adverts from `src` at start, start+step, ... while < stop."""
        out, t = [], start
        while t < stop - 1e-9:
            out.append(self.carp(round(t, 6), src, **kw))
            t += step
        return out

    def vrrp_every(self, src, start, stop, step, **kw):
        out, t = [], start
        while t < stop - 1e-9:
            out.append(self.vrrp(round(t, 6), src, **kw))
            t += step
        return out


def merge(*streams):
    """Adverts of several senders in capture order; frames renumbered in that order."""
    records = sorted((r for s in streams for r in s), key=lambda r: (r.time, r.frame))
    return [_renumber(r, i + 1) for i, r in enumerate(records)]


def _renumber(r, frame):
    fields = {name: getattr(r, name) for name in r.__dataclass_fields__}
    fields["frame"] = frame
    return type(r)(**fields)


def run(records, end=None, tracker=None):
    """Feed records the way carpscope.pipeline does; return (events, findings)."""
    tracker = tracker or Tracker()
    out = []
    last = None
    for r in records:
        deadline = tracker.next_deadline()
        if deadline is not None and deadline <= r.time:
            out += tracker.advance(r.time)
        out += tracker.observe(r, r.time)
        last = r.time
    if end is not None:
        out += tracker.advance(end)
        last = end
    if last is not None:
        out += tracker.finish(last)
    events = [x for x in out if isinstance(x, Event)]
    findings = [x for x in out if isinstance(x, Finding)]
    assert len(events) + len(findings) == len(out)
    return events, findings


def brief(events):
    """(kind, time, frame, from, to, cause) of each event, times rounded."""
    return [(e.kind, round(e.time, 6), e.frame, e.from_, e.to, e.cause) for e in events]


def kinds(findings):
    return sorted(f.kind for f in findings)


def by_kind(findings, kind):
    found = [f for f in findings if f.kind == kind]
    assert len(found) == 1, (kind, findings)
    return found[0]


# -- rules ----------------------------------------------------------------------------


def test_carp_timers_both_forms():
    assert rules.carp_interval(1, 100) == 1.390625
    assert rules.carp_master_down(1, 100) == 3.390625  # 3*advbase + advskew/256 (FreeBSD, ucarp)
    assert rules.carp_master_down(1, 100, Timing.OPENBSD) == 4.171875  # 3*(advbase + advskew/256)
    assert rules.carp_master_down(0, 0) == 3 / 256
    assert rules.carp_master_down(0, 128) == 1.5


def test_vrrp_timers():
    assert rules.vrrp_master_down(2, 1, 100) == 3 + 156 / 256  # RFC 3768 §6.1
    assert rules.vrrp_master_down(3, 100, 100) == pytest.approx(3.609375)  # RFC 5798 §6.1, centiseconds
    assert rules.vrrp_interval(3, 100) == 1.0 and rules.vrrp_interval(2, 1) == 1.0


def test_who_wins():
    s = Script()
    assert rules.beats(s.carp(0, A, advskew=0), s.carp(0, B, advskew=100))
    assert rules.beats(s.carp(0, A, advbase=2, advskew=0), s.carp(0, B, advbase=1, advskew=200)) is False
    assert rules.beats(s.carp(0, A, demote=0, advskew=200), s.carp(0, B, demote=1, advskew=0))  # OpenBSD demote first
    assert rules.beats(s.carp(0, A), s.carp(0, B)) is None  # tie: implementation-dependent
    assert rules.beats(s.carp(0, A, advskew=254), s.carp(0, B, advbase=255, advskew=255))  # bow-out loses
    assert rules.beats(s.vrrp(0, A, priority=150), s.vrrp(0, B, priority=100))
    assert rules.beats(s.vrrp(0, B, priority=100), s.vrrp(0, A, priority=100))  # higher address wins a tie


# -- events -----------------------------------------------------------------------------


def test_first_advert_elects_a_master():
    s = Script()
    events, findings = run([s.carp(10.0, A), s.carp(11.0, A)])
    assert brief(events) == [("master-elected", 10.0, 1, None, A, None)]
    assert findings == []
    assert events[0].proto == "carp" and events[0].id == 1 and events[0].family == 4 and events[0].vlan == ()


def test_master_down_when_nobody_takes_over():
    s = Script()
    events, _ = run(s.every(A, 0, 6, 1), end=30)
    assert brief(events) == [("master-elected", 0.0, 1, None, A, None),
                             ("master-down", 8.0, 6, A, None, None)]  # last advert 5 + 3*1 + 0/256
    assert events[1].expected == 3.0 and events[1].gap is None


def test_failover_after_master_down():
    s = Script()
    records = merge(s.every(A, 0, 6, 1), s.every(B, 9.5, 14, 1.390625, advskew=100))
    events, findings = run(records)
    assert brief(events) == [("master-elected", 0.0, 1, None, A, None),
                             ("master-down", 8.0, 6, A, None, None),
                             ("master-changed", 9.5, 7, A, B, "master-silent")]
    assert events[2].gap == 4.5 and events[2].expected == 3.390625
    assert findings == []


def test_event_time_is_the_wire_time_even_when_concluded_later():
    s = Script()
    records = merge(s.every(A, 0, 6, 1), s.every(B, 7.0, 12, 1.390625, advskew=100))
    tracker = Tracker()
    out = []
    for r in records:
        out += tracker.advance(r.time) if (tracker.next_deadline() or 1e18) <= r.time else []
        concluded = tracker.observe(r, r.time)
        out += concluded
        if r.time == 7.0:
            assert concluded == []  # A may still be alive: nothing concluded yet
    events = [e for e in out if isinstance(e, Event)]
    # B's first advert came before A's master-down time ran out, so there is no master-down;
    # the change is concluded at 5 + 3.390625 but dated 7.0, B's first advert.
    assert brief(events) == [("master-elected", 0.0, 1, None, A, None),
                             ("master-changed", 7.0, 7, A, B, "master-silent")]
    assert events[1].gap == 2.0 and events[1].expected == 3.390625


def test_preemption():
    s = Script()
    records = merge(s.every(A, 0, 6, 1),
                    s.every(B, 9.5, 16.3, 1.390625, advskew=100),
                    s.every(A, 15.0, 25, 1))
    events, _ = run(records)
    assert brief(events)[-1] == ("master-changed", 15.0, 11, B, A, "preempted")
    assert events[-1].gap == 0.0 and events[-1].expected is None
    assert "while it still advertised" in events[-1].detail


def test_demoted_master_loses():
    s = Script()
    records = merge(s.every(A, 0, 3, 1), s.every(A, 3, 6, 1, advskew=240), s.every(B, 5.5, 12, 1.390625, advskew=100))
    events, findings = run(records)
    assert brief(events) == [("master-elected", 0.0, 1, None, A, None),
                             ("parameters-changed", 3.0, 4, None, A, None),
                             ("master-changed", 5.5, 7, A, B, "demoted")]
    assert events[1].detail == f"{A}: advskew 0 -> 240"
    demoted = by_kind(findings, "demoted")
    assert demoted.severity is Severity.WARNING and demoted.frame == 4 and "advskew 240" in demoted.detail


def test_openbsd_demote_byte():
    s = Script()
    records = merge(s.every(A, 0, 2, 1), s.every(A, 2, 4, 1, demote=1), s.every(B, 3.5, 9, 1.390625, advskew=100))
    events, findings = run(records)
    assert events[-1].cause == "demoted"
    assert "demote 1" in by_kind(findings, "demoted").detail


@pytest.mark.parametrize("proto", ["carp", "vrrp"])
def test_goodbye_is_resigned_and_concluded_at_once(proto):
    s = Script()
    if proto == "carp":
        records = [s.carp(0, A), s.carp(1, A), s.carp(2, A, advbase=255, advskew=255), s.carp(2.01, B, advskew=100)]
    else:
        records = [s.vrrp(0, A, priority=200), s.vrrp(1, A, priority=200), s.vrrp(2, A, priority=0),
                   s.vrrp(2.6, B, priority=100)]
    tracker = Tracker()
    for r in records[:-1]:
        tracker.observe(r, r.time)
    out = tracker.observe(records[-1], records[-1].time)
    assert brief(out) == [("master-changed", records[-1].time, 4, A, B, "resigned")]
    assert not any(e.kind == "parameters-changed" for e in run(records)[0])  # a goodbye is not a new config


def test_unexplained_change():
    s = Script()
    records = merge(s.every(A, 0, 6, 1), s.every(B, 5.3, 12, 1.390625, advskew=100))
    events, _ = run(records)
    assert brief(events)[-1] == ("master-changed", 5.3, 7, A, B, "unknown")
    assert events[-1].expected == 3.390625


def test_master_returns_after_master_down():
    s = Script()
    records = s.every(A, 0, 3, 1) + s.every(A, 10, 12, 1)
    events, _ = run(records)
    assert brief(events) == [("master-elected", 0.0, 1, None, A, None),
                             ("master-down", 5.0, 3, A, None, None),
                             ("master-elected", 10.0, 4, None, A, None)]
    assert events[2].gap == 8.0


def split_brain(s, **b):
    return merge(s.every(A, 0, 20, 1, **b.pop("a", {})), s.every(B, 2.0, 12, 1.390625, advskew=100, **b))


def test_split_brain_started_and_ended():
    s = Script()
    events, findings = run(split_brain(s))
    split = [e for e in events if e.kind.startswith("split-brain")]
    b_first = next(e for e in events if e.kind == "split-brain-started")
    assert [(e.kind, e.from_, e.to) for e in split] == [("split-brain-started", A, B), ("split-brain-ended", B, A)]
    assert b_first.time == 2.0 and b_first.expected == 3.390625
    assert split[1].time == pytest.approx(2.0 + 7 * 1.390625)  # B's last advert
    assert [e.kind for e in events].count("master-changed") == 0
    f = by_kind(findings, "split-brain")
    assert f.severity is Severity.CRITICAL and f.time == 2.0 and f.frame == b_first.frame


def test_split_brain_cause_reachability_when_everything_verifies():
    s = Script()
    _, findings = run(split_brain(s, hmac="ok", a={"hmac": "ok"}))
    assert "IGMP snooping" in by_kind(findings, "split-brain").detail
    assert kinds(findings) == ["split-brain"]


def test_split_brain_cause_signatures_when_one_fails():
    s = Script()
    _, findings = run(split_brain(s, hmac="bad", hint="verifies with no passphrase given", a={"hmac": "ok"}))
    assert "signatures do not verify" in by_kind(findings, "split-brain").detail
    failed = by_kind(findings, "hmac-failed")  # once, however many bad adverts
    assert failed.severity is Severity.CRITICAL and B in failed.detail
    assert "verifies with no passphrase given" in failed.detail


def test_split_brain_cause_unknown_without_passphrase():
    s = Script()
    _, findings = run(split_brain(s))
    assert "give the passphrase with -p" in by_kind(findings, "split-brain").detail


def test_short_overlap_is_not_split_brain():
    """A momentary second master (VRRP backup timing out for an instant) is no split brain."""
    s = Script()
    records = merge(s.vrrp_every(A, 0, 20, 1, priority=150), [s.vrrp(8.5, B, priority=100)])
    events, findings = run(records)
    assert [e.kind for e in events] == ["master-elected"]
    assert findings == []


def test_end_of_capture_concludes_a_takeover():
    s = Script()
    records = merge(s.every(A, 0, 5, 1), s.every(B, 4.5, 6, 1.390625, advskew=100))
    events, _ = run(records)  # A last at 4, B at 4.5 and 5.89, end: A missed an advert, B did not
    assert brief(events)[-1] == ("master-changed", 4.5, 6, A, B, "unknown")


def test_parameters_changed_vrrp():
    s = Script()
    events, _ = run([s.vrrp(0, A, priority=150), s.vrrp(1, A, priority=90)])
    assert brief(events)[-1] == ("parameters-changed", 1.0, 2, None, A, None)
    assert events[-1].detail == f"{A}: priority 150 -> 90"


# -- findings ---------------------------------------------------------------------------


def test_slow_failover():
    s = Script()
    records = merge(s.every(A, 0, 6, 1), s.every(B, 14.0, 18, 1.390625, advskew=100))
    events, findings = run(records)
    assert events[-1].cause == "master-silent" and events[-1].gap == 9.0
    slow = by_kind(findings, "slow-failover")
    assert slow.severity is Severity.WARNING and slow.frame == 7 and slow.time == 14.0
    assert "9.00s" in slow.detail and "3.39s" in slow.detail


def test_ucarp_like_late_takeover_is_not_slow():
    s = Script()
    records = merge(s.every(A, 0, 6, 1), s.every(B, 5 + 5.2, 14, 1.390625, advskew=100))
    _, findings = run(records)
    assert findings == []


def test_flapping_once_per_episode():
    s = Script()
    records = merge(s.every(A, 0, 3, 1), s.every(B, 6, 9, 1, advskew=100), s.every(A, 12, 15, 1),
                    s.every(B, 18, 21, 1, advskew=100), s.every(A, 24, 27, 1))
    events, findings = run(records)
    assert [e.cause for e in events if e.kind == "master-changed"] == ["master-silent"] * 4
    flap = by_kind(findings, "flapping")
    third = [e for e in events if e.kind == "master-changed"][2]
    assert flap.severity is Severity.WARNING and flap.frame == third.frame and flap.time == third.time


def test_vrrp_collision_same_segment_only():
    s = Script()
    _, findings = run([s.carp(0, A, vhid=5), s.vrrp(0.5, C, vrid=5), s.vrrp(0.6, C, vrid=6),
                       s.vrrp(0.7, C, vrid=5, vlan=(10,)), s.vrrp(0.8, C, vrid=5, family=6, version=3, adver_int=100,
                                                              addresses=("fe80::1",))])
    f = by_kind(findings, "vrrp-collision")
    assert f.severity is Severity.CRITICAL and (f.proto, f.id, f.frame) == ("vrrp", 5, 2)
    assert "00:00:5e:00:01:05" in f.detail


def test_vrrp_collision_with_carp_over_ipv6():
    s = Script()
    _, findings = run([s.vrrp(0, C, vrid=9), s.carp(0.5, "2001:db8::1", vhid=9, family=6)])
    assert by_kind(findings, "vrrp-collision").frame == 2


def test_vhid_collision_two_unrelated_clusters():
    s = Script()
    records = merge(s.every(A, 0, 8, 1, hmac="ok", passphrase=1, vips=("192.0.2.50",)),
                    s.every("198.51.100.1", 0.5, 8, 1, hmac="ok", passphrase=2, vips=("198.51.100.7",)))
    _, findings = run(records)
    assert kinds(findings) == ["split-brain", "vhid-collision"]
    assert "two unrelated clusters" in by_kind(findings, "split-brain").detail
    assert "192.0.2.50" in by_kind(findings, "vhid-collision").detail


def test_passphrase_mismatch_names_positions_only():
    s = Script()
    records = merge(s.every(A, 0, 8, 1, hmac="ok", passphrase=1), s.every(B, 2, 8, 1.390625, advskew=100,
                                                                           hmac="ok", passphrase=2))
    _, findings = run(records)
    assert kinds(findings) == ["passphrase-mismatch", "split-brain"]
    f = by_kind(findings, "passphrase-mismatch")
    assert f.severity is Severity.CRITICAL
    assert f"{A} with passphrase 1" in f.detail and f"{B} with passphrase 2" in f.detail


def test_vip_mismatch():
    s = Script()
    records = [s.carp(0, A, hmac="ok", vips=("192.0.2.50",)),
               s.carp(0.5, B, advskew=100, hmac="ok", vips=("192.0.2.50", "192.0.2.51"))]
    _, findings = run(records)
    assert kinds(findings) == ["vip-mismatch"]
    assert "192.0.2.51" in findings[0].detail


def test_no_passphrase():
    s = Script()
    _, findings = run([s.carp(0, A, hmac="ok", passphrase=0), s.carp(1, A, hmac="ok", passphrase=0)])
    f = by_kind(findings, "no-passphrase")
    assert f.severity is Severity.WARNING and f.frame == 1


def test_advbase_mismatch_and_skew_tie():
    s = Script()
    _, findings = run(merge(s.every(A, 0, 3, 1), s.every(B, 6.5, 11, 2, advbase=2)))
    assert kinds(findings) == ["advbase-mismatch"]
    s = Script()
    _, findings = run(merge(s.every(A, 0, 3, 1), s.every(B, 6.5, 9, 1)))
    tie = by_kind(findings, "skew-tie")
    assert tie.severity is Severity.WARNING and "advbase 1 advskew 0" in tie.detail


def test_looped_advert_but_not_openbsd_constant_counter():
    s = Script()
    # OpenBSD: one counter (so one md) in every advert, one interval apart: normal.
    _, findings = run([s.carp(t, A, counter=42) for t in range(6)])
    assert findings == []
    s = Script()
    _, findings = run([s.carp(0, A, counter=42), s.carp(1, A, counter=43), s.carp(1.0004, A, counter=43)])
    f = by_kind(findings, "looped-advert")
    assert f.frame == 3 and "0.4 ms" in f.detail


def test_replayed_advert():
    s = Script()
    _, findings = run([s.carp(t, A, counter=100 + t) for t in range(4)] + [s.carp(4, A, counter=101)])
    f = by_kind(findings, "replayed-advert")
    assert f.frame == 5 and "counter 101" in f.detail


def test_copied_peer_counter_is_not_a_replay():
    """FreeBSD-family nodes send the last counter they received + 1 (docs/protocol.md §3)."""
    s = Script()
    records = [s.carp(0, A, counter=5), s.carp(1, A, counter=6), s.carp(2, A, counter=7),
               s.carp(2.5, B, advskew=100, counter=4), s.carp(3, A, counter=5)]
    _, findings = run(records)
    assert "replayed-advert" not in kinds(findings)


def test_findings_are_not_repeated():
    s = Script()
    _, findings = run(s.every(A, 0, 10, 1, advskew=240) + s.every(A, 10, 20, 1, advskew=240, hmac="bad"))
    assert kinds(findings) == ["demoted", "hmac-failed"]


def test_unusable_records_do_not_vote():
    s = Script()
    bad = s.carp(0, A)
    bad = _renumber(CarpAdvert(**{**{n: getattr(bad, n) for n in bad.__dataclass_fields__},
                                  "findings": (Finding("bad-checksum", Severity.WARNING, "x"),)}), 1)
    events, findings = run([bad])
    assert events == [] and findings == []


# -- deadlines, timing option, snapshot -------------------------------------------------


def test_next_deadline():
    s = Script()
    tracker = Tracker()
    assert tracker.next_deadline() is None
    tracker.observe(s.carp(0, A), 0)
    assert tracker.next_deadline() == 3.0 + TAKEOVER_GRACE
    tracker.observe(s.carp(1, A), 1)
    assert tracker.next_deadline() == 4.0 + TAKEOVER_GRACE
    assert tracker.advance(3.99) == []
    tracker.observe(s.carp(2, B, advskew=100), 2)  # a newcomer: D is now B's 3.390625
    assert tracker.next_deadline() == 1 + 3.390625 + TAKEOVER_GRACE
    out = tracker.advance(5.0)
    assert [e.kind for e in out] == ["master-changed"]
    assert tracker.next_deadline() == 2 + 3.390625 + TAKEOVER_GRACE
    assert [e.kind for e in tracker.advance(2 + 3.390625 + TAKEOVER_GRACE)] == ["master-down"]
    assert tracker.next_deadline() is None


def test_openbsd_timing_option():
    s = Script()
    tracker = Tracker(timing=Timing.OPENBSD)
    tracker.observe(s.carp(0, A, advskew=100), 0)
    assert tracker.next_deadline() == 4.171875 + TAKEOVER_GRACE


def test_snapshot():
    s = Script()
    tracker = Tracker()
    for r in merge(s.every(A, 0, 3, 1, hmac="ok"), s.every(B, 6.5, 9, 1.390625, advskew=100, hmac="ok"),
                   [s.carp(9.2, B, advskew=100, hmac="bad")]):
        tracker.observe(r, r.time)
    snap = tracker.snapshot()
    assert isinstance(snap, Snapshot) and snap.time == 9.2
    g = snap.groups[0]
    assert (g.key.proto, g.key.id, g.master, g.master_since) == ("carp", 1, B, 6.5)
    assert g.vips == VIP and g.vips_from == "given" and g.passphrase == 1
    assert g.hmac == "mixed" and g.master_down_at == 9.2 + 3.390625
    assert [(m.addr, m.adverts, m.hmac, m.advskew, m.first, m.last) for m in g.members] == [
        (A, 3, "ok", 0, 0.0, 2.0), (B, 3, "mixed", 100, 6.5, 9.2)]
    assert g.advertising == (B,)
    with pytest.raises(AttributeError):
        g.master = A  # frozen


def test_vrrp_members_in_snapshot():
    s = Script()
    tracker = Tracker()
    tracker.observe(s.vrrp(0, A, vrid=3, priority=200, version=3, adver_int=100), 0)
    m = tracker.snapshot().groups[0].members[0]
    assert (m.priority, m.advbase, m.advskew, m.demote, m.hmac, m.version) == (200, 100, None, None, "n/a", 3)
    assert tracker.snapshot().groups[0].vips_from == "advert"


# -- never raises -----------------------------------------------------------------------

times = st.floats(min_value=-1e3, max_value=1e6, allow_nan=False, allow_infinity=False)


@st.composite
def adverts(draw):
    s = Script()
    out = []
    for _ in range(draw(st.integers(0, 40))):
        t = draw(times)
        src = draw(st.sampled_from([A, B, C]))
        if draw(st.booleans()):
            out.append(s.carp(t, src, vhid=draw(st.sampled_from([1, 2])), advbase=draw(st.integers(0, 255)),
                              advskew=draw(st.integers(0, 255)), demote=draw(st.integers(0, 3)),
                              counter=draw(st.integers(0, 5)), hmac=draw(st.sampled_from(["ok", "bad", "unverified"])),
                              passphrase=draw(st.integers(0, 2)),
                              vips=draw(st.sampled_from([("10.0.0.1",), ("10.0.0.2",), ("10.0.0.1", "10.0.0.2")]))))
        else:
            version = draw(st.sampled_from([2, 3]))
            out.append(s.vrrp(t, src, vrid=draw(st.sampled_from([1, 2])), priority=draw(st.integers(0, 255)),
                              adver_int=draw(st.integers(0, 4095 if version == 3 else 255)), version=version))
        if out and draw(st.integers(0, 4)) == 0:
            out.append(out[-1])  # exact duplicate
    return out


@settings(max_examples=200, deadline=None)
@given(adverts(), st.lists(times, max_size=5))
def test_random_out_of_order_and_duplicate_times_never_raise(records, ticks):
    tracker = Tracker()
    out = []
    for i, r in enumerate(records):
        out += tracker.observe(r, r.time)
        if i < len(ticks):
            tracker.next_deadline()
            out += tracker.advance(ticks[i])
    out += tracker.finish(max([r.time for r in records] + list(ticks) + [0.0]))
    assert all(isinstance(x, (Event, Finding)) for x in out)
    snap = tracker.snapshot()
    assert all(g.members for g in snap.groups)
    deadline = tracker.next_deadline()
    assert deadline is None or isinstance(deadline, float)


@settings(max_examples=100, deadline=None)
@given(adverts())
def test_replay_gives_the_same_events(records):
    """docs/design.md principle 2: the same records give the same events every time."""
    def once():
        tracker = Tracker()
        out = []
        for r in records:
            out += tracker.observe(r, r.time)
        return out + tracker.finish(max([r.time for r in records] + [0.0])), tracker.snapshot()
    assert once() == once()


def test_election_and_report_are_pure():
    """No capture library, CLI, clock or process access, and no printing (docs/design.md, principle 1)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "carpscope"
    for path in [*sorted((root / "election").glob("*.py")), root / "views" / "report.py"]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                names = {(node.module or "").split(".")[0]}
            else:
                names = set()
            assert not names & {"pcapy", "click", "time", "sys", "datetime"}, (path.name, names)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id != "print", path.name


def test_one_failed_signature_before_the_vips_are_known_is_not_hmac_failed():
    """A new master signs its first advert before its gratuitous ARPs teach carpscope the VIPs."""
    s = Script()
    records = [s.carp(0, A, hmac="bad")] + s.every(A, 1, 6, 1, hmac="ok")
    _, findings = run(records)
    assert "hmac-failed" not in kinds(findings)


def test_hmac_failed_is_dated_by_the_first_of_two_failures():
    s = Script()
    records = s.every(A, 0, 5, 1, hmac="bad")
    _, findings = run(records)
    failed = by_kind(findings, "hmac-failed")
    assert (failed.frame, failed.time) == (records[0].frame, records[0].time)
