"""The pipeline on frames built byte by byte: the repeat fast path and held adverts.

The fast path (wire/repeat.py) must be invisible: every record, event, finding and
group state must be what a full decode of every frame gives. The reference here is
the same pipeline with the fast path switched off.
"""

from __future__ import annotations

import collections
import random

import pytest

import stacks
from carpscope.auth import Verifier
from carpscope.election.tracker import Tracker
from carpscope.model import AddressClaim, CarpAdvert, Frame, VrrpAdvert
from carpscope.pipeline import Pipeline

KEY = b"s3cret"
GROUP_V4, GROUP_V6 = "224.0.0.18", "ff02::12"


def carp_payload(vhid, advskew, counter, vips, advbase=1, key=KEY, corrupt=False) -> bytes:
    """A CARP header signed the FreeBSD way: HMAC over 02 01 vhid VIPs counter (docs/protocol.md §2.1)."""
    md = stacks.carp_md(key, vhid, vips, counter)
    return stacks.carp_advert(vhid, advskew, advbase, counter, md, corrupt=corrupt)


def ip_frame(src: str, payload: bytes, vhid: int, ident: int, vlan=None, family=4) -> bytes:
    mac = f"00:00:5e:00:01:{vhid:02x}"
    if family == 6:
        return stacks.ether(mac, "33:33:00:00:00:12", 0x86DD, stacks.ipv6(src, GROUP_V6, 112, payload), vlan)
    packet = stacks.ipv4_packet(src, GROUP_V4, 112, payload, tos=0x10, ident=ident)
    return stacks.ether(mac, "01:00:5e:00:00:12", 0x0800, packet, vlan)


def garp(vip: str, vhid: int, vlan=None) -> bytes:
    return stacks.garp(vip, f"00:00:5e:00:01:{vhid:02x}", vlan)


def vrrp_frame(src: str, vrid: int, priority: int, ident: int, vips=("192.0.2.50",)) -> bytes:
    return ip_frame(src, stacks.vrrp2(vrid, priority, vips), vrid, ident)


class NoFastPath(Pipeline):
    """The reference: every frame decoded in full."""

    def _remember(self, *args) -> None:
        pass


def feed_all(pipeline: Pipeline, frames: list[bytes], times: list[float]) -> list:
    out = []
    for number, (data, time) in enumerate(zip(frames, times), 1):
        out += pipeline.feed(Frame(number, time, 1, data, len(data)))
    return out + pipeline.finish()


def new(cls=Pipeline, lean=False, passphrases=(KEY,)) -> Pipeline:
    return cls(Verifier(list(passphrases)), Tracker(), lean=lean)


def scenario(seed: int) -> tuple[list[bytes], list[float]]:
    """Two CARP members and a VRRP router taking turns, with the usual trouble mixed in."""
    rng = random.Random(seed)
    frames, times = [], []
    t, counters, ident = 1000.0, {"192.0.2.2": 10**6, "192.0.2.3": 5 * 10**6}, 0
    vips = ["192.0.2.100", "192.0.2.101"]
    master, skews = "192.0.2.2", {"192.0.2.2": 0, "192.0.2.3": 100}
    wrong = 1.0 if seed % 4 == 3 else 0.03  # every fourth capture: signed with another key
    vlan = rng.choice([None, 7])
    family = rng.choice([4, 4, 6])
    for vip in vips:
        frames.append(garp(vip, 5, vlan))
        times.append(t)
    overlap = 0
    for _ in range(400):
        t += rng.choice([1.0, 1.0, 1.0, 0.9, 1.1, 0.001, 3.5, 5.0])
        ident += 1
        roll = rng.random()
        if roll < 0.03:  # failover to the other member, with its claims
            master = "192.0.2.3" if master == "192.0.2.2" else "192.0.2.2"
            for vip in vips:
                frames.append(garp(vip, 5, vlan))
                times.append(t)
            continue
        if roll < 0.05:
            skews[master] = rng.choice([0, 100, 240])
        counter = counters[master]
        if roll < 0.08:
            counter -= rng.randrange(1, 5)  # an old counter again: a replay
        else:
            counters[master] += rng.choice([1, 1, 1, 0])  # 0: OpenBSD repeats its counter
        key = b"wrong" if rng.random() < wrong else KEY
        payload = carp_payload(5, skews[master], counter, vips, key=key, corrupt=rng.random() < 0.03)
        data = ip_frame(master if family == 4 else f"fe80::{master.rsplit('.', 1)[1]}", payload, 5, ident,
                        vlan, family)
        if rng.random() < 0.05:  # the other member advertises too for a while: split brain material
            overlap = rng.choice([1, 2, 6, 12])
        if overlap:
            overlap -= 1
            other = "192.0.2.3" if master == "192.0.2.2" else "192.0.2.2"
            counters[other] += 1
            frames.append(ip_frame(other, carp_payload(5, skews[other], counters[other], vips), 5, ident))
            times.append(t)
        frames.append(data)
        times.append(t)
        if rng.random() < 0.2:
            frames.append(vrrp_frame("192.0.2.9", 9, rng.choice([100, 100, 100, 0, 200]), ident))
            times.append(t + 0.01)
    return frames, times


