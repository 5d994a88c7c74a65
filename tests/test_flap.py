"""A flapping group's master change taken straight (election/flap.py, issue 20): same results, fewer calls.

Tracker.again takes the usual advert of a flapping group (a known member, sending
what it sent last time, takes over after the master-down of the other) without the
full `observe`. Its results are compared with `observe`'s on random sequences of
turns, overlaps, goodbyes, demotions, new parameters and a third member; the calls a
flap costs are counted, never timed. Each count failed on the code before.
"""

from __future__ import annotations

import heapq
import random

import pytest

from carpscope.auth import Verifier
from carpscope.election import members, timers
from carpscope.election.tracker import Tracker
from carpscope.model import Frame
from carpscope.pipeline import Pipeline
from counting import Counting
from stacks import CARP_V4_GROUP, T0, Node, ip_frame, keepalived_advert, vrrp3


class Observed(Tracker):
    """The reference: every advert `repeat` cannot take goes to `observe`, as before Tracker.again."""

    def again(self, steady, r, now, key):
        return self.observe(r, now)  # (steady.record left as it was: the pipeline asks Tracker.steady again)


def flaps(groups: int, rounds: int, stack: str = "openbsd", key: bytes = b"k") -> list[tuple[float, bytes]]:
    """Two members per group taking turns 3.5 s apart, the groups 10 ms apart (bench/hostile.py's flapping)."""
    nodes = [[Node(f"10.1.{g}.{i}", g + 1, key, [f"192.0.2.{g + 1}"], stack=stack) for i in (1, 2)]
             for g in range(groups)]
    return [(T0 + k * 3.5 + g * 0.01, nodes[g][k % 2].advert()) for k in range(rounds) for g in range(groups)]


def shuffled(seed: int, n: int = 400) -> list[tuple[float, bytes]]:
    """Turns of two or three members of two groups, mostly flaps, now and then something else."""
    rnd = random.Random(seed)
    stack = rnd.choice(["openbsd", "freebsd"])
    nodes = [[Node(f"10.2.{g}.{i}", 7 + g, b"k", ["192.0.2.77"], stack=stack, advskew=i) for i in (1, 2, 3)]
             for g in range(2)]
    t, out, turn = T0, [], [0, 0]
    for _ in range(n):
        g = rnd.randrange(2)
        t += rnd.choice([0.01, 0.3, 1.0, 1.75, 1.75, 3.5, 3.5, 9.0])
        pick = rnd.random()
        if pick < 0.8:
            turn[g] = 1 - turn[g]  # the other member: a flap, or an overlap when the gap is short
        elif pick < 0.85:
            turn[g] = 2  # the third member
        node = nodes[g][turn[g]]
        what = rnd.random()
        if what < 0.05:
            node.demote = 1 - node.demote  # (OpenBSD's demote byte; the others send 0)
        elif what < 0.08:
            node.advskew = rnd.choice([0, 5, 240])  # new parameters, kept for a while
        out.append((t, node.advert(advbase=255, advskew=255) if what > 0.95 else node.advert()))  # a goodbye
    return out


def state(tracker: Tracker) -> list:
    """Everything the tracker keeps about its groups and members, and its deadlines."""
    def slots(o, skip=()):
        return [(n, getattr(o, n)) for n in type(o).__slots__ if n not in skip]
    return [(key, slots(g, ("members", "latest")), [slots(m) for m in g.members.values()])
            for key, g in sorted(tracker._groups.items())] + [sorted(tracker.deadlines)]


def vrrp_turns(seed: int, version: int, n: int = 300) -> list[tuple[float, bytes]]:
    """Two VRRP routers of two vrids taking turns, mostly 3.5 s apart, now and then with another priority."""
    rnd = random.Random(seed)
    t, out, turn = T0, [], [0, 0]
    priority = {(g, i): 100 + 10 * i for g in range(2) for i in range(2)}
    for _ in range(n):
        g = rnd.randrange(2)
        t += rnd.choice([0.01, 0.5, 1.75, 3.5, 3.5, 3.5, 9.0])
        turn[g] = 1 - turn[g] if rnd.random() < 0.85 else turn[g]
        if rnd.random() < 0.05:
            priority[g, turn[g]] = rnd.choice([50, 100, 200, 0])  # (0: a goodbye, kept for a while)
        src, prio = f"10.4.{g}.{turn[g] + 1}", priority[g, turn[g]]
        if version == 2:
            frame = keepalived_advert(src, 20 + g, prio, ["192.0.2.20"])
        else:
            frame = ip_frame("00:00:5e:00:01:%02x" % (20 + g), src, CARP_V4_GROUP, 112,
                             vrrp3(20 + g, prio, ["192.0.2.20"], src, CARP_V4_GROUP, 100))
        out.append((t, frame))
    return out


