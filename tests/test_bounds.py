"""Forged senders cannot make carpscope crawl or grow (issue 20).

Every check here counts structure sizes or calls, never time: a walk over every
member per advert shows as calls growing with the square of the senders, a cap
that does not hold shows as a table past it. Past a cap, one limit-reached finding
says what was left out. Frames come from tests/stacks.py; adverts for the tracker
alone from test_tracker's Script.
"""

from __future__ import annotations

import collections
import dataclasses
import json

import pytest
from click.testing import CliRunner

from carpscope import pipeline as pl
from carpscope import summary as sm
from carpscope.auth import Verifier
from carpscope.cli import main
from carpscope.election import events as evs
from carpscope.election import limits as caps
from carpscope.election import rules, timers, values
from carpscope.election import tracker as tr
from carpscope.election.events import Event
from carpscope.election.timers import Timers
from carpscope.election.tracker import Tracker
from carpscope.model import AddressClaim, Finding, Frame, Severity
from carpscope.pipeline import Pipeline
from counting import Counting
from stacks import T0, Node, garp, ip_frame, vrrp2, write_pcap
from test_tracker import A, B, Script, merge


def forged(script: Script, n: int, start: float = 0.0, step: float = 0.001, **kw) -> list:
    """n adverts of one vhid, each from its own source, `step` apart."""
    return [script.carp(start + i * step, f"10.{i // 250}.0.{i % 250 + 1}", **kw) for i in range(n)]


def feed(tracker: Tracker, records) -> list:
    out = []
    for r in records:
        out += tracker.observe(r, r.time)
    return out


def limits(items) -> list[Finding]:
    return [f for f in items if isinstance(f, Finding) and f.kind == "limit-reached"]


# -- caps in the tracker -------------------------------------------------------------------

def test_forged_senders_stop_at_the_member_cap_and_one_finding_says_so():
    s, t = Script(), Tracker()
    out = feed(t, forged(s, tr.MEMBERS_MAX + 500))
    (group,) = t._groups.values()
    assert len(group.members) == tr.MEMBERS_MAX
    (first,) = limits(out)
    assert first.severity is Severity.WARNING and first.frame == tr.MEMBERS_MAX + 1
    assert first.detail.startswith(f"{tr.MEMBERS_MAX} members per group:")
    known = group.members["10.0.0.1"].adverts
    feed(t, [s.carp(1.0, "10.0.0.1")])  # a source already tracked still is
    assert group.members["10.0.0.1"].adverts == known + 1
    (final,) = limits(t.finish(1.0))
    assert "500 adverts" in final.detail and final.frame == first.frame
    assert len(t.snapshot().groups[0].members) == tr.MEMBERS_MAX


def test_a_full_group_forgets_silent_members_for_sources_that_advertise_again():
    """A probe that saw a flood once must still follow a member that comes months later: from its second advert."""
    s, t = Script(), Tracker()
    feed(t, forged(s, tr.MEMBERS_MAX))
    late = [f"10.9.0.{i + 1}" for i in range(10)]
    out = feed(t, [s.carp(3600.0 + i * 0.01, a) for i, a in enumerate(late)])  # all others long silent
    (group,) = t._groups.values()
    assert not any(a in group.members for a in late)  # a first advert is left out: forged senders send once
    out += feed(t, [s.carp(3601.0 + i * 0.01, a) for i, a in enumerate(late)])
    assert len(group.members) == tr.MEMBERS_MAX
    assert all(group.members[a].adverts == 1 for a in late)
    assert len(limits(out)) == 1
    (final,) = limits(t.finish(3610.0))
    assert "10 sources that had stopped advertising were forgotten" in final.detail
    assert "10 adverts" in final.detail


