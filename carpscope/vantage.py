"""Vantage points: one packet per frame, however many captures or interfaces saw it (issue 15).

Captures taken at several points of a segment (`read fw1=fw1.pcap fw2=fw2.pcap`) or
on several interfaces of one host (`live any` on a bridge) hold the same frame more
than once. A frame is the same when its bytes from the network header on are the
same (the link layer may differ: a VLAN tag stripped at one point) and it arrives
within WINDOW of the first copy, once the capture clocks are put on one clock. The
copies become one frame that carries every point that saw it (`seen_at`).

A real loop, the same advert arriving twice at ONE point, stays two frames, so the
tracker still raises looped-advert: only a copy on another interface of that point
(SLL2 says which; SLL does not, so within ANY_WINDOW) is folded.

Clock offsets: each point's offset to the first point's clock is the median of the
time differences of the frames they share (Offsets). Pure: no I/O, no clock.
"""

from __future__ import annotations

import heapq
from collections import deque
from statistics import median

from carpscope.model import Frame
from carpscope.wire import linklayer

WINDOW = 0.05  # seconds within which copies at two points are one frame (after the clock offset)
ANY_WINDOW = 0.005  # the same frame on two interfaces of one host (live any, a bridge): a few ms
LEARN_WINDOW = 2.0  # before an offset is known, copies are matched this far apart (unique frames only)
OFFSET_SAMPLES = 64  # time differences kept per point for the median
_PENDING_MAX = 65536  # frames waiting for their copies (bounded memory)
_SLL2_IFINDEX = slice(4, 8)
COOKED = linklayer.COOKED  # Linux `any`: one frame per interface


def identity(frame: Frame) -> bytes | None:
    """The bytes that make two captured frames the same one: network header on, no padding."""
    link = linklayer.parse(frame.linktype, frame.data)
    if link is None:
        return None
    data, off = frame.data, link.offset
    if link.ethertype == linklayer.ETH_IPV4 and len(data) >= off + 4:
        end = off + int.from_bytes(data[off + 2 : off + 4], "big")
    elif link.ethertype == linklayer.ETH_IPV6 and len(data) >= off + 6:
        end = off + 40 + int.from_bytes(data[off + 4 : off + 6], "big")
    elif link.ethertype == linklayer.ETH_ARP:
        end = off + 28
    else:
        end = len(data)
    return bytes(data[off:end])


def interface(frame: Frame) -> int | None:
    """The capturing interface's index, which only Linux SLL2 records."""
    if frame.linktype == linklayer.DLT_LINUX_SLL2 and len(frame.data) >= 8:
        return int.from_bytes(frame.data[_SLL2_IFINDEX], "big")
    return None


class Offsets:
    """Each point's clock offset to the reference (first) point, from shared frames: a median."""

    def __init__(self, reference: str | None = None):
        self.reference = reference
        self._diffs: dict[str, deque] = {}

    def add(self, point: str, diff: float) -> None:
        """`diff`: the point's time of a shared frame minus the reference's time of it."""
        self._diffs.setdefault(point, deque(maxlen=OFFSET_SAMPLES)).append(diff)

    def get(self, point: str) -> float:
        diffs = self._diffs.get(point)
        return median(diffs) if diffs else 0.0

    def known(self, point: str) -> bool:
        return point == self.reference or len(self._diffs.get(point, ())) >= 3

    def shown(self) -> dict[str, tuple[float, int]]:
        """point -> (offset in seconds, frames it was estimated from), for the report header."""
        return {p: (median(d), len(d)) for p, d in self._diffs.items() if d}


class _Seen:
    """A frame waiting for its copies. `order` is when it leaves: its time, but never before a
    frame that came earlier from the same point (a file out of time order keeps its order),
    then arrival."""

    __slots__ = ("frame", "ifindex", "key", "order", "points", "raw", "time")

    def __init__(self, time, key, frame, point, ifindex, raw, order):
        self.time, self.key, self.frame, self.ifindex, self.raw = time, key, frame, ifindex, raw
        self.points = [point]
        self.order = order

    def __lt__(self, other: _Seen) -> bool:
        return self.order < other.order