def run(pipeline: Pipeline, frames: list[tuple[float, bytes]]) -> list:
    out = []
    for i, (t, data) in enumerate(frames):
        out += pipeline.feed(Frame(i + 1, t, 1, data, len(data)))
    return out + pipeline.finish()


def both(frames, passes=(), lean=False) -> tuple[Pipeline, Pipeline, list, list]:
    fast = Pipeline(Verifier(list(passes)), Tracker(), lean=lean)
    full = Pipeline(Verifier(list(passes)), Observed(), lean=lean)
    return fast, full, run(fast, frames), run(full, frames)


@pytest.mark.parametrize("lean", [False, True])
@pytest.mark.parametrize("passes", [(), (b"k",), (b"other",)])
@pytest.mark.parametrize("stack", ["openbsd", "freebsd"])
def test_flaps_give_what_observe_gives(stack, passes, lean):
    fast, full, a, b = both(flaps(5, 40, stack), passes, lean)
    assert a == b
    assert sum(getattr(x, "kind", None) == "master-changed" for x in a) == 5 * 39
    assert [(t.first, t.count) for t in fast.tallies()] == [(t.first, t.count) for t in full.tallies()]
    assert fast.tracker.snapshot() == full.tracker.snapshot()
    assert state(fast.tracker) == state(full.tracker)


@pytest.mark.parametrize("seed", range(40))
def test_random_turns_give_what_observe_gives(seed):
    passes = [(), (b"k",), (b"other",)][seed % 3]
    fast, full, a, b = both(shuffled(seed), passes, lean=seed % 2 == 1)
    assert a == b
    assert [(t.first, t.count) for t in fast.tallies()] == [(t.first, t.count) for t in full.tallies()]
    assert fast.tracker.snapshot() == full.tracker.snapshot()
    assert state(fast.tracker) == state(full.tracker)
    assert fast.events_total == full.events_total and fast.events == full.events


def test_a_flap_goes_past_observe_and_the_steady_plan(monkeypatch):
    """After the first rounds, a flap costs neither `observe` nor a new `steady` plan (before: one each a frame)."""
    p = Pipeline(Verifier([]), Tracker(), lean=True)
    frames = flaps(20, 30)
    run(p, frames[:200])
    t = Counting(monkeypatch, p.tracker, "observe", "steady", "_drop", "_learn", "_change")
    out = run(p, frames[200:])
    assert sum(getattr(x, "kind", None) == "master-changed" for x in out) == 400
    assert t.calls == {"observe": 0, "steady": 0, "_drop": 0, "_learn": 0, "_change": 0}  # (before: 400 each)


def test_a_flap_reschedules_without_the_general_walk(monkeypatch):
    """The new master's deadline is pushed straight: Timers.reschedule and Group.advertising are not asked
    (before: reschedule twice a flap, once for the master-down and once for the change)."""
    p = Pipeline(Verifier([]), Tracker(), lean=True)
    frames = flaps(20, 30)
    run(p, frames[:200])
    t = Counting(monkeypatch, timers.Timers, "reschedule")
    g = Counting(monkeypatch, members.Group, "advertising")
    pushed = Counting(monkeypatch, heapq, "heappush").calls  # (Timers.push, inlined in Flaps._takeover)
    run(p, frames[200:])
    assert t.calls["reschedule"] == 0 and g.calls["advertising"] == 0
    assert pushed["heappush"] == 400  # one deadline a change


@pytest.mark.parametrize("version", [2, 3])
@pytest.mark.parametrize("seed", range(10))
def test_vrrp_turns_give_what_observe_gives(seed, version):
    fast, full, a, b = both(vrrp_turns(seed, version), lean=seed % 2 == 1)
    assert a == b
    assert [(t.first, t.count) for t in fast.tallies()] == [(t.first, t.count) for t in full.tallies()]
    assert state(fast.tracker) == state(full.tracker)
