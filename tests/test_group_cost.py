"""What a master change and a new group cost, in calls (issue 20's `flapping` and `vlans-vrrp`).

100 flapping groups make a master-down and a master-changed on every advert, and
255 VRRP vrids on many VLANs make a new group on every advert: the calls each
takes are counted here, never timed (tests/test_bounds.py's style). Each check
failed on the code before: its old count is in the comment.
"""

from __future__ import annotations

import collections
import random
import sys

from carpscope import summary as sm
from carpscope.election import consistency, rules
from carpscope.election import events as evs
from carpscope.election.members import Group
from carpscope.election.timers import Timers
from carpscope.election.tracker import Tracker
from carpscope.model import Builder, GroupKey
from counting import Counting
from test_tracker import A, B, Script


def _flaps(n: int) -> tuple[Tracker, list]:
    """Two members taking turns 3.5 s apart: the master's timer (3 s) runs out before each advert."""
    s = Script()
    return Tracker(), [s.carp(k * 3.5, A if k % 2 == 0 else B, counter=7) for k in range(n)]


def _codes(out: collections.Counter, codes: dict):
    """A profile function counting calls of the given code objects, by name."""
    def profile(frame, event, arg):
        if event == "call" and frame.f_code in codes:
            out[codes[frame.f_code]] += 1
    return profile


def test_a_master_change_works_out_each_master_down_time_once(monkeypatch):
    """_change, then `silence` for the new master's own time and the old one's as a backup: one
    rules.master_down a change, the others kept by Timers.down (before: three)."""
    calls = collections.Counter()
    master_down = rules.master_down

    def counted(*args):
        calls["master_down"] += 1
        return master_down(*args)

    monkeypatch.setattr(rules, "master_down", counted)
    t, records = _flaps(200)
    out = []
    for r in records[:60]:
        out += t.observe(r, r.time)
    kinds = collections.Counter(getattr(e, "kind", None) for e in out)
    assert kinds["master-changed"] == 59 and kinds["master-down"] == 59
    calls.clear()
    for r in records[60:]:
        t.observe(r, r.time)
    assert calls["master_down"] <= 140 * 1.2  # one a change (before: three)


def test_a_master_down_takes_one_look_at_the_deadline_heap(monkeypatch):
    """After the expired entry was taken, `_expire` asked Timers.top again though nothing was due (before: 2).

    Timers.take, `top` and the pop in one call (`top` runs it too), is counted: one call a master-down
    (before this: a `top` and a pop).
    """
    calls = Counting(monkeypatch, Timers, "take").calls
    t, records = _flaps(200)
    for r in records:
        t.observe(r, r.time)
    assert calls["take"] <= 200 * 1.1  # one a master-down (before: two)


def test_events_are_built_by_one_call_below_the_group():
    """Group.event went through events.event and Builder.__call__ before the compiled builder (before: 4 calls)."""
    calls: collections.Counter = collections.Counter()
    t, records = _flaps(200)
    for r in records[:10]:
        t.observe(r, r.time)
    codes = {evs.event.__code__: "events.event", Builder.__call__.__code__: "Builder.__call__",
             Group.event.__code__: "Group.event", Group.builder().__code__: "build"}
    sys.setprofile(_codes(calls, codes))
    try:
        for r in records[10:]:
            t.observe(r, r.time)
    finally:
        sys.setprofile(None)
    assert calls["build"] == 2 * 190  # a master-down and a master-changed an advert
    assert calls["Group.event"] == 190  # the master-changed; Tracker._master_down calls the builder itself
    assert calls["events.event"] == calls["Builder.__call__"] == 0


