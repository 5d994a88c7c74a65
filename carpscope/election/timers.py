"""When each group's master would be declared down: D per group, and one heap of deadlines.

D, the master-down time of a group, is the earliest backup's timer (`silence`);
every advertising member has one heap entry at or before its last advert + D,
moved forward lazily when it surfaces early (`top`). Time is an argument: nothing
here reads a clock.
"""

from __future__ import annotations

import heapq

from carpscope.election import rules
from carpscope.election.members import Group, Source
from carpscope.election.rules import Timing
from carpscope.election.values import openbsd

# A backup's takeover advert leaves just after its master-down timer fires (0.3-3 ms in
# captures/vrrp-collision.pcap): a timeout is concluded only this much after it is due, so a
# takeover on time is a master change, not a master-down followed by one.
TAKEOVER_GRACE = 0.02
_SCAN = 8  # groups up to this many members find their earliest backup by a walk (`silence`)


class Timers:
    """Master-down times of every group, and the heap of (deadline, group key, addr)."""

    def __init__(self, timing: Timing, groups: dict):
        self.timing = timing
        self.groups = groups  # by (proto, id, family, vlan), shared with the tracker
        # (deadline, key, addr): equal deadlines fall due in group and address order,
        # however the entries got there.
        self.heap: list = []

    def push(self, g: Group, m: Source, deadline: float) -> None:
        m.due = deadline
        heapq.heappush(self.heap, (deadline, g.tid, m.addr))

    def reschedule(self, g: Group, who: Source | None = None) -> None:
        """Make sure every active member has a heap entry no later than its deadline.

        An advert moves a member's deadline later, which needs no new entry: the old
        one surfaces early and is moved then (`top`). Only an earlier deadline (a new
        member, or D shrank) pushes one. Only `who` is looked at unless D shrank: a master
        change at the end of a forged flood walked every contender.
        """
        if g.dirty or who is None:
            g.dirty = False
            silence, before = (None if g.master is None else self.silence(g)), g.silence
            if silence != before:
                g.silence = silence
                if before is None or (silence is not None and silence < before):
                    who = None  # D shrank (or is new): deadlines moved earlier, look at everyone
                elif who is None:
                    return  # D grew: every entry is still no later than its deadline (issue 20)
            elif who is None:
                return  # D did not move: every active member's entry still holds
        silence = g.silence
        if silence is None:
            return
        # Only masters and contenders advertise, so only they are active (and need an entry).
        for m in [who] if who is not None else g.advertising():
            if m.active and (m.due is None or m.due > m.last + silence):
                self.push(g, m, m.last + silence)

    def top(self) -> tuple | None:
        """The heap's first entry that is its member's true deadline (last advert + D).

        Entries of members that stopped, or that were superseded, are dropped; an
        entry whose member advertised since is moved to the new deadline.
        """
        return self.take(None, 0.0)

    def take(self, until: float | None, grace: float):
        """The top entry taken off, as (group, member, deadline), if deadline + grace is by `until`; else None.

        `top` and then a pop in one call (a master-down a flap, issue 20); with until None,
        `top` itself: the entry is left on the heap and returned.
        """
        heap = self.heap
        while heap:
            deadline, tid, addr = heap[0]
            g = self.groups[tid]
            m = g.members.get(addr)
            if m is None or m.due != deadline or not m.active or g.silence is None:
                heapq.heappop(heap)  # (None: a member forgotten by limits.evict)
                if m is not None and m.due == deadline:
                    m.due = None
                continue
            true = m.last + g.silence
            if true == deadline:
                if until is None:
                    return heap[0]
                if deadline + grace > until:
                    return None
                heapq.heappop(heap)
                m.due = None
                return g, m, deadline
            m.due = true
            heapq.heapreplace(heap, (true, tid, addr))
        return None

    def silence(self, g: Group, own: float | None = None) -> float | None:
        """D, the master-down time of the group: how long the master may stay silent.

        Backups run their own timers, so the earliest known backup decides; but the
        master is never called silent before it missed three of its own adverts
        (a slower master is an advbase-mismatch, not an outage). With no backup known
        yet, the master's own parameters give a lower bound: backups normally have a
        larger advskew or a lower priority (docs/protocol.md §4.1, RFC 3768 §6.1).
        own: the master's own time, when the caller has just worked it out (a flap, election/flap.py).
        """
        if g.master is None:
            return None
        mm = g.members[g.master]
        master = mm.normal or mm.record  # (mm.params, without the property's call)
        # Its own time is its time as a backup (`down`, kept: a flapping group's members swap roles).
        if own is None:
            own = (self.down(mm, master) if mm.normal is not None else
                   rules.master_down(master, master, self.timing_of(mm)))
        if len(g.members) <= _SCAN:  # a few members: a walk is cheaper than the heaps
            other = None
            for m in g.members.values():
                if m is not mm and m.normal is not None:
                    down = self.down(m, master)
                    if other is None or down < other:
                        other = down
        else:
            other = self._backup_down(g, master)
        return own if other is None or own >= other else other

    def _backup_down(self, g: Group, master) -> float | None:
        """min(down) over the members other than the master: the tops of the backup heaps."""
        best = None
        for m in (g.first_backup(0, g.backups), g.first_backup(1, g.backups3)):
            if m is not None:
                down = self.down(m, master)
                best = down if best is None or down < best else best
        return best

    def down(self, m: Source, master) -> float:
        """rules.master_down of a backup, kept until its parameters change (or, VRRPv3 only, the master's)."""
        normal = m.normal
        if normal.version != 3 or normal.proto != "vrrp":
            master = None  # CARP and VRRPv2 backups time out on their own parameters alone
        kept = m.timing  # (timing_of's own answer, when it holds: read here without a call, three times a flap)
        timing = kept[1] if kept is not None and kept[0] is (len(m.counters) == 1) else self.timing_of(m)
        kept = m.down_for
        if kept is not None and kept[0] is normal and kept[1] is master and kept[2] is timing:
            return m.down
        m.down_for, m.down = (normal, master, timing), rules.master_down(normal, master, timing)
        return m.down

    def timing_of(self, m: Source) -> Timing:
        """The master-down formula `m` runs: --timing, or (auto) its stack's (docs/protocol.md §9.3).

        Every election asks it of the master and the backups (three times an advert in a
        flapping group, issue 20), so the answer is kept on the source, with the one clue
        that changes without a new stack clue (one counter or more); `values.clues` and a
        new MAC forget it. From the second advert on only: the first may not say yet.
        """
        if self.timing is not Timing.AUTO:
            return self.timing
        one = len(m.counters) == 1
        kept = m.timing
        if kept is not None and kept[0] is one:
            return kept[1]
        timing = Timing.OPENBSD if openbsd(m) else Timing.BSD
        if m.adverts >= 2:
            m.timing = (one, timing)
        return timing