@pytest.mark.parametrize("seed", range(12))
def test_fast_path_gives_what_a_full_decode_gives(seed):
    frames, times = scenario(seed)
    full, fast = new(NoFastPath), new()
    expected, got = feed_all(full, frames, times), feed_all(fast, frames, times)
    assert got == expected
    assert fast.tracker.snapshot() == full.tracker.snapshot()
    assert [(t.first, t.count) for t in fast.tallies()] == [(t.first, t.count) for t in full.tallies()]
    assert fast._templates, "the fast path was never taken"


@pytest.mark.parametrize("seed", range(6))
def test_lean_pipeline_skips_records_but_not_conclusions(seed):
    frames, times = scenario(seed)
    full, lean = new(NoFastPath), new(lean=True)
    expected = [x for x in feed_all(full, frames, times) if not isinstance(x, (CarpAdvert, VrrpAdvert))]
    got = [x for x in feed_all(lean, frames, times) if not isinstance(x, (CarpAdvert, VrrpAdvert))]
    assert got == expected
    assert lean.tracker.snapshot() == full.tracker.snapshot()
    assert (lean.adverts, lean.records, lean.first_time, lean.last_time) == (
        full.adverts, full.records, full.first_time, full.last_time)


VIPS = ["192.0.2.100", "192.0.2.200"]  # two VIPs: no single-address search finds them


def first_advert_then_claims(key: bytes) -> tuple[list[bytes], list[float]]:
    frames = [ip_frame("192.0.2.2", carp_payload(5, 0, 77, VIPS, key=key), 5, 1),
              garp(VIPS[0], 5), garp(VIPS[1], 5),
              ip_frame("192.0.2.2", carp_payload(5, 0, 78, VIPS, key=key), 5, 2)]
    return frames, [10.0, 10.001, 10.002, 11.0]


def test_first_advert_is_verified_with_the_claims_that_follow_it():
    frames, times = first_advert_then_claims(KEY)
    out = [x for x in feed_all(new(), frames, times) if isinstance(x, (CarpAdvert, AddressClaim))]
    assert [x.frame for x in out] == [1, 2, 3, 4]
    assert [(x.hmac, x.vips) for x in out if isinstance(x, CarpAdvert)] == [("ok", tuple(VIPS))] * 2


def test_a_wrong_passphrase_stays_bad_after_the_claims():
    frames, times = first_advert_then_claims(b"other")
    pipeline = new()
    out = [x for x in feed_all(pipeline, frames, times) if isinstance(x, (CarpAdvert, AddressClaim))]
    assert [x.frame for x in out] == [1, 2, 3, 4]
    assert [x.hmac for x in out if isinstance(x, CarpAdvert)] == ["bad", "bad"]
    assert "hmac-failed" in {t.first.kind for t in pipeline.tallies()}


def test_a_held_advert_is_released_by_a_later_tick_or_the_end():
    frames, times = first_advert_then_claims(b"other")
    pipeline = new()
    assert pipeline.feed(Frame(1, times[0], 1, frames[0], len(frames[0]))) == []
    assert pipeline.advance(times[0] + 0.1) == []  # still waiting for claims
    released = pipeline.advance(times[0] + 1.0)
    assert [x.frame for x in released if isinstance(x, CarpAdvert)] == [1]
    pipeline = new()
    pipeline.feed(Frame(1, times[0], 1, frames[0], len(frames[0])))
    assert [x.frame for x in pipeline.finish() if isinstance(x, CarpAdvert)] == [1]


def test_one_vhid_on_two_vlans_gives_two_findings_in_the_report():
    from carpscope.views import report

    frames, times = [], []
    for i in range(3):
        for vlan in (10, 20):
            payload = carp_payload(5, 240, 100 + i, ["192.0.2.100"])  # advskew 240: demoted
            frames.append(ip_frame("192.0.2.2", payload, 5, i, vlan=vlan))
            times.append(100.0 + i)
    pipeline = new()
    feed_all(pipeline, frames, times)
    demoted = [t for t in pipeline.tallies() if t.first.kind == "demoted"]
    assert sorted(t.first.vlan for t in demoted) == [(10,), (20,)]
    text = report.text_report(pipeline.tracker.snapshot(), pipeline.events,
                              [(t.first, t.count) for t in pipeline.tallies()], pipeline.first_time,
                              pipeline.last_time)
    findings = text.split("Findings")[1]
    assert "demoted  CARP vhid 5 IPv4 VLAN 10" in findings and "demoted  CARP vhid 5 IPv4 VLAN 20" in findings


