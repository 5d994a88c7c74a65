"""Who heard whom: per group, each member's adverts counted at every vantage point (issue 15).

With captures from two points or more (`read fw1=fw1.pcap fw2=fw2.pcap`), an advert
seen at one point and not at another that was capturing then did not reach that
point. When a member's adverts stop reaching a point (MISSED_RUN in a row) while
that point's own member still reaches the sender's point, that is one-way loss:
IGMP snooping, a vSwitch security policy, an ACL. A one-node capture cannot prove it.

A point is a member's own (the capture was taken on its interface) when adverts of
that member are seen there and nowhere else: its adverts leave from there. The point
where that happened most often wins, so one copy that arrived too late to be folded
(live streams) does not decide it.

A miss counts only once the point shows a later frame: a capture that ended or had
not begun misses nothing. Pure, bounded: no I/O, no clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from carpscope import findings as k
from carpscope.model import Finding, Severity

MISSED_RUN = 3  # adverts in a row not seen at a capturing point: the direction stopped
GROUPS_MAX = 256
MEMBERS_MAX = 32  # per group
POINTS_MAX = 16


def clock(t: float) -> str:
    """HH:MM:SS UTC, the way the finding's text names the moment (Unix time has no leap seconds)."""
    if not math.isfinite(t):
        return "?"
    day = int(t) % 86400
    return f"{day // 3600:02d}:{day % 3600 // 60:02d}:{day % 60:02d}"


@dataclass
class Direction:
    """One member's adverts at one point: heard, missed, and the run of misses now."""

    heard: int = 0
    missed: int = 0
    pending: int = 0  # misses not yet confirmed (the point has shown no later frame)
    pending_first: tuple[float, int] | None = None
    pending_last: float = 0.0
    run: int = 0  # confirmed misses in a row
    run_first: tuple[float, int] | None = None  # (time, frame) of the first advert of the run
    stopped: tuple[float, int] | None = None  # the run that made it a loss
    healed: float | None = None
    finding: Finding | None = None


@dataclass
class _Group:
    key: tuple  # (proto, id, family, vlan)
    members: dict  # addr -> {point: Direction}
    own: dict  # addr -> point
    alone: dict = field(default_factory=dict)  # addr -> {point: adverts seen there only}