def test_a_member_joining_a_forged_flood_is_tracked_from_its_second_advert(monkeypatch):
    """One-shot forged senders never take a silent member's place (no churn of members); a real
    member, which advertises every second, does on its second advert (issue 20)."""
    evictions = Counting(monkeypatch, caps.Limits, "evict").calls
    s, t = Script(), Tracker()
    flood = forged(s, 8000)  # 1 ms apart: the first ones stop after D (3 s), every one sends once
    real = "192.0.2.7"
    joins = [s.carp(4.0005 + k, real) for k in range(3)]  # its adverts at 4, 5 and 6 s
    group = None
    for r in merge(flood, joins):
        t.observe(r, r.time)
        group = group or next(iter(t._groups.values()))
        if r.src == real:
            assert (real in group.members) == (r.time > 5.0)  # left out once, then tracked
    assert group.members[real].adverts == 2
    assert group.master == real or real in group.contenders or group.members[real].active
    assert evictions["evict"] <= 3  # only for the real member's repeats (old: one per forged advert past D)
    (final,) = limits(t.finish(8.0))
    assert "1 sources that had stopped advertising were forgotten" in final.detail


def test_senders_left_out_once_are_remembered_through_a_flood(monkeypatch):
    """A flood of one-shot senders ages a real member's first advert out only after _ONCE_MAX others,
    in two generations (old: a clear() could forget it at the next advert)."""
    monkeypatch.setattr(caps, "_ONCE_MAX", 100)
    s, t = Script(), Tracker()
    feed(t, forged(s, tr.MEMBERS_MAX))
    real = "192.0.2.7"
    feed(t, [s.carp(3600.0, real)])
    (group,) = t._groups.values()
    assert real not in group.members  # left out once
    feed(t, [s.carp(3600.001 + i * 0.0001, f"10.8.{i // 250}.{i % 250 + 1}") for i in range(150)])
    feed(t, [s.carp(3601.0, real)])
    assert real in group.members  # 150 others since: kept in the older generation