def test_a_damaged_protocol_112_packet_counts_as_one_for_count():
    """-c counts protocol-112 packets, decoded or not (a fragment is one)."""
    data = bytearray(ip_frame("192.0.2.2", carp_payload(5, 0, 1, ["192.0.2.100"]), 5, 1))
    data[20:22] = b"\x00\x10"  # IPv4 fragment offset 128: the rest of some protocol-112 packet
    pipeline = new()
    out = pipeline.feed(Frame(1, 1.0, 1, bytes(data), len(data)))
    assert [type(x).__name__ for x in out] == ["Damaged"]
    assert (pipeline.adverts, pipeline.records) == (1, 1)


# -- issue 19: a replay storm and records built without the dataclass __init__ -----------

def replay_storm(seed: int, n: int = 600) -> tuple[list[bytes], list[float]]:
    """Every advert a replay of a few recorded ones, resent in turn (bench/gen.py write_replay)."""
    rng = random.Random(seed)
    recorded = [ip_frame(src, carp_payload(5, skew, counter, ["192.0.2.100"]), 5, counter)
                for src, skew in (("192.0.2.2", 0), ("192.0.2.3", 100)) for counter in (7, 8, 9, 12)]
    rng.shuffle(recorded)
    recorded = recorded[: rng.choice([2, 3, 8])]
    frames = [garp("192.0.2.100", 5)] + [recorded[i % len(recorded)] for i in range(n)]
    gap = rng.choice([0.005, 0.4, 1.0])
    return frames, [100.0] + [100.0 + gap * (i + 1) for i in range(n)]


def fast_is_full(frames, times) -> list:
    """The fast path's output, tracker and tallies equal a full decode's, lean and not; the fast pipelines."""
    fasts = []
    for lean in (False, True):
        full, fast = new(NoFastPath, lean=lean), new(lean=lean)
        expected, got = feed_all(full, frames, times), feed_all(fast, frames, times)
        if lean:
            expected = [x for x in expected if not isinstance(x, (CarpAdvert, VrrpAdvert))]
            got = [x for x in got if not isinstance(x, (CarpAdvert, VrrpAdvert))]
        assert got == expected
        assert fast.tracker.snapshot() == full.tracker.snapshot()
        assert [(t.first, t.count) for t in fast.tallies()] == [(t.first, t.count) for t in full.tallies()]
        fasts.append(fast)
    return fasts


@pytest.mark.parametrize("seed", range(6))
def test_a_replay_storm_gives_what_a_full_decode_gives(seed):
    for fast in fast_is_full(*replay_storm(seed)):
        assert fast._templates, "the fast path was never taken"


@pytest.mark.parametrize("seed", range(4))
def test_decoded_records_are_those_the_dataclass_builds(seed):
    """wire/carp.py and wire/vrrp.py build records with model.Maker: equal, field for field."""
    import dataclasses

    from carpscope.model import Maker
    from carpscope.wire.decode import decode_frame

    frames, times = scenario(seed)
    records = [decode_frame(Frame(i, t, 1, d, len(d))) for i, (d, t) in enumerate(zip(frames, times), 1)]
    adverts = [r for r in records if isinstance(r, (CarpAdvert, VrrpAdvert))]
    assert any(isinstance(r, CarpAdvert) for r in adverts) and any(isinstance(r, VrrpAdvert) for r in adverts)
    for r in adverts:
        fields = {f.name: getattr(r, f.name) for f in dataclasses.fields(r)}
        built = type(r)(**fields)
        assert r == built and repr(r) == repr(built) and hash(r) == hash(built)
        assert Maker(type(r))(**fields) == built
    with pytest.raises(TypeError):
        Maker(CarpAdvert)(frame=1)  # a missing required field: the class's own error
    with pytest.raises(TypeError):
        carp = next(r for r in adverts if isinstance(r, CarpAdvert))
        Maker(CarpAdvert)(**{f.name: getattr(carp, f.name) for f in dataclasses.fields(CarpAdvert)}, bogus=1)