class Reach:
    """Counts, per group and member, where its adverts were seen; raises one-way-loss."""

    def __init__(self, points: list[str]):
        self.points = list(points)[:POINTS_MAX]
        self.started: dict[str, float] = {}
        self.groups: dict[tuple, _Group] = {}
        self._waiting: dict[str, set] = {}  # point -> directions with unconfirmed misses
        self.losses = 0  # directions that stopped, ever
        self._stopped: set = set()  # (group key, member, point) of every direction that stopped

    def saw(self, point: str, time: float) -> list[Finding]:
        """A frame captured at `point`: it was capturing, so the misses before `time` count."""
        if point not in self.points:
            if len(self.points) >= POINTS_MAX:
                return []
            self.points.append(point)
        self.started.setdefault(point, time)
        waiting = self._waiting.get(point)
        if not waiting:
            return []
        out = []
        for g, addr in list(waiting):
            d = self.groups[g].members[addr][point]
            if d.pending and d.pending_last < time:
                waiting.discard((g, addr))
                out += self._confirm(self.groups[g], addr, point, d)
        return out

    def observe(self, record) -> list[Finding]:
        """A decoded advert with the points that saw it (record.seen_at)."""
        if not record.seen_at or record.version is None:
            return []
        g = self._group(record)
        if g is None:
            return []
        addr = record.src
        if addr not in g.members:
            if len(g.members) >= MEMBERS_MAX:
                return []
            g.members[addr] = {}
        dirs = g.members[addr]
        seen = record.seen_at
        if len(seen) == 1 and self._capturing(record.time, seen[0]) >= 2:
            votes = g.alone.setdefault(addr, {})
            votes[seen[0]] = votes.get(seen[0], 0) + 1
            g.own[addr] = max(votes, key=votes.__getitem__)
        out = []
        for point in self.points:
            d = dirs.get(point)
            if d is None:
                d = dirs[point] = Direction()
            if point in seen:
                out += self._heard(g, addr, point, d, record.time)
            elif point in self.started and self.started[point] <= record.time:
                d.pending += 1
                d.pending_last = record.time
                if d.pending_first is None:
                    d.pending_first = (record.time, record.frame)
                self._waiting.setdefault(point, set()).add((g.key, addr))
        return out

    def _capturing(self, t: float, point: str) -> int:
        return sum(1 for p, start in self.started.items() if start <= t)

    def _group(self, record) -> _Group | None:
        key = (record.proto, record.id, record.family, tuple(record.vlan))
        g = self.groups.get(key)
        if g is None:
            if len(self.groups) >= GROUPS_MAX:
                return None
            g = self.groups[key] = _Group(key, {}, {})
        return g

    def _heard(self, g: _Group, addr: str, point: str, d: Direction, t: float) -> list[Finding]:
        d.heard += 1
        d.pending, d.pending_first = 0, None  # misses between two heard ones, unconfirmed: a gap, no loss
        d.run, d.run_first = 0, None
        if d.stopped is None or d.healed is not None:
            return []
        d.healed = t
        d.finding = self._finding(g, addr, point, d)
        return [d.finding]

    def _confirm(self, g: _Group, addr: str, point: str, d: Direction) -> list[Finding]:
        d.missed += d.pending
        d.run += d.pending
        d.run_first = d.run_first or d.pending_first
        d.pending, d.pending_first = 0, None
        if d.run < MISSED_RUN or (d.stopped is not None and d.healed is None):
            return []
        if d.stopped is not None and d.healed is not None:
            d.healed = None  # it stopped again
        d.stopped = d.run_first
        self.losses += 1
        self._stopped.add((g.key, addr, point))
        d.finding = self._finding(g, addr, point, d)
        return [d.finding]

    def _finding(self, g: _Group, addr: str, point: str, d: Direction, severity: Severity | None = None) -> Finding:
        proto, id_, family, vlan = g.key
        assert d.stopped is not None  # a finding is only worded for a direction that stopped
        start, frame = d.stopped
        source = g.own.get(addr) or addr
        back = self.member_at(g, point)
        text = f"adverts from {addr} stopped reaching {point} at {clock(start)}"
        if back is not None and g.members[back].get(source) is not None and self._reaching(g, back, source):
            text += f"; {point}'s own adverts still reach {source}: one-way loss from {source} to {point}"
        else:
            text += f": loss from {source} to {point}"
        if d.healed is not None:
            text += f"; they reach it again from {clock(d.healed)}"
        return Finding(k.ONE_WAY_LOSS, severity or k.SEVERITY[k.ONE_WAY_LOSS], text, frame, start, proto, id_,
                       family, vlan, (addr,), point)

    def refresh(self) -> list[Finding]:
        """Losses whose wording changed since they were raised (the way back became known)."""
        out = []
        for key, addr, point in self._stopped:
            g = self.groups[key]
            d = g.members[addr][point]
            again = self._finding(g, addr, point, d)
            if again.detail != d.finding.detail:
                d.finding = again
                out.append(again)
        return out

    def _reaching(self, g: _Group, addr: str, point: str) -> bool:
        d = g.members[addr].get(point)
        return d is not None and d.heard > 0 and (d.stopped is None or d.healed is not None)

    def member_at(self, g: _Group, point: str) -> str | None:
        """The member whose own point this is, if known (or the one member and point left over)."""
        found = next((a for a, p in g.own.items() if p == point), None)
        if found is not None:
            return found
        members = [a for a in g.members if a not in g.own]
        points = [p for p in self.points if p not in g.own.values()]
        return members[0] if len(members) == 1 and points == [point] else None

    def explains(self, finding: Finding) -> Finding | None:
        """The one-way loss between the two members of a split-brain finding, if there is one."""
        key = (finding.proto, finding.id, finding.family, tuple(finding.vlan))
        g = self.groups.get(key)
        if g is None:
            return None
        for addr in finding.members:
            for point, d in g.members.get(addr, {}).items():
                if d.finding is None or d.stopped is None:
                    continue
                other = self.member_at(g, point)
                if other is None or other in finding.members:
                    return d.finding
        return None

    def hearing(self) -> list[tuple[tuple, str, list[tuple[str, int, int]]]]:
        """(group key, member, [(point, heard, missed)]) for the report and the dashboard."""
        out = []
        for key, g in self.groups.items():
            for addr, dirs in g.members.items():
                out.append((key, addr, [(p, d.heard, d.missed) for p, d in dirs.items()]))
        return out