def test_groups_past_the_cap_are_counted_not_kept():
    s, t = Script(), Tracker()
    records = [s.carp(i * 0.0001, A, vhid=1 + i % 255, vlan=(1 + i // 255,)) for i in range(tr.GROUPS_MAX + 300)]
    out = feed(t, records)
    assert len(t._groups) == tr.GROUPS_MAX
    assert len(limits(out)) == 1
    (final,) = limits(t.finish(records[-1].time))
    assert final.detail.startswith(f"{tr.GROUPS_MAX} groups: 300 adverts")


def test_members_over_all_groups_are_capped(monkeypatch):
    monkeypatch.setattr(caps, "MEMBERS_TOTAL", 50)
    s, t = Script(), Tracker()
    out = feed(t, [s.carp(i * 0.001, f"10.0.0.{1 + i % 20}", vhid=1 + i // 20) for i in range(100)])
    assert sum(len(g.members) for g in t._groups.values()) == 50
    assert len(limits(out)) == 1 and "50 members in all" in limits(out)[0].detail


# -- per-advert cost: calls, not seconds -------------------------------------------------------

def test_the_earliest_backup_is_not_a_walk_over_every_member(monkeypatch):
    """_silence runs on every new member: its backup times must not be recomputed for all of them."""
    calls = Counting(monkeypatch, Timers, "down").calls
    s, t = Script(), Tracker()
    n = 200
    feed(t, [s.carp(i * 0.001, f"10.0.0.{i + 1}", advskew=i) for i in range(n)])
    assert calls["down"] < 10 * n  # a walk: about n*n/2 = 20,000


def test_distinct_advbase_and_advskew_cost_a_constant_per_member(monkeypatch):
    """The skew-tie check compared every pair of members on each new one (1,000 senders: 97 s)."""
    calls = collections.Counter()
    preference = rules.preference

    def counted(r):
        calls["preference"] += 1
        return preference(r)

    monkeypatch.setattr(rules, "preference", counted)
    s, t = Script(), Tracker()
    n = 200
    records = [s.carp(i * 0.001, f"10.0.0.{i + 1}", advbase=1 + i // 100, advskew=i % 100) for i in range(n)]
    out = feed(t, records)
    assert calls["preference"] < 20 * n  # pairs: about n*n*n/6
    kinds = [f.kind for f in out if isinstance(f, Finding)]
    assert kinds.count("advbase-mismatch") == 1 and "skew-tie" not in kinds
    # The last member moves onto the 51st's parameters: the tie names the same pair a walk
    # over every pair would (the earliest member that has a later twin, then that twin).
    calls.clear()
    out = feed(t, [s.carp(1.0, records[-1].src, advbase=1, advskew=50)])
    (tie,) = [f for f in out if isinstance(f, Finding) and f.kind == "skew-tie"]
    assert tie.detail.startswith(f"10.0.0.51 and {records[-1].src} both advertise advbase 1 advskew 50")
    assert calls["preference"] < 5 * n  # the finding's wording walks the members once


def test_flapping_keeps_a_bounded_window_and_is_still_found():
    """5,000 master changes within 300 s: the window holds at most FLAP_MEMORY of them."""
    s, t = Script(), Tracker()
    # advbase 0 advskew 1: master-down is 3/256 s, so each advert 20 ms after the other
    # member's last one is a master change.
    records = [s.carp(i * 0.02, A if i % 2 == 0 else B, advbase=0, advskew=1) for i in range(5000)]
    out = feed(t, records)
    (g,) = t._groups.values()
    assert len(g.changes) <= tr.FLAP_MEMORY
    flaps = [f for f in out if isinstance(f, Finding) and f.kind == "flapping"]
    assert len(flaps) == 1 and "changed 3 times" in flaps[0].detail
    assert sum(1 for e in out if isinstance(e, Event) and e.kind == "master-changed") > 4000


# -- the pipeline: events, held claims, tallies ------------------------------------------------

class _EventPerAdvert:
    """A tracker stand-in: one event per advert, nothing else."""

    def __init__(self):
        self.n = 0
        self.deadlines = []  # nothing ever falls due

    def observe(self, record, now):
        self.n += 1
        return [Event(record.time, record.frame, "vrrp", 1, "master-elected", to=str(self.n))]

    def advance(self, now):
        return []

    def due(self, now):
        return False

    def steady(self, record):
        return None  # every repeat goes to `observe`

    def repeat(self, *args):
        return None

    def finish(self, now):
        return []


def test_events_keep_the_first_and_the_latest(monkeypatch):
    monkeypatch.setattr(sm, "EVENTS_FIRST", 5)
    monkeypatch.setattr(sm, "EVENTS_LAST", 7)
    p = Pipeline(Verifier([]), _EventPerAdvert(), lean=True)
    frame = ip_frame("00:00:5e:00:01:01", "192.0.2.1", "224.0.0.18", 112, vrrp2(1, 100, ["192.0.2.9"]))
    peak = 0
    for i in range(100):
        p.feed(Frame(i + 1, T0 + i, 1, frame, len(frame)))
        peak = max(peak, len(p.events))
    assert peak < 5 + 2 * 7 and p.events_total == 100
    (final,) = limits(p.finish())
    assert [e.to for e in p.events] == [str(n) for n in (*range(1, 6), *range(94, 101))]
    assert final.detail.startswith("12 events: 88 events between the first 5 and the last 7")
    assert [t.first for t in p.tallies()] == [final]


def test_claims_behind_a_failed_advert_are_capped():
    node = Node("192.0.2.1", 1, b"other", ["192.0.2.50"])
    p = Pipeline(Verifier([b"s3cret"]), Tracker())
    frames = [node.advert()] + [garp(f"10.1.{i // 250}.{i % 250 + 1}", "02:00:00:00:00:01")
                                for i in range(pl.HELD_MAX + 200)]
    peak, out = 0, []
    for i, data in enumerate(frames):
        out += p.feed(Frame(i + 1, T0 + i * 0.0001, 1, data, len(data)))
        peak = max(peak, len(p._held.queue) if p._held else 0)
    out += p.finish()
    assert peak == pl.HELD_MAX
    firsts = limits(out)
    assert len(firsts) == 2
    assert firsts[-1].detail.startswith(f"{pl.HELD_MAX} frames held: 1 failed adverts were")


def test_finding_tallies_are_capped(monkeypatch):
    monkeypatch.setattr(sm, "FINDINGS_MAX", 10)
    p = Pipeline(Verifier([]), _EventPerAdvert())
    for i in range(50):
        p.note(Finding("bad-ttl", Severity.WARNING, "x", i, float(i), "carp", i % 255 + 1, 4, (i,)))
    p.note(Finding("bad-ttl", Severity.WARNING, "x", 51, 51.0, "carp", 1, 4, (0,)))  # a known one still counts
    tallies = p.tallies()
    assert len(tallies) == 11
    assert [t.count for t in tallies if t.first.vlan == (0,)] == [2]
    (final,) = limits(p.finish())
    assert final.detail.startswith("10 finding tallies: 40 findings")


# -- end to end ------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["text", "json", "jsonl"])
def test_read_reports_the_member_cap(tmp_path, fmt):
    n = tr.MEMBERS_MAX + 44
    nodes = [Node(f"10.0.{i // 250}.{i % 250 + 1}", 1, b"k", ["192.0.2.50"]) for i in range(n)]
    path = write_pcap(tmp_path / "forged.pcap", [(T0 + i * 0.001, node.advert()) for i, node in enumerate(nodes)])
    result = CliRunner().invoke(main, ["read", "-q", "-T", fmt, str(path)] if fmt == "text"
                                else ["read", "-T", fmt, str(path)], env={"NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    if fmt == "text":
        assert "WARNING limit-reached" in result.stdout
        assert f"{tr.MEMBERS_MAX} members per group: 44 adverts of sources past" in result.stdout
        return
    if fmt == "json":
        found = json.loads(result.stdout)["findings"]
    else:
        found = [o for o in map(json.loads, result.stdout.splitlines()) if o["type"] == "finding"]
    limit = [f for f in found if f["kind"] == "limit-reached"]
    assert limit[-1]["detail"].startswith(f"{tr.MEMBERS_MAX} members per group: 44 adverts")
    assert len(limit) == (1 if fmt == "json" else 2)  # jsonl: as it happened, then with the count


def test_address_claims_of_many_vlans_are_forgotten_oldest_first(monkeypatch):
    """500k gratuitous ARPs in distinct QinQ pairs kept one claim table each (324 MB)."""
    from carpscope.auth import vips

    monkeypatch.setattr(vips, "VLANS_MAX", 100)
    verifier = Verifier([b"s3cret"])
    p = Pipeline(verifier, Tracker())
    for i in range(300):
        data = garp(f"10.2.{i // 250}.{i % 250 + 1}", "02:00:00:00:00:01", vlan=1 + i)
        p.feed(Frame(i + 1, T0 + i, 1, data, len(data)))
    claims = verifier._vips.claims
    assert len(claims) == 100 and (300,) in claims and (1,) not in claims
    (final,) = limits(p.finish())
    assert "address claims of 200 VLANs" in final.detail


def test_ipv4_address_claims_are_read_without_ipaddress(monkeypatch):
    """500k QinQ ARPs: each claim was parsed by ipaddress twice (≈ 4k instructions); inet_pton does it in C."""
    import ipaddress

    from carpscope.auth import vips

    frames = [garp(f"10.3.0.{i + 1}", "02:00:00:00:00:01", vlan=1 + i) for i in range(50)]
    counted = Counting(monkeypatch, ipaddress, "ip_address")
    verifier = Verifier([b"s3cret"])
    p = Pipeline(verifier, Tracker())
    for i, data in enumerate(frames):
        p.feed(Frame(i + 1, T0 + i, 1, data, len(data)))
    assert counted.calls["ip_address"] == 0
    claims = verifier._vips.claims
    assert [next(iter(t)) for t in claims.values()] == [f"10.3.0.{i + 1}" for i in range(50)]
    for text in ("224.0.0.18", "0.0.0.0", "010.0.0.1"):  # multicast, unspecified, a leading zero
        assert verifier._vips.learn(AddressClaim(1, T0, 4, text, "02:00:00:00:00:01", (1,), "garp")) is None
    assert vips.parse_addr("fe80::1").ll and vips.parse_addr(" 10.3.0.1 ").text == "10.3.0.1"


class _CountedItems(dict):
    """A contenders table that counts walks over it (`items()`)."""

    walks = 0

    def items(self):
        type(self).walks += 1
        return super().items()


def test_a_lasting_split_brain_does_not_walk_the_contenders_per_advert():
    """255 sources advertising at once: each repeat walked every contender (O(n) per advert)."""
    s, t = Script(), Tracker()
    sources = [f"10.0.0.{i + 1}" for i in range(50)]
    for k in range(5):  # every second, for longer than the 3 s master-down time
        feed(t, [s.carp(k + i * 0.001, a, advskew=i, counter=7) for i, a in enumerate(sources)])
    (g,) = t._groups.values()
    assert len(g.contenders) == 49 and all(g.contenders.values())  # all in the split brain
    g.contenders = _CountedItems(g.contenders)
    for k in range(10):  # the same adverts again: the repeat path (steady state)
        for i, a in enumerate(sources):
            m = g.members[a]
            assert t.repeat(t.steady(m.record), 10_000 + k * 50 + i, 5 + k + i * 0.001, (7, m.record.md)) == ()
    assert _CountedItems.walks == 0


def test_repeats_of_contenders_do_not_walk_them_after_d_moved():
    """Each sender's second advert repeats its counter (OpenBSD), so D moves without an observe.

    split.quiet then walked every contender on each repeat until one crossed D (the
    contenders capture of issue 20); now the next repeat goes to `observe`, which looks once.
    """
    s, t = Script(), Tracker()
    sources = [f"10.0.0.{i + 1}" for i in range(50)]
    mac = "00:00:5e:00:01:01"  # CARP's virtual MAC (ucarp's would rule OpenBSD out)
    feed(t, [s.carp(i * 0.001, a, advskew=i, counter=7, mac=mac) for i, a in enumerate(sources)])
    (g,) = t._groups.values()
    g.contenders = _CountedItems(g.contenders)
    _CountedItems.walks = 0
    slow = 0
    for k in (1, 2):  # not yet longer than D: no split brain, every contender waits
        for i, a in enumerate(sources):
            m, time = g.members[a], k + i * 0.001
            if t.repeat(t.steady(m.record), 1000 + 50 * k + i, time, (7, m.record.md)) is None:  # as Pipeline._repeat
                slow += 1
                assert t.observe(s.carp(time, a, advskew=i, counter=7, mac=mac), time) == []
    assert _CountedItems.walks < 5 and slow < 10
    assert len(g.contenders) == 49 and not any(g.contenders.values())


def test_a_flapping_group_works_out_each_member_s_timer_formula_once(monkeypatch):
    """Every master change asked the stack clues for the formula three times (issue 20's flapping)."""
    calls = collections.Counter()

    def openbsd(m):
        calls[m.addr] += 1
        return values.openbsd(m)

    monkeypatch.setattr(timers, "openbsd", openbsd)
    s, t = Script(), Tracker()
    mac = "00:00:5e:00:01:01"
    out = feed(t, [s.carp(k * 3.5, (A, B)[k % 2], advskew=k % 2, counter=7, mac=mac) for k in range(200)])
    assert sum(isinstance(e, Event) and e.kind == "master-changed" for e in out) == 199
    assert sum(calls.values()) < 10
    (g,) = t._groups.values()
    for m in g.members.values():  # what is kept is what the clues say
        assert t._timers.timing_of(m) is (rules.Timing.OPENBSD if values.openbsd(m) else rules.Timing.BSD)
        assert m.timing is not None and m.timing[1] is rules.Timing.OPENBSD


def test_adverts_look_at_the_deadline_heap_only_when_a_deadline_may_be_due(monkeypatch):
    """Timers.top, a call and a heap check, ran on every advert even with nothing due (issue 20).

    (Timers.take: what `top` runs, and `_expire`.)
    """
    calls = collections.Counter()
    top = Timers.take

    def counted(self, until, grace):
        calls["top"] += 1
        return top(self, until, grace)

    monkeypatch.setattr(Timers, "take", counted)
    s, t = Script(), Tracker()
    records = merge(*[s.every(f"10.0.{v}.1", v * 0.01, 100, 1, vhid=v + 1) for v in range(20)])
    assert len(records) == 2000 and feed(t, records)
    assert calls["top"] < 100  # (each call moves every early entry on top: a few per group)


class _CountedWalks(dict):
    """A contenders table that counts walks over it (`iter`, as min does)."""

    walks = 0

    def __iter__(self):
        type(self).walks += 1
        return super().__iter__()


def test_each_master_that_stops_hands_over_without_a_walk_over_the_contenders():
    """200 forged senders one advert each: as each master timed out, min() walked the rest for its heir."""
    s, t = Script(), Tracker()
    feed(t, forged(s, 200))
    (g,) = t._groups.values()
    g.contenders = _CountedWalks(g.contenders)
    out = t.advance(10.0)
    assert sum(isinstance(e, Event) and e.kind == "master-changed" for e in out) > 150
    assert _CountedWalks.walks < 10


def test_findings_raised_once_per_episode_keep_no_history():
    """Each slow failover left a token in the group for ever: memory grew with the changes."""
    s, t = Script(), Tracker()
    records = []
    for k in range(400):  # A and B take turns, each after 10 s of silence: a slow failover every time
        records.append(s.carp(k * 10.0, A if k % 2 == 0 else B))
    out = feed(t, records)
    (g,) = t._groups.values()
    slow = [f for f in out if isinstance(f, Finding) and f.kind == "slow-failover"]
    assert len(slow) > 300
    assert len(g.raised) < 10


def test_events_built_from_a_draft_equal_the_dataclass_s():
    """events.event skips the frozen __init__ (issue 20): the same value, hash and repr, as immutable."""
    fast = evs.event(1.5, 7, "carp", 3, "master-changed", 6, (10, 20), from_=A, to=B, cause="master-silent",
                     gap=3.25, expected=3.0, detail="why")
    slow = Event(1.5, 7, "carp", 3, "master-changed", A, B, "master-silent", 3.25, 6, (10, 20), 3.0, "why")
    assert type(fast) is Event and fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
    assert evs.event(2.0, None, "vrrp", 1, "master-down", 4, ()) == Event(2.0, None, "vrrp", 1, "master-down")
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.detail = "changed"  # type: ignore[misc]


def test_finish_survives_a_drop_that_leaves_the_group_without_a_master():
    """The capture ends while the master and two newcomers have stopped and a third goes on.

    Dropping the first newcomer hands over to it and declares it down, so the group
    has no master; the next stopped newcomer then raised KeyError (a traceback).
    """
    s, t = Script(), Tracker()
    C, E = "192.0.2.3", "192.0.2.5"
    records = merge([s.carp(x, A) for x in (0, 1, 2, 3, 4, 5, 5.5)], [s.carp(x, B) for x in (4.5, 5.0)],
                    [s.carp(x, E) for x in (4.8, 5.8)], [s.carp(x, C) for x in (4.9, 5.9, 6.9, 7.5)])
    feed(t, records)
    out = t.finish(7.6)
    assert any(isinstance(e, Event) and e.kind == "master-down" and e.to is None for e in out)


def test_newcomers_are_checked_for_split_brain_without_a_walk_per_advert():
    """200 newcomers while the master advertises: each advert looked at every contender."""
    s, t = Script(), Tracker()
    feed(t, [s.carp(0.0, A), s.carp(0.001, "10.0.0.1", advskew=1)])
    (g,) = t._groups.values()
    g.contenders = _CountedItems(g.contenders)
    _CountedItems.walks = 0
    records = [s.carp(0.01 + i * 0.005, f"10.0.1.{i + 1}", advskew=i % 200 + 2) for i in range(200)]
    records += [s.carp(0.1 * k, A) for k in range(1, 11)]
    feed(t, merge(records))
    assert len(g.contenders) == 201 and not any(g.contenders.values())
    assert _CountedItems.walks < 10