def test_replays_of_a_reported_replay_take_the_fast_path():
    """Issue 19: once a sender's replay is reported, resent adverts cost what repeats cost."""
    frames, times = replay_storm(0)
    pipeline = new(lean=True)
    calls = 0
    observe = pipeline.tracker.observe

    def counted(*args):
        nonlocal calls
        calls += 1
        return observe(*args)

    pipeline.tracker.observe = counted
    feed_all(pipeline, frames, times)
    assert any(t.first.kind == "replayed-advert" for t in pipeline.tallies())
    assert calls < 30, f"{calls} of {len(frames)} frames took the full tracker update"


# -- issue 19: the repeat plan (Seal.signs, Tracker.steady) and the frame keys ----------------

@pytest.mark.parametrize("seed", range(4))
def test_frames_with_a_trailer_give_what_a_full_decode_gives(seed):
    """A 4-byte trailer (an FCS kept by the capture): the frames are keyed by slices, not the struct."""
    frames, times = scenario(seed)
    frames = [data + b"\xde\xad\xbe\xef" for data in frames]
    full, fast = new(NoFastPath), new()
    assert feed_all(fast, frames, times) == feed_all(full, frames, times)
    assert fast.tracker.snapshot() == full.tracker.snapshot()
    assert any(isinstance(key, bytes) for key in fast._templates), "the fast path was never taken"


def searched_then_claimed() -> tuple[list[bytes], list[float]]:
    """One VIP found by the /24 search ("searched"), then claimed by ARP: the signer is relabelled."""
    vip = ["192.0.2.100"]
    frames, times = [], []
    for i in range(12):
        if i == 6:
            frames.append(garp(vip[0], 5))
            times.append(100.0 + i - 0.5)
        counter = 40 + (i if i < 9 else 9)  # then the same counter again: the memo of Seal.signs
        frames.append(ip_frame("192.0.2.2", carp_payload(5, 0, counter, vip), 5, i))
        times.append(100.0 + i)
    return frames, times


def test_a_relabelled_signer_gives_what_a_full_decode_gives():
    frames, times = searched_then_claimed()
    full, fast = new(NoFastPath), new()
    expected, got = feed_all(full, frames, times), feed_all(fast, frames, times)
    assert got == expected
    labels = [r.vips_from for r in got if isinstance(r, CarpAdvert)]
    assert labels[:6] == ["searched"] * 6 and labels[6:] == ["inferred"] * 6
    assert fast._templates, "the fast path was never taken"


def steady_frames(n: int, step: int) -> tuple[list[bytes], list[float]]:
    """A master's claims, then n adverts a second apart, its counter moving by `step` (0: OpenBSD)."""
    frames = [garp(vip, 5) for vip in VIPS] + [
        ip_frame("192.0.2.2", carp_payload(5, 0, 1000 + step * i, VIPS), 5, i) for i in range(n)]
    return frames, [100.0, 100.0] + [100.0 + i for i in range(1, n + 1)]


@pytest.mark.parametrize("step", [1, 0])
def test_a_steady_repeat_costs_a_few_calls_and_at_most_one_hmac(step):
    """Issue 19: a repeat took 14 Python calls (and an HMAC even when its counter and md came again)."""
    import sys

    frames, times = steady_frames(40, step)
    pipeline = new(lean=True)
    for number, (data, time) in enumerate(zip(frames[:-10], times[:-10]), 1):
        pipeline.feed(Frame(number, time, 1, data, len(data)))
    calls, hmacs = [], []

    def profile(frame, event, arg):
        if event == "call":
            calls.append(frame.f_code.co_name)
        elif event == "c_call" and getattr(arg, "__name__", "") == "finalize":
            hmacs.append(arg)

    sys.setprofile(profile)
    try:
        for number, (data, time) in enumerate(zip(frames[-10:], times[-10:]), len(frames) - 9):
            assert pipeline.feed(Frame(number, time, 1, data, len(data))) == []
    finally:
        sys.setprofile(None)
    # Per repeat: feed (which keys the usual frame itself), _repeat, Seal.signs, Tracker.repeat (OpenBSD's
    # constant counter too: its key is the template's own object); every other advert a heap entry
    # moves (Tracker.advance). Frame.__new__ is the test's.
    timeouts = {"advance", "top", "take", "_tick", "keep"}  # (take: Timers.top and its pop in one)
    steady = [c for c in calls if c not in timeouts and c != "<lambda>"]
    assert set(steady) <= {"feed", "_repeat", "signs", "repeat"}, steady
    assert len(steady) <= 4 * 10, collections.Counter(steady)
    assert len(hmacs) == (10 if step else 0)


# -- issue 19, session 6: the usual frame keyed in feed, Steady on demand, the counter key kept -------------