def test_a_new_group_skips_the_frozen_key_init_and_the_counter():
    """GroupKey's frozen __init__, Counter.__init__ and consistency.check ran for each new group (before: one each)."""
    calls: collections.Counter = collections.Counter()
    s, t = Script(), Tracker()
    records = [s.vrrp(i * 0.00001, "10.0.0.1", vrid=1 + i % 255, vlan=(1 + i // 255,)) for i in range(600)]
    codes = {GroupKey.__init__.__code__: "GroupKey.__init__", collections.Counter.__init__.__code__: "Counter",
             consistency.check.__code__: "consistency.check"}
    sys.setprofile(_codes(calls, codes))
    try:
        for r in records:
            t.observe(r, r.time)
    finally:
        sys.setprofile(None)
    assert len(t._groups) == 600
    assert calls["GroupKey.__init__"] == calls["Counter"] == 0
    assert calls["consistency.check"] == 0  # a lone member has nobody to disagree with: only counted (before: 600)
    assert all(sum(g.spread.values()) == 1 for g in t._groups.values())
    for key, g in t._groups.items():
        assert type(g.key) is GroupKey and g.key == GroupKey(*key) and hash(g.key) == hash(GroupKey(*key))


def test_the_recorder_hands_a_list_back_without_a_copy():
    """Recorder.keep copied every list the tracker made, two events an advert when flapping (before: a copy)."""
    rec = sm.Recorder()
    happened = _flaps(4)[0].observe(Script().carp(0.0, A), 0.0)
    assert rec.keep(happened) is happened and rec.events == happened and rec.events_total == 1
    assert rec.keep(iter(happened)) == happened and rec.events_total == 2  # any iterable still


def _silence(timers: Timers, g) -> float | None:
    """D as `Timers.silence` worked it out before: the master's own time by rules.master_down."""
    if g.master is None:
        return None
    master = g.members[g.master].params
    own = rules.master_down(master, master, timers.timing_of(g.members[g.master]))
    others = [rules.master_down(m.normal, master, timers.timing_of(m)) for m in g.members.values()
              if m.addr != g.master and m.normal is not None]
    return own if not others else max(own, min(others))


def test_silence_from_the_kept_times_equals_the_formula():
    """The master's own time comes from Timers.down's cache: the same D for CARP, VRRPv2 and v3, any size."""
    rng = random.Random(20)
    s, t = Script(), Tracker()
    records = []
    for k in range(3000):
        group, member = rng.randrange(12), rng.randrange(1 + rng.randrange(12))
        src = f"10.0.{group}.{member + 1}"
        when = k * 0.4
        if group < 4:
            records.append(s.carp(when, src, vhid=group + 1, advbase=1 + member % 2, advskew=rng.randrange(3) * 50))
        else:
            records.append(s.vrrp(when, src, vrid=group + 1, priority=rng.choice((50, 100, 150, 254)),
                                  adver_int=100 if group >= 8 else 1, version=3 if group >= 8 else 2))
    for r in records:
        t.observe(r, r.time)
        g = t._groups[(r.proto, r.id, r.family, r.vlan)]
        assert t._timers.silence(g) == _silence(t._timers, g)


def _counting(monkeypatch, module, names: tuple[str, ...]) -> collections.Counter:
    """Count calls of module-level functions, as every caller sees them (`rules.resigns` ...)."""
    calls: collections.Counter = collections.Counter()
    for name in names:
        original = getattr(module, name)

        def counted(*args, _name=name, _original=original):
            calls[_name] += 1
            return _original(*args)

        monkeypatch.setattr(module, name, counted)
    return calls


def test_a_master_change_asks_whether_an_advert_says_goodbye_once(monkeypatch):
    """rules.resigns of the same advert ran in _learn, clues, demotion.check (twice), _change, causes.cause and
    _master_down; rules.interval in slow_failover and twice for the loop window (before: 7 and 3 a flap);
    rules.master_down for the new master's own time, its advert being new though its parameters were not."""
    t, records = _flaps(200)
    for r in records[:20]:
        t.observe(r, r.time)
    calls = _counting(monkeypatch, rules, ("resigns", "interval", "parameters", "demoted", "master_down"))
    out = []
    for r in records[20:]:
        out += t.observe(r, r.time)
    assert sum(getattr(e, "kind", None) == "master-changed" for e in out) == 180
    assert calls["resigns"] == 180  # once an advert, in _learn (before: 7 x 180)
    assert calls["interval"] == 0  # a takeover on time needs no interval (before: 3 x 180)
    assert calls["parameters"] == calls["demoted"] == 0  # rules.same, and demoted inlined (before: 4 and 1 x 180)
    # Timers.down's time is kept across adverts with the same parameters (before: one a change, 180)
    assert calls["master_down"] == 0


def test_a_member_that_stopped_advertising_keeps_its_steady_plan():
    """Tracker.steady built a Steady for a template whose sender had stopped on every advert of a
    flapping group, for `repeat` to refuse it at once, and the pipeline dropped it after `observe`
    (before: a Steady a flap). The plan is now built once and kept: `repeat` refuses it while its
    member is stopped, and Tracker.again (tests/test_flap.py) takes the flap with it."""
    t, records = _flaps(40)
    for i, r in enumerate(records):
        t.observe(r, r.time)
        if i:  # the previous sender was declared down before this one took over
            previous = records[i - 1]
            plan = t.steady(previous)
            assert plan is not None and t.repeat(plan, 1000, r.time, (7, previous.md)) is None
            m = t._groups[(previous.proto, previous.id, previous.family, previous.vlan)].members[previous.src]
            assert m.record is previous and not m.active  # what `repeat` refuses first
    plan = t.steady(records[-1])  # the master's latest advert: its repeats take the fast path
    assert plan is not None and t.repeat(plan, 1000, records[-1].time + 1.0, (7, records[-1].md)) == ()


def test_timer_formulas_kept_are_read_without_a_call(monkeypatch):
    """Timers.down asked Timers.timing_of each time, three times a master change (before: 3 x 180)."""
    calls = collections.Counter()
    timing_of = Timers.timing_of

    def counted(self, m):
        calls["timing_of"] += 1
        return timing_of(self, m)

    t, records = _flaps(200)
    for r in records[:20]:
        t.observe(r, r.time)
    monkeypatch.setattr(Timers, "timing_of", counted)
    for r in records[20:]:
        t.observe(r, r.time)
    assert calls["timing_of"] == 0


def test_same_parameters_equal_the_tuples_compared():
    """rules.same(a, b) is rules.parameters(a) == rules.parameters(b), for CARP and VRRP and across them."""
    rng = random.Random(7)
    s = Script()
    records = [s.carp(0.0, A, advbase=rng.choice((0, 1, 2)), advskew=rng.choice((0, 100, 240)),
                      demote=rng.choice((0, 0, 1))) for _ in range(40)]
    records += [s.vrrp(0.0, B, priority=rng.choice((0, 100, 200)), adver_int=rng.choice((1, 100)),
                       version=rng.choice((2, 3))) for _ in range(40)]
    for a in records:
        for b in records:
            assert rules.same(a, b) == (rules.parameters(a) == rules.parameters(b))
