"""The group's election phase (election/phase.py): named, and moved only along its table."""

from __future__ import annotations

import itertools
import random

from carpscope.election.events import Event
from carpscope.election.phase import TRANSITIONS, Phase, heir, phase_of
from carpscope.election.tracker import Tracker
from test_tracker import A, B, C, Script, merge


def walk(records, end):
    """Feed records like the pipeline does; (phase, event kinds that led to it) after each step."""
    t = Tracker()
    steps = [(Phase.NO_MASTER, ())]
    for r in records:
        out = t.advance(r.time) if (t.next_deadline() or 1e18) <= r.time else []
        out += t.observe(r, r.time)
        steps.append((_phase(t), tuple(e.kind for e in out if isinstance(e, Event))))
    now = records[-1].time
    while now < end:  # then time passes in small steps, as live would see it
        now += 0.25
        out = t.advance(now)
        steps.append((_phase(t), tuple(e.kind for e in out if isinstance(e, Event))))
    return steps


def _phase(t: Tracker) -> Phase:
    (g,) = t._groups.values()
    assert g.waiting == sum(not in_split for in_split in g.contenders.values())  # kept by phase.py alone
    if g.contenders:  # the heap's heir is the walk's
        assert heir(g) == min(g.contenders, key=lambda a: (g.members[a].run_start, a))
    return phase_of(g)


def changes(steps):
    """The phase changes, each with the events of the step that made it."""
    return [(a[0], b[0], b[1]) for a, b in itertools.pairwise(steps) if a[0] != b[0]]


def test_a_split_brain_goes_through_every_phase_in_order():
    s = Script()
    records = merge(s.every(A, 0, 10, 1), s.every(B, 3.5, 12, 1, advskew=100))
    seen = changes(walk(records, end=20))
    assert [(a, b) for a, b, _ in seen] == [
        (Phase.NO_MASTER, Phase.MASTER), (Phase.MASTER, Phase.CONTESTED), (Phase.CONTESTED, Phase.SPLIT),
        (Phase.SPLIT, Phase.MASTER), (Phase.MASTER, Phase.NO_MASTER)]
    assert [events for _, _, events in seen] == [
        ("master-elected",), (), ("split-brain-started",), ("split-brain-ended",), ("master-down",)]


def test_every_phase_change_is_in_the_table():
    """Three senders starting and stopping at random: the phase moves only along TRANSITIONS.

    In particular a split brain is never declared before a newcomer was a contender.
    """
    visited = set()
    for seed in range(40):
        rnd, s = random.Random(seed), Script()
        streams = []
        for src, skew in ((A, 0), (B, 50), (C, 100)):
            start = rnd.uniform(0, 20)
            streams.append(s.every(src, round(start, 3), round(start + rnd.uniform(0.5, 15), 3), 1, advskew=skew))
        for a, b, _ in changes(walk(merge(*streams), end=60)):
            assert (a, b) in TRANSITIONS, (seed, a, b)
            visited.add((a, b))
    assert {(Phase.MASTER, Phase.CONTESTED), (Phase.CONTESTED, Phase.SPLIT), (Phase.SPLIT, Phase.MASTER),
            (Phase.MASTER, Phase.NO_MASTER)} <= visited