def counting(obj, name: str) -> list:
    """Calls of obj.name from now on (one entry each)."""
    calls: list = []
    method = getattr(obj, name)

    def counted(*args):
        calls.append(args)
        return method(*args)

    setattr(obj, name, counted)
    return calls


def test_a_template_that_never_repeats_builds_no_steady_plan():
    """A forged capture's senders send once each: the tracker's plan is built on a first repeat only."""
    frames = [garp(vip, 5) for vip in VIPS] + [
        ip_frame(f"192.0.2.{i}", carp_payload(5, i, 1000 + i, VIPS), 5, i) for i in range(10, 40)]
    times = [100.0, 100.0] + [100.0 + 0.001 * i for i in range(30)]
    pipeline = new(lean=True)
    plans = counting(pipeline.tracker, "steady")
    feed_all(pipeline, frames, times)
    assert len(pipeline._templates) == 30 and plans == []
    frames, times = steady_frames(20, 1)
    pipeline = new(lean=True)
    plans = counting(pipeline.tracker, "steady")
    feed_all(pipeline, frames, times)
    assert len(plans) == 1  # on the second advert, then kept for the 18 after it


def copies(n: int, gap: float) -> tuple[list[bytes], list[float]]:
    """A master's claims and two adverts, then its second advert n times, `gap` apart (a loop: hostile.py copies)."""
    frames, times = steady_frames(2, 0)
    return frames + [frames[-1]] * n, times + [times[-1] + gap * (i + 1) for i in range(n)]


@pytest.mark.parametrize("gap", [0.001, 0.3, 1.0])
def test_copies_of_a_reported_loop_give_what_a_full_decode_gives(gap):
    fast_is_full(*copies(200, gap))


def test_copies_of_a_reported_loop_take_the_repeat_path_without_the_counter_check():
    """Once the loop is reported, a copy's key is the latest by identity: no _counter_again, no observe."""
    frames, times = copies(200, 0.001)
    pipeline = new(lean=True)
    observed, again = counting(pipeline.tracker, "observe"), counting(pipeline.tracker, "_counter_again")
    feed_all(pipeline, frames, times)
    assert any(t.first.kind == "looped-advert" for t in pipeline.tallies())
    assert len(observed) < 5 and len(again) < 5, (len(observed), len(again))  # (200 before)


def test_frames_the_usual_key_does_not_take_give_what_a_full_decode_gives():
    """Feed keys 70-byte Ethernet frames itself: a tagged VRRP advert of 70 bytes is keyed by repeat.key,
    and a template's bytes under another link type are decoded in full."""
    vrrp = ip_frame("192.0.2.9", stacks.vrrp2(9, 100, ["192.0.2.50", "192.0.2.51", "192.0.2.52", "192.0.2.53"]), 9,
                    1, vlan=7)
    carp = ip_frame("192.0.2.2", carp_payload(5, 0, 1000, VIPS), 5, 1)
    assert len(vrrp) == len(carp) == 70
    items = [(garp(VIPS[0], 5), 1), (garp(VIPS[1], 5), 1)] + [(vrrp, 1), (carp, 1)] * 6 + [(carp, 101), (carp, 1)]
    outputs = []
    for cls in (NoFastPath, Pipeline):
        pipeline = new(cls)
        out = []
        for number, (data, linktype) in enumerate(items, 1):
            out += pipeline.feed(Frame(number, 100.0 + number * 0.5, linktype, data, len(data)))
        outputs.append((out + pipeline.finish(), pipeline.tracker.snapshot()))
    assert outputs[0] == outputs[1]
    assert any(isinstance(key, bytes) for key in pipeline._templates)  # the tagged VRRP advert's
    assert any(isinstance(key, tuple) for key in pipeline._templates)  # the usual CARP frame's


def test_tagged_adverts_are_keyed_in_one_unpack_and_give_what_a_full_decode_gives():
    """A CARP advert with one 802.1Q tag (74 bytes: a group on each of many VLANs) is keyed by a tuple,
    as the usual frame is; the same sender on another VLAN, or with another advskew, is another template."""
    frames, times = [], []
    for k in range(6):
        for vlan, advskew in ((7, 0), (8, 0), (7, 100)):
            src = "192.0.2.2" if advskew == 0 else "192.0.2.3"
            frames.append(ip_frame(src, carp_payload(5, advskew, 1000 + k, VIPS), 5, k, vlan=vlan))
            times.append(100.0 + k + vlan / 100 + advskew / 1000)
    assert {len(f) for f in frames} == {74}
    for fast in fast_is_full(frames, times):
        assert len(fast._templates) == 3 and all(isinstance(key, tuple) for key in fast._templates)
