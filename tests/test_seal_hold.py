"""A sealed failure answers its repeats itself while the verifier's cached miss holds (issue 20).

In a flapping group without a passphrase (or with a wrong one) no advert verifies, so
its seal has no signer and every repeat asked `Verifier.verdict` again. Once a repeat
found its miss in the verifier's recent cache, Seal.hold lets the same bytes answer at
once until the verifier's stamp moves (a claim, a configuration, the budget, a cache
generation). Each held answer is checked here against the full verdict, which must
give the same and change nothing; whole runs are compared with a verifier that never
holds.
"""

from __future__ import annotations

import pytest

from carpscope.auth import Verifier
from carpscope.auth import verifier as vf
from carpscope.auth.verdict import Seal
from carpscope.election.tracker import Tracker
from carpscope.model import Frame
from carpscope.pipeline import Pipeline
from stacks import garp
from test_flap import flaps


class NeverHeld(Verifier):
    """The reference: every repeat of a failure asks `verdict`, as before Seal.hold."""

    def _hold(self, seal, ctr, md) -> None:
        pass


def _state(v: Verifier) -> tuple:
    """What `verdict` may change, for the check that a held answer skipped nothing."""
    return (v.stamp, v._version, v._vips.epoch, v._budget, id(v._recent), len(v._recent), len(v._older),
            len(v._sender), len(v._senders), len(v._missed), len(v._missed24), len(v._failures))


def _run(pipeline: Pipeline, frames: list[tuple[float, bytes]]) -> list:
    out = []
    for i, (t, data) in enumerate(frames):
        out += pipeline.feed(Frame(i + 1, t, 1, data, len(data)))
    return out + pipeline.finish()


def _with_claims(frames: list[tuple[float, bytes]]) -> list[tuple[float, bytes]]:
    """The flaps with a claim of group 1's VIP a third of the way in (the verifier's epoch moves)."""
    at = len(frames) // 3
    return [*frames[:at], (frames[at][0], garp("192.0.2.1", "00:00:5e:00:01:01")), *frames[at:]]


@pytest.fixture
def held(monkeypatch) -> list[int]:
    """Seal.signs checked: each answer of a held miss against the full verdict, which changes nothing."""
    count = [0]
    signs = Seal.signs

    def checked(seal: Seal, ctr: bytes, md: bytes) -> bool:
        answer = signs(seal, ctr, md)
        if answer and seal._check is None:
            v = seal._owner
            before = _state(v)
            assert v.verdict(seal.advert, int.from_bytes(ctr, "big"), md) == seal.verdict
            assert _state(v) == before
            count[0] += 1
        return answer

    monkeypatch.setattr(Seal, "signs", checked)
    return count


@pytest.mark.parametrize("passes", [[], [b"other"], [b"k"]])
@pytest.mark.parametrize("claims", [False, True])
@pytest.mark.parametrize("budget", [300, vf.SEARCH_BUDGET])
def test_a_held_miss_is_what_the_verifier_says(held, passes, claims, budget):
    frames = flaps(6, 30)
    frames = _with_claims(frames) if claims else frames
    fast = Pipeline(Verifier(passes, budget=budget), Tracker())
    full = Pipeline(NeverHeld(passes, budget=budget), Tracker())
    assert _run(fast, frames) == _run(full, frames)
    assert [(t.first, t.count) for t in fast.tallies()] == [(t.first, t.count) for t in full.tallies()]
    assert fast.verifier._budget == full.verifier._budget
    if passes != [b"k"]:  # (with the key every advert verifies: Seal.signs has a signer)
        assert held[0] > 100


def test_a_new_cache_generation_lets_go_of_held_misses(held, monkeypatch):
    monkeypatch.setattr(vf, "_CACHE_MAX", 5)  # fewer than the senders: the cache turns over all the time
    frames = flaps(6, 30)
    fast, full = Pipeline(Verifier([b"other"]), Tracker()), Pipeline(NeverHeld([b"other"]), Tracker())
    assert _run(fast, frames) == _run(full, frames)


def test_a_repeat_of_a_held_failure_asks_the_verifier_nothing(monkeypatch):
    p = Pipeline(Verifier([]), Tracker(), lean=True)
    frames = flaps(4, 12)
    _run(p, frames[:16])  # each sender's first advert, then a repeat that held its miss
    asked: list[int] = []
    monkeypatch.setattr(p.verifier, "verdict", lambda *args: asked.append(1))
    monkeypatch.setattr(p.verifier, "repeats", lambda *args: asked.append(1))
    _run(p, frames[16:])
    assert asked == []
