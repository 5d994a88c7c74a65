"""An advert a cap leaves out, or a sender nothing is known about, costs a constant (issue 20).

Calls are counted, never timed: the first advert of a group the group cap left out
gets no repeat template; a new sender of a /24 whose search already missed is not
searched again; a failure is worded once per /24; a verdict is set in place on a
record just decoded; a cap is named only when limit-reached says so; an advert a cap
leaves out at once is not verified. Results stay those of the full path.
"""

from __future__ import annotations

import pytest

from carpscope.auth import Verifier
from carpscope.auth import verifier as vf
from carpscope.election import limits as caps
from carpscope.election import tracker as tr
from carpscope.election.tracker import Tracker
from carpscope.model import CarpAdvert, Frame
from carpscope.pipeline import Pipeline
from counting import Counting
from stacks import T0, Node, garp
from test_forged_cost import NoFastPath, forged, run
from test_tracker import Script

GROUPS = 20  # the group cap, made small


def groups(n: int, rounds: int = 1) -> list[bytes]:
    """One sender address in n groups (vhid × VLAN), as the vlans capture of bench/hostile.py."""
    nodes = [Node("10.0.0.1", 1 + i % 255, b"k", ["192.0.2.50"], vlan=1 + i // 255) for i in range(n)]
    return [node.advert() for _ in range(rounds) for node in nodes]


def test_no_template_for_a_group_the_group_cap_left_out(monkeypatch):
    monkeypatch.setattr(caps, "GROUPS_MAX", GROUPS)
    p = Pipeline(Verifier([]), Tracker(), lean=True)
    v = Counting(monkeypatch, p.verifier, "seal")
    run(p, groups(300))
    assert v.calls["seal"] == GROUPS  # the tracked groups only (old: 299, one address in every group)
    assert len(p._templates) == GROUPS


@pytest.mark.parametrize("passes", [[], [b"k"], [b"other"]])
def test_groups_past_the_cap_give_the_same_results(monkeypatch, passes):
    monkeypatch.setattr(caps, "GROUPS_MAX", GROUPS)
    frames = groups(300, rounds=2)
    fast, full = Pipeline(Verifier(passes), Tracker()), NoFastPath(Verifier(passes), Tracker())
    assert run(fast, frames) == run(full, frames)
    assert [(t.first, t.count) for t in fast.tallies()] == [(t.first, t.count) for t in full.tallies()]


def test_a_cap_is_named_only_when_limit_reached_says_so(monkeypatch):
    monkeypatch.setattr(caps, "GROUPS_MAX", GROUPS)
    named = Counting(monkeypatch, caps, "_name")
    p = Pipeline(Verifier([]), Tracker(), lean=True)
    out = run(p, groups(300))
    assert named.calls["_name"] == 2  # its first refusal and the end (old: a name formatted per refusal)
    assert sum(getattr(x, "kind", None) == "limit-reached" for x in out) == 2


def test_a_new_sender_of_a_slash24_that_missed_is_not_searched_again(monkeypatch):
    p = Pipeline(Verifier([]), Tracker(), lean=True)
    v = Counting(monkeypatch, p.verifier, "_search")
    run(p, forged(600))  # three /24s
    assert v.calls["_search"] <= 3  # one per /24 (old: one per sender, 600)


@pytest.mark.parametrize("budget", [vf.SEARCH_BUDGET, 2000])
@pytest.mark.parametrize("passes", [[], [b"k"], [b"other"]])
def test_the_slash24_memory_gives_what_the_search_gives(passes, budget):
    """The same verdicts with the memory as with every sender searched (`_missed24` kept empty),
    and the same budget spent (2,000 HMACs: spent within the first /24s)."""

    class Forgetful(Verifier):
        def _missed_all(self, *args) -> None:
            pass

    frames = forged(600, rounds=2) + groups(300)
    fast = Pipeline(Verifier(passes, budget=budget), Tracker())
    full = Pipeline(Forgetful(passes, budget=budget), Tracker())
    assert run(fast, frames) == run(full, frames)
    assert fast.verifier._budget == full.verifier._budget
    assert [(t.first, t.count) for t in fast.tallies()] == [(t.first, t.count) for t in full.tallies()]


def test_a_failure_is_worded_once_per_slash24(monkeypatch):
    worded = Counting(monkeypatch, vf, "_worded")
    p = Pipeline(Verifier([b"other"]), Tracker(), lean=True)
    out = run(p, forged(600))
    # (old: an f-string and an IPv4Address per sender); the senders of the third /24 are past the
    # member cap, and not verified
    assert worded.calls["_worded"] == 2
    assert any(getattr(r, "hmac_hint", None) for r in out)


def test_a_decoded_advert_gets_its_verdict_in_place(monkeypatch):
    """The record the pipeline decoded is its own: no copy of its 30 fields for a verdict."""
    calls = {"copy": 0, "fill": 0}
    real = vf._COPY_RESULT

    class Counted:
        def __call__(self, record, values):
            calls["copy"] += 1
            return real(record, values)

        def fill(self, record, values):
            calls["fill"] += 1
            return real.fill(record, values)

        def filler(self):  # (the verifier takes `fill` itself, Copier.filler)
            return self.fill

    monkeypatch.setattr(vf, "_COPY_RESULT", Counted())
    frames = forged(300)
    out = run(Pipeline(Verifier([]), Tracker(), lean=True), frames)
    assert calls == {"copy": 0, "fill": 300}  # (old: 300 copies)

    class Copying(Verifier):
        def verify(self, advert, fresh=False):
            return super().verify(advert)

    monkeypatch.setattr(vf, "_COPY_RESULT", real)
    assert out == run(Pipeline(Copying([]), Tracker(), lean=True), frames)


def test_a_one_shot_sender_whose_slash24_missed_leaves_no_sender_state(monkeypatch):
    """No _Sender, _Miss or cache entry for each of a flood's senders (old: 600 of each)."""
    p = Pipeline(Verifier([]), Tracker(), lean=True)
    made = Counting(monkeypatch, vf, "_Sender").calls
    v = Counting(monkeypatch, p.verifier, "_remember", "_unknown").calls
    run(p, forged(600))  # three /24s
    assert made["_Sender"] <= 3 and v["_remember"] <= 3  # the first sender of each /24, searched
    assert v["_unknown"] <= 3  # the others judged before the cache (old: 600 of each)


def test_the_repeats_of_a_sender_judged_without_state_are_answered_by_the_cache(monkeypatch):
    """255 forged sources advertising at once, each the same frame every second: every repeat asked
    the /24 memory again, as if new (old, after the flood's change: +25% a repeat)."""
    frames = forged(301)
    p = Pipeline(Verifier([]), Tracker())
    for i, data in enumerate(frames[:300]):  # the /24s of 10.0.0.x and 10.1.0.x missed with every key
        p.feed(Frame(i + 1, T0 + i * 0.001, 1, data, len(data)))
    v = Counting(monkeypatch, p.verifier, "_missed_new", "_unknown").calls
    out = [p.feed(Frame(301 + i, T0 + 1 + i, 1, frames[300], len(frames[300]))) for i in range(6)]
    assert v["_missed_new"] == 2 and v["_unknown"] == 1  # new; sends again (made a _Sender); cached
    assert [x.hmac for batch in out for x in batch if hasattr(x, "hmac")] == ["unverified"] * 6


def test_a_sender_that_sends_again_is_judged_as_with_its_state_kept(monkeypatch):
    """The searched keys kept for a one-shot sender (an int) give what its _Sender gave: the same
    verdicts and the same budget spent when it sends again with another counter."""

    class Keeping(Verifier):
        def _missed_before(self, *args) -> bool:
            return False  # every new sender gets its _Sender, as before

    rounds = forged(600, rounds=3)
    claimed = rounds[:700] + [garp("192.0.2.50", "00:00:5e:00:01:01")] + rounds[700:]  # the VIP set known midway
    for frames in (rounds, claimed):
        for passes in ([], [b"k"], [b"other"]):
            for budget in (2000, vf.SEARCH_BUDGET):
                fast = Pipeline(Verifier(passes, budget=budget), Tracker())
                full = Pipeline(Keeping(passes, budget=budget), Tracker())
                assert run(fast, frames) == run(full, frames)
                assert fast.verifier._budget == full.verifier._budget


def test_a_flood_past_d_creates_no_member_past_the_cap(monkeypatch):
    """One-shot senders past a full group never take a silent member's place (old: one member's
    creation, timers and events for each advert once the first members stopped, after D)."""
    p = Pipeline(Verifier([]), Tracker(), lean=True)
    learnt = Counting(monkeypatch, p.tracker, "_learn").calls
    run(p, forged(2500), step=0.002)  # 5 s: the first members are silent for D (3 s) long before the end
    assert learnt["_learn"] == caps.MEMBERS_MAX


def test_the_usual_frame_is_keyed_and_built_without_a_layer_between(monkeypatch):
    """A new sender's plain frame: its repeat key unpacked once (no repeat.key), its record built by
    the compiled builder itself (no Builder.__call__), the report's span set in place (no Recorder.saw)."""
    from carpscope import model
    from carpscope.summary import Recorder
    from carpscope.wire import repeat

    keyed = Counting(monkeypatch, repeat, "key").calls
    built = Counting(monkeypatch, model.Builder, "__call__").calls
    saw = Counting(monkeypatch, Recorder, "saw").calls
    p = Pipeline(Verifier([]), Tracker(), lean=True)
    out = run(p, forged(400))
    assert keyed["key"] == 0 and saw["saw"] == 0  # (old: 400 each)
    assert built["__call__"] < 5  # (an event's; old: one a frame more)
    assert p.first_time is not None and p.last_time > p.first_time
    assert sum(getattr(r, "kind", None) == "limit-reached" for r in out) == 2


def test_the_end_of_many_groups_of_one_member_calls_nothing_per_group(monkeypatch):
    """finish: the groups sorted by key alone, a lone member not sorted, and a member that is not
    demoted not asked (old: a sort call and a demotion.at_end call per group)."""
    from carpscope.election import demotion
    from carpscope.election import tracker as tr

    ended = Counting(monkeypatch, demotion, "at_end").calls
    ordered = Counting(monkeypatch, tr, "by_first").calls
    p = Pipeline(Verifier([]), Tracker(), lean=True)
    out = run(p, groups(600))
    assert len(p.tracker._groups) == 600
    assert ended["at_end"] == 0 and ordered["by_first"] == 0  # (old: 600 each)
    assert not any(getattr(r, "kind", None) == "demoted" for r in out)


def test_a_new_advert_s_macs_and_verdict_cost_no_call_each(monkeypatch):
    """The virtual and group MACs' text kept (plain._MACS), the verdict filled in without Copier.fill's
    layer (old: two bytes.hex and a Copier.fill call per advert)."""
    from carpscope import model
    from carpscope.wire import plain

    texts = Counting(monkeypatch, plain, "_mac").calls
    fills = Counting(monkeypatch, model.Copier, "fill").calls
    p = Pipeline(Verifier([]), Tracker(), lean=True)
    out = run(p, forged(400))
    assert texts["_mac"] <= 2 and fills["fill"] == 0
    assert {r.src_mac for r in out if hasattr(r, "src_mac")} == {"00:00:5e:00:01:01"}
    assert all(r.hmac == "unverified" for r in out if hasattr(r, "hmac"))


def _adverts(out: list) -> list[CarpAdvert]:
    return [r for r in out if isinstance(r, CarpAdvert)]


def test_an_advert_a_cap_leaves_out_is_not_verified(monkeypatch):
    """Past the member cap, a new sender's first advert is counted, not tracked and not verified:
    no signature is computed for it, and its verdict says why (old: a search per /24, a cache
    lookup per sender, and a hold of 0.5 s behind each one that failed)."""
    n = tr.MEMBERS_MAX + 300
    p = Pipeline(Verifier([b"k"], {1: ["192.0.2.50"]}), Tracker(), lean=True)
    verified = Counting(monkeypatch, p.verifier, "verify").calls
    adverts = _adverts(run(p, forged(n)))
    assert verified["verify"] == tr.MEMBERS_MAX
    assert [r.hmac for r in adverts[: tr.MEMBERS_MAX]] == ["ok"] * tr.MEMBERS_MAX
    assert {(r.hmac, r.hmac_reason) for r in adverts[tr.MEMBERS_MAX :]} == {("unverified", "not-tracked")}
    assert all("limit-reached" in r.hmac_hint for r in adverts[tr.MEMBERS_MAX :])


def test_a_sender_left_out_once_is_verified_at_its_second_advert():
    """Its second advert may take a silent member's place (Limits.admit): it is verified as usual,
    whether or not it gets in."""
    n = tr.MEMBERS_MAX + 50
    p = Pipeline(Verifier([b"k"], {1: ["192.0.2.50"]}), Tracker())
    adverts = _adverts(run(p, forged(n, rounds=2)))
    assert [r.hmac_reason for r in adverts[tr.MEMBERS_MAX : n]] == ["not-tracked"] * 50
    assert [r.hmac for r in adverts[n:]] == ["ok"] * n


@pytest.mark.parametrize("rounds", [1, 3])
def test_leave_out_says_what_observe_says(rounds):
    """Tracker.leave_out, then observe when it says None, gives observe's events, findings and state."""
    s = Script()
    records = [s.carp(k * 2.0 + i * 0.001, f"10.{i // 250}.0.{i % 250 + 1}", vhid=1 + i % 3)
               for k in range(rounds) for i in range(3 * tr.MEMBERS_MAX + 100)]
    plain, gated = Tracker(), Tracker()
    left = 0
    for r in records:
        said = gated.leave_out(r, r.time)
        left += said is not None
        assert (gated.observe(r, r.time) if said is None else said) == plain.observe(r, r.time)
    assert left >= 3 * 100 // 3
    assert gated.finish(10.0) == plain.finish(10.0)
    assert gated.snapshot() == plain.snapshot()
