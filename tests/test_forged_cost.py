"""A forged sender past a cap costs a decode, a verdict and a refusal, nothing more (issue 20).

Calls are counted, never timed: a sender the tracker left out gets no repeat
template (no Seal, no Steady) for an advert it may never send again, and the
verifier's notes are asked for only when it has some. Results stay those of the
full path (every frame decoded, no template).
"""

from __future__ import annotations

import pytest

from carpscope.auth import Verifier
from carpscope.election import limits as caps
from carpscope.election import tracker as tr
from carpscope.election.tracker import Tracker
from carpscope.model import Frame
from carpscope.pipeline import Pipeline
from counting import Counting
from stacks import T0, Node

N = tr.MEMBERS_MAX + 200


class NoFastPath(Pipeline):
    """The reference: no template, every frame decoded in full."""

    def _remember(self, *args) -> None:
        pass


def forged(n: int, rounds: int = 1, step: float = 0.001) -> list[bytes]:
    """n senders of vhid 1, one advert each per round (forged: `rounds` 1)."""
    nodes = [Node(f"10.{i // 250}.0.{i % 250 + 1}", 1, b"k", ["192.0.2.50"]) for i in range(n)]
    return [node.advert() for _ in range(rounds) for node in nodes]


def run(pipeline: Pipeline, frames: list[bytes], step: float = 0.001) -> list:
    out = []
    for i, data in enumerate(frames):
        out += pipeline.feed(Frame(i + 1, T0 + i * step, 1, data, len(data)))
    return out + pipeline.finish()


def test_no_template_for_a_sender_the_member_cap_left_out(monkeypatch):
    p = Pipeline(Verifier([]), Tracker(), lean=True)
    v = Counting(monkeypatch, p.verifier, "seal", "notes")
    t = Counting(monkeypatch, p.tracker, "steady")
    run(p, forged(N))
    assert v.calls["seal"] == tr.MEMBERS_MAX  # the admitted ones only (old: N)
    assert t.calls["steady"] == 0  # built on a template's first repeat, and forged ones never repeat
    assert v.calls["notes"] == 0  # nothing to note: not asked (old: once per advert)
    assert len(p._templates) == tr.MEMBERS_MAX


@pytest.mark.parametrize("passes", [[], [b"k"]])
def test_a_left_out_sender_that_repeats_gets_its_template_and_the_same_results(passes):
    frames = forged(N, rounds=3, step=0.0001)
    fast, full = Pipeline(Verifier(passes), Tracker()), NoFastPath(Verifier(passes), Tracker())
    assert run(fast, frames) == run(full, frames)
    assert [(t.first, t.count) for t in fast.tallies()] == [(t.first, t.count) for t in full.tallies()]
    assert fast.tracker.snapshot() == full.tracker.snapshot()
    assert len(fast._templates) == N  # left out once, then kept: its repeats take the fast path


class _CountedWalks(dict):
    """A contenders table that counts walks over it (`items()`, iteration)."""

    walks = 0

    def items(self):
        type(self).walks += 1
        return super().items()

    def __iter__(self):
        type(self).walks += 1
        return super().__iter__()


def test_a_new_master_does_not_walk_contenders_that_advertised_once(monkeypatch):
    """Forged senders past D: each master stops, its heir follows, and every contender was looked at.

    (The member cap raised: a full group no longer takes one-shot senders in, limits.Limits.admit.)
    """
    from test_tracker import Script

    monkeypatch.setattr(caps, "MEMBERS_MAX", 1000)
    s, t = Script(), Tracker()
    first = s.carp(0.0, "10.0.0.1")
    t.observe(first, first.time)
    (g,) = t._groups.values()
    g.contenders = _CountedWalks(g.contenders)
    changes = 0
    for i in range(1, 600):
        r = s.carp(i * 0.02, f"10.{i // 250}.0.{i % 250 + 1}")
        changes += sum(getattr(e, "kind", None) == "master-changed" for e in t.observe(r, r.time))
    assert changes > 400 and len(g.contenders) > 100
    assert _CountedWalks.walks < 5  # (old: one walk per master change)


def test_the_end_of_a_forged_flood_does_not_walk_the_contenders_per_drop():
    """At the end every forged contender is dropped, each drop a master change: D grew, no walk is needed."""
    from test_tracker import Script

    s, t = Script(), Tracker()
    records = [s.carp(i * 0.001, f"10.{i // 250}.0.{i % 250 + 1}", advskew=i % 256) for i in range(300)]
    for r in records:
        t.observe(r, r.time)
    (g,) = t._groups.values()
    g.contenders = _CountedWalks(g.contenders)
    _CountedWalks.walks = 0
    out = t.finish(records[-1].time + 10)
    assert sum(getattr(e, "kind", None) == "master-changed" for e in out) > 200
    assert _CountedWalks.walks < 5  # (old: one walk per master change)