class Merger:
    """Folds the copies of a frame into one; frames come out late by the horizon, in time order.

    Times are put on the reference clock with `offsets`. `learn`: estimate the
    offsets from the frames as they come (live); files are estimated first
    (`estimate`) and, merged on their own clocks, may arrive up to the largest
    offset apart: the horizon covers it.
    """

    def __init__(self, reference: str | None, learn: bool = True, offsets: Offsets | None = None,
                 delay: float = 0.0):
        self.offsets = offsets or Offsets(reference)
        self.learn = learn
        self.folded = 0  # copies folded into a frame seen before
        self._pending: list[_Seen] = []  # a heap by time on the reference clock
        self._index: dict[bytes, _Seen] = {}
        self._latest: dict[str | None, float] = {}  # per point: the `order` time of its latest frame
        # Files on one clock (not named, not learning) come merged in time order already: they
        # leave in that order, so a file out of time order cannot put a later number first.
        self._one_clock = offsets is None and not learn
        self._arrived = 0
        shown = self.offsets.shown()
        self._horizon = max(delay, WINDOW + max((abs(o) for o, _ in shown.values()), default=0.0))

    def push(self, frame: Frame, point: str | None) -> list[Frame]:
        """Take one captured frame; return those whose copies can no longer arrive."""
        raw = frame.time
        if point is not None and point != self.offsets.reference:
            frame = Frame(frame[0], raw - self.offsets.get(point), frame[2], frame[3], frame[4])
        horizon = LEARN_WINDOW if self.learn and not self._settled() else self._horizon
        out = self._release(frame.time - horizon)
        key = identity(frame)
        seen = self._index.get(key) if key is not None else None
        if seen is not None and self._copy(seen, frame, point, raw):
            return out
        clock = None if self._one_clock else point
        leave = max(frame.time, self._latest.get(clock, frame.time))
        self._latest[clock] = leave
        self._arrived += 1
        seen = _Seen(frame.time, key, frame, point, interface(frame), raw, (leave, self._arrived))
        if len(self._pending) >= _PENDING_MAX:
            out += self._release(float("inf"))
        heapq.heappush(self._pending, seen)
        if key is not None:
            self._index[key] = seen
        return out

    def _settled(self) -> bool:
        return len(self.offsets.shown()) >= 1

    def _copy(self, seen: _Seen, frame: Frame, point: str | None, raw: float) -> bool:
        """Is `frame` a copy of `seen`? If so it is folded into it."""
        apart = frame.time - seen.time
        if point in seen.points:
            # The same point: another interface of the host (live any, a bridge), or a real loop.
            # Only a Linux `any` capture (cooked) sees a frame on several interfaces.
            if frame.linktype not in COOKED:
                return False
            ifindex = interface(frame)
            if ifindex is not None and seen.ifindex is not None and ifindex == seen.ifindex:
                return False
            if not 0 <= apart <= ANY_WINDOW:
                return False
            self.folded += 1
            return True
        learning = self.learn and not all(self.offsets.known(p) for p in (point, seen.points[0]) if p is not None)
        if abs(apart) > (LEARN_WINDOW if learning else WINDOW):
            return False
        seen.points.append(point)
        self.folded += 1
        if self.learn and point is not None:
            first = seen.points[0]
            if first == self.offsets.reference:
                self.offsets.add(point, raw - seen.raw)
            elif point == self.offsets.reference and first is not None:
                self.offsets.add(first, seen.raw - raw)
        return True

    def _release(self, before: float) -> list[Frame]:
        out = []
        pending = self._pending
        while pending and pending[0].order[0] < before:
            seen = heapq.heappop(pending)
            if seen.key is not None and self._index.get(seen.key) is seen:
                del self._index[seen.key]
            f = seen.frame
            out.append(Frame(f[0], f[1], f[2], f[3], f[4], seen.points[0], tuple(seen.points)))
        return out

    def earliest(self) -> float | None:
        """The time of the earliest frame still waiting: time may not pass it yet."""
        return self._pending[0].order[0] if self._pending else None

    def next_release(self) -> float | None:
        """When the earliest waiting frame comes out if no frame comes first (live sleeps until then)."""
        if not self._pending:
            return None
        return self._pending[0].order[0] + (LEARN_WINDOW if self.learn and not self._settled() else self._horizon)

    def push_time(self, now: float) -> list[Frame]:
        """Live, nothing arrived until `now`: the frames whose copies can no longer arrive."""
        return self._release(now - (LEARN_WINDOW if self.learn and not self._settled() else self._horizon))

    def flush(self) -> list[Frame]:
        """End of capture: every frame still waiting for copies."""
        return self._release(float("inf"))


def estimate(samples: dict[str, list[tuple[bytes, float]]], reference: str) -> Offsets:
    """Offsets from the first frames of each capture (files): frames whose bytes occur once in each.

    CARP adverts carry a counter and an HMAC, so their bytes are unique; a VRRP
    advert repeats its bytes every interval and is matched only when unique.
    """
    offsets = Offsets(reference)
    ref = _unique(samples.get(reference, []))
    for point, frames in samples.items():
        if point == reference:
            continue
        for key, t in _unique(frames).items():
            if key in ref:
                offsets.add(point, t - ref[key])
    return offsets


def _unique(frames: list[tuple[bytes, float]]) -> dict[bytes, float]:
    times: dict[bytes, float] = {}
    twice = set()
    for key, t in frames:
        if key in times:
            twice.add(key)
        times[key] = t
    return {k: t for k, t in times.items() if k not in twice}
