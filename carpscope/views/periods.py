"""Who was master of each group when: the masterships behind the timeline pictures (issue 17).

Pure: from the election events, the tracker's last snapshot and the capture's span,
the periods each member was master, the stretches with no master and those with
two (split brain), and a time scale that compresses the quiet stretches so that a
long capture with one incident stays readable. The HTML chart (views/html.py) and
the terminal strip (views/report.py) draw the same values.

A period starts at the first advert of the new master (the event's time) and ends
at its last advert: for a master-changed that is the event's time minus its gap,
for a master-down its time minus the master-down time, for a split-brain-ended its
time (docs/design.md events). A master still advertising at the end runs to the end.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from carpscope.model import GroupKey

OPENS = ("master-elected", "master-changed", "split-brain-started")
MIN_SPAN = 1.0  # a capture of one instant is drawn over a second
QUIET_MIN = 60.0  # a stretch with nothing in it is compressed when longer than this ...
QUIET_SHARE = 1 / 20  # ... and than this share of the capture
CONTEXT = 5.0  # seconds kept on either side of anything that happened
MIN_GAP = 0.01  # a handover quicker than this is no gap to draw (a preemption right after a takeover)


@dataclass(frozen=True, slots=True)
class Period:
    """`member` advertised as master of `key` from `start` to `end`; `frame` opened it."""

    key: GroupKey
    member: str
    start: float
    end: float
    frame: int | None = None


@dataclass(frozen=True, slots=True)
class Mark:
    """A stretch of a group with no master ("gap") or two or more ("split").

    For a gap closed by a master change, `gap` and `expected` are the event's: how
    long the group had no master against the master-down time it should have taken.
    """

    key: GroupKey
    kind: str  # "gap" | "split"
    start: float
    end: float
    gap: float | None = None
    expected: float | None = None
    members: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Lane:
    """One group: its periods in time order and its marks."""

    key: GroupKey
    members: tuple[str, ...]
    periods: tuple[Period, ...]
    marks: tuple[Mark, ...]


def masterships(snapshot, events, first: float | None, last: float | None) -> list[Lane]:
    """A lane per group of the snapshot (its order), from the events in time order."""
    end_of_capture = last if last is not None else first
    lanes = []
    by_group: dict[GroupKey, list] = {}
    for e in sorted(events, key=lambda e: e.time):
        by_group.setdefault(e.key, []).append(e)
    for g in snapshot.groups:
        own = by_group.get(g.key, [])
        periods = _periods(g, own, end_of_capture)
        marks = _gaps(g, periods, own, end_of_capture) + _splits(g.key, periods)
        lanes.append(Lane(g.key, tuple(m.addr for m in g.members), tuple(periods),
                          tuple(sorted(marks, key=lambda m: m.start))))
    return lanes


def _periods(g, events: list, end_of_capture: float | None) -> list[Period]:
    """Open a period at each event that makes a member master, close it when the event says it stopped."""
    open_: dict[str, tuple[float, int | None]] = {}
    done: list[Period] = []

    def close(member: str | None, at: float) -> None:
        if member in open_:
            start, frame = open_.pop(member)
            done.append(Period(g.key, member, start, max(start, at), frame))

    for e in events:
        if e.kind == "master-changed":
            close(e.from_, e.time - (e.gap or 0.0))
        elif e.kind == "master-down":
            close(e.from_, e.time - (e.expected or 0.0))
        elif e.kind == "split-brain-ended":
            close(e.from_, e.time)
        if e.kind in OPENS and e.to and e.to not in open_:
            open_[e.to] = (e.time, e.frame)
    last_seen = {m.addr: m.last for m in g.members}
    still = set(g.advertising or ()) | ({g.master} if g.master else set())
    for member in list(open_):
        at = end_of_capture if member in still or member not in last_seen else last_seen[member]
        close(member, at if at is not None else open_[member][0])
    return sorted(done, key=lambda p: (p.start, p.end, p.member))


def _gaps(g, periods: list[Period], events: list, end_of_capture: float | None) -> list[Mark]:
    """Holes in the union of the periods, after the first one; the last runs to the end if no master is left."""
    marks: list[Mark] = []
    reach = None
    changes = {(e.to, e.time): e for e in events if e.key == g.key and e.kind == "master-changed"}
    for p in periods:
        if reach is not None and p.start - reach > MIN_GAP:
            closing = changes.get((p.member, p.start))
            marks.append(Mark(g.key, "gap", reach, p.start, closing.gap if closing else p.start - reach,
                              closing.expected if closing else None))
        reach = p.end if reach is None else max(reach, p.end)
    if reach is not None and g.master is None and end_of_capture is not None and end_of_capture > reach:
        down = next((e for e in reversed(events) if e.key == g.key and e.kind == "master-down"), None)
        marks.append(Mark(g.key, "gap", reach, end_of_capture, None, down.expected if down else None))
    return marks


def _splits(key: GroupKey, periods: list[Period]) -> list[Mark]:
    """Where two or more periods overlap: two members advertise as master at once."""
    edges = sorted([(p.start, 1, p.member) for p in periods] + [(p.end, -1, p.member) for p in periods],
                   key=lambda x: (x[0], -x[1]))  # a handover at one instant is no overlap
    marks: list[Mark] = []
    active: list[str] = []
    since = None
    for t, step, member in edges:
        if step > 0:
            active.append(member)
            if len(active) == 2:
                since = t
        else:
            if len(active) == 2 and since is not None and t > since:
                marks.append(Mark(key, "split", since, t, members=tuple(active)))
            if member in active:
                active.remove(member)
    return marks


# -- the time scale -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Stretch:
    """A piece of the time axis; a `quiet` one is drawn at a fixed width, whatever its length."""

    start: float
    end: float
    quiet: bool


def moments(lanes: list[Lane], events, findings) -> list[float]:
    """Every time something happened: events, findings, the ends of periods and marks."""
    times = [e.time for e in events] + [f.time for f in findings if f.time is not None]
    for lane in lanes:
        times += [t for p in lane.periods for t in (p.start, p.end)]
        times += [t for m in lane.marks for t in (m.start, m.end)]
    return sorted(times)


def stretches(first: float | None, last: float | None, times: list[float]) -> list[Stretch]:
    """The capture cut at its quiet stretches: longer than QUIET_MIN and QUIET_SHARE of the capture,
    with CONTEXT seconds kept next to what happened on either side."""
    if first is None:
        return [Stretch(0.0, MIN_SPAN, False)]
    last = last if last is not None and last > first else first + MIN_SPAN
    inside = sorted({first, last, *(t for t in times if first <= t <= last)})
    threshold = max(QUIET_MIN, QUIET_SHARE * (last - first))
    if not any(first + CONTEXT < t < last - CONTEXT for t in inside):
        return [Stretch(first, last, False)]  # nothing happened but the capture: nothing to zoom on
    out: list[Stretch] = []
    start = first
    for a, b in itertools.pairwise(inside):
        if b - a > threshold:
            if a + CONTEXT > start:
                out.append(Stretch(start, a + CONTEXT, False))
            out.append(Stretch(a + CONTEXT, b - CONTEXT, True))
            start = b - CONTEXT
    out.append(Stretch(start, last, False))
    return out


class Scale:
    """Time to a position in [0, width]: quiet stretches get `quiet` each, the rest shares what is left."""

    def __init__(self, pieces: list[Stretch], width: float, quiet: float):
        self.pieces, self.width = pieces, width
        n_quiet = sum(p.quiet for p in pieces)
        quiet = min(quiet, 0.3 * width / n_quiet) if n_quiet else 0.0
        busy = sum(p.end - p.start for p in pieces if not p.quiet) or MIN_SPAN
        per_second = (width - quiet * n_quiet) / busy
        self.spans: list[tuple[Stretch, float, float]] = []  # (piece, x0, x1)
        x = 0.0
        for p in pieces:
            size = quiet if p.quiet else (p.end - p.start) * per_second
            self.spans.append((p, x, x + size))
            x += size
        self.per_second = per_second

    @property
    def start(self) -> float:
        return self.pieces[0].start

    @property
    def end(self) -> float:
        return self.pieces[-1].end

    def x(self, t: float) -> float:
        """The position of time t (clamped to the capture)."""
        for p, x0, x1 in self.spans:
            if t <= p.end:
                if t <= p.start:
                    return x0
                return x0 + (x1 - x0) * (t - p.start) / ((p.end - p.start) or 1.0)
        return self.width

    def t(self, x: float) -> float:
        """The time at position x (the inverse of `x`)."""
        for p, x0, x1 in self.spans:
            if x <= x1:
                if x1 <= x0:
                    return p.start
                return p.start + (p.end - p.start) * (max(x, x0) - x0) / (x1 - x0)
        return self.end


# Tick steps in seconds, from milliseconds to weeks.
STEPS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800,
         3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)


def ticks(scale: Scale, spacing: float) -> list[tuple[float, float]]:
    """(time, x) of round UTC times at least `spacing` apart in each stretch that is not quiet."""
    out: list[tuple[float, float]] = []
    for p, x0, x1 in scale.spans:
        if p.quiet or x1 <= x0:
            continue
        step = step_for(spacing / scale.per_second)
        t = math.ceil(p.start / step - 1e-9) * step
        while t <= p.end + 1e-9:
            x = scale.x(t)
            if not out or x - out[-1][1] >= spacing * 0.999:
                out.append((t, x))
            t += step
    return out


def step_for(seconds: float) -> float:
    """The smallest round step of at least `seconds`."""
    return next((s for s in STEPS if s >= seconds), STEPS[-1] * math.ceil(seconds / STEPS[-1]))


def duration(seconds: float) -> str:
    """A length the way people say it: 4.69s, 12min, 3h 20min, 2d 4h."""
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes}min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes}min" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"
