"""Follows every group's master elections from the adverts on the wire.

Only masters advertise (docs/protocol.md §4), so the master is whoever advertises; a
second source advertising the same group is a takeover in progress, a momentary
master, or a split brain, and the tracker waits until the wire tells which. Time is
an argument (docs/design.md, principle 2): `observe` and `advance` say what time it is,
`next_deadline` says when something would next fall due.

How a change is told apart (every threshold is one master-down time D of the group,
see timers.Timers.silence):

* master-down: the master has been silent for D and nobody else advertises;
  the event's time is its last advert + D.
* master-changed: a newcomer advertises and the old master has stopped (silent for
  D, or it sent a goodbye). The event's time is the newcomer's first advert.
* split-brain-started: the old master and the newcomer both kept advertising for
  more than D after the newcomer's first advert; split-brain-ended when only one
  source is left.

The group's phase and its transitions are in phase.py; sources and groups in
members.py; D and the deadline heap in timers.py; a repeat of the steady state in
steady.py, and a flapping group's usual master change in flap.py; each diagnostic in its own
module (counters, consistency, identities, demotion, flapping, split, limits),
returning its findings. This module decides, advert by advert, which transition
the wire shows.
"""

from __future__ import annotations

import heapq

from carpscope import findings as k
from carpscope.election import causes, consistency, counters, demotion, flapping, identities, phase, rules, split
from carpscope.election import events as ev
from carpscope.election.events import Event, Snapshot
from carpscope.election.flap import Flaps
from carpscope.election.limits import GROUPS_MAX, MEMBERS_MAX, MEMBERS_TOTAL, Limits
from carpscope.election.members import (
    COUNTER_MEMORY,
    FLAP_MEMORY,
    Group,
    Source,
    Steady,
    by_first,
    tid,
)
from carpscope.election.rules import Timing
from carpscope.election.steady import Repeats
from carpscope.election.timers import TAKEOVER_GRACE, Timers  # (TAKEOVER_GRACE: read by tests here)
from carpscope.election.values import clues, diff, group_state
from carpscope.model import CarpAdvert, Finding, VrrpAdvert

__all__ = ["COUNTER_MEMORY", "END_MISSED", "FLAP_MEMORY", "GROUPS_MAX", "MEMBERS_MAX", "MEMBERS_TOTAL",
           "TAKEOVER_GRACE", "Tracker"]  # (the limits and memories are read by tests)

END_MISSED = 1.5  # at the end of a capture, silent for 1.5 intervals while another advertises = stopped

class Tracker(Repeats, Flaps):
    """Elections of every group seen, from records fed in capture order (their repeats: steady.Repeats,
    a flapping group's master changes: flap.Flaps)."""

    def __init__(self, timing: Timing = Timing.AUTO):
        self.timing = timing
        self._groups: dict[tuple, Group] = {}  # by (proto, id, family, vlan)
        self._timers = Timers(timing, self._groups)
        # The timers' heap of (deadline, group, member), earliest first: `due` without a call
        # for the pipeline's repeat fast path (`deadlines and deadlines[0][0] <= now`).
        self.deadlines = self._timers.heap
        self._limits = self.limits = Limits()  # (limits.refused: the pipeline's, see Limits)
        self._now: float | None = None

    # -- public API ---------------------------------------------------------------

    def observe(self, record, now: float) -> list[Event | Finding]:
        """What one record changes: timeouts due before it, then its own events and findings."""
        if not isinstance(record, (CarpAdvert, VrrpAdvert)) or not rules.usable(record):
            return self.advance(now)
        t = record.time
        out = self._until(t)
        key = (record.proto, record.id, record.family, tuple(record.vlan))  # (members.tid, inlined)
        g = self._groups.get(key)
        m = None if g is None else g.members.get(record.src)
        found: list[Finding] = []
        if m is None:
            admitted, said = self._limits.admit(self._groups, g, record, key)
            if not admitted:  # (past a cap: a left-out sender's second advert, a VRRP flood's every one)
                return self._left(out, said, t, now)
            found = list(said)
            if g is None:
                g = self._groups[key] = Group(key)
                found += identities.collisions(g, self._groups, record)
            m = g.members[record.src] = Source(record)
            self._limits.added(self._groups, g)
            changed, happened, learnt = self._learn(g, m, record, True)
        else:
            changed, happened, learnt = self._learn(g, m, record, False)
        out += happened
        if g.last_advert is None or t > g.last_advert:
            g.last_advert = t
        if changed or g.dirty:  # new parameters, or a stack clue that changes its timer
            g.enlist(m, self._timers.down)
            g.dirty = True
        g.latest = m
        elected, decided = self._elect(g, m, record)
        g.latest = None
        self._timers.reschedule(g, m)
        out += elected + found + learnt + decided
        if now > t:
            out += self.advance(now)
        return out

    def leave_out(self, record, now: float) -> list | None:
        """What `observe(record, now)` returns when a cap leaves the advert out at once (Limits.refuses),
        having counted it; None when it may be tracked: then verify it and `observe` it.

        Asked before a CARP advert is verified: one that no group tracks is not worth its
        signature check (issue 20: past the caps, every frame of a forged flood comes here).
        """
        if not self._limits.reached or not rules.usable(record):
            return None
        key = (record.proto, record.id, record.family, tuple(record.vlan))  # (members.tid, inlined)
        g = self._groups.get(key)
        if (g is not None and record.src in g.members) or not self._limits.refuses(self._groups, g, record, key):
            return None
        t = record.time
        out = self._until(t)
        return self._left(out, self._limits.admit(self._groups, g, record, key)[1], t, now)  # (counted)

    def _until(self, t: float) -> list:
        """Before an advert at t: the timeouts due (past TAKEOVER_GRACE), and the tracker's clock at t."""
        heap = self.deadlines  # (`advance` is called only when a timeout may be due: issue 20)
        out = self.advance(t) if heap and heap[0][0] + TAKEOVER_GRACE <= t else []
        if self._now is None or t > self._now:  # (as in `advance`)
            self._now = t
        return out

    def _left(self, out: list, said, t: float, now: float) -> list:
        """What `observe` says of an advert a cap left out: `out` (timeouts before it), limit-reached
        the first time (`said`), the timeouts due by `now`."""
        if said:
            out += said
        return out + self.advance(now) if now > t else out

    def steady(self, r) -> Steady | None:
        """What `repeat` needs to take `r`'s repeats, `r` being the advert just observed; None if untracked."""
        g = self._groups.get((r.proto, r.id, r.family, tuple(r.vlan)))  # (members.tid, inlined)
        m = None if g is None else g.members.get(r.src)
        if g is None or m is None or m.record is not r:
            return None
        return Steady(r, g, m)  # (m may have stopped: `repeat` then says None, `again` takes a flap)

    def rejudge(self, r: CarpAdvert) -> bool:
        """r's sender verifies with a configuration that also signed its earlier "bad" adverts.

        They failed only for want of the whole VIP set: its member verdict is "ok"
        again (the caller knows the signatures; see Pipeline._rejudge).
        """
        g = self._groups.get(tid(r))
        m = g.members.get(r.src) if g is not None else None
        if m is None or "bad" not in m.verdicts:
            return False
        m.verdicts.discard("bad")
        m.bad_run = 0
        return True

    def due(self, now: float) -> bool:
        """Cheap: might `advance(now)` conclude something? (False is certain.)"""
        heap = self.deadlines
        return bool(heap) and heap[0][0] <= now

    def advance(self, now: float) -> list[Event | Finding]:
        """Timeouts that fell due by `now`: master-down, takeovers and split brains that ended."""
        out: list = []
        timers, heap = self._timers, self._timers.heap
        while heap and heap[0][0] + TAKEOVER_GRACE <= now:  # (`take` only moves entries later)
            at, tid, addr = heap[0]
            g = self._groups[tid]
            m = g.members.get(addr)
            if m is not None and m.due == at and m.active and g.silence is not None and m.last + g.silence == at:
                heapq.heappop(heap)  # Timers.take's usual case, inlined: the top entry is its member's deadline
                m.due = None
            else:
                taken = timers.take(now, TAKEOVER_GRACE)  # (Timers.top, then Timers.pop if due)
                if taken is None:
                    break
                g, m, at = taken
            if g.master == m.addr and not g.contenders and not g.dirty:
                # _drop's usual case, inlined (a flapping group's every advert): the master stopped
                # and nobody else advertises; D is not dirty, so Timers.reschedule only forgets it.
                m.active = False
                out.append(self._master_down(g, m, at))
                g.silence = None
            else:
                out += self._drop(g, m, at)
        if self._now is None or now > self._now:
            self._now = now
        return out

    def next_deadline(self) -> float | None:
        """The earliest time at which `advance` would conclude something, or None."""
        top = self._timers.top()
        return None if top is None else top[0] + TAKEOVER_GRACE

    def finish(self, now: float) -> list[Event | Finding]:
        """End of capture: timeouts due by `now`, then takeovers the capture ended too early to time out.

        A source counts as stopped when it has missed an advert (silent for 1.5 of its
        intervals) while another source of its group went on advertising; a lone
        master is never declared down here, since nobody can tell it from the end of
        the capture.
        """
        out = self.advance(now)
        groups = self._groups
        for key in sorted(groups):  # (the keys alone: 4,096 groups of one member each end a hostile capture)
            g = groups[key]
            members = g.members
            for m in members.values() if len(members) == 1 else sorted(members.values(), key=by_first):
                if m.demotion is not None:  # (demotion.at_end's test, without its call)
                    out += demotion.at_end(g, m, now)
            if g.master is None or not g.contenders:
                continue
            active = g.advertising()
            stopped = [m for m in active if now - m.last > END_MISSED * rules.interval(m.params)]
            if len(stopped) < len(active):
                for m in sorted(stopped, key=lambda m: (m.last, m.addr)):
                    if m.active and g.master is not None:  # (a drop may have left the group without one)
                        out += self._drop(g, m, now)
        return out + self._limits.findings()

    def snapshot(self) -> Snapshot:
        """Every group as it stands, for views; immutable."""
        return Snapshot(time=self._now, groups=tuple(group_state(self._groups[key]) for key in sorted(self._groups)))

    # -- time -----------------------------------------------------------------------

    # -- learning from one advert --------------------------------------------------

    def _learn(self, g: Group, m: Source, r, new: bool) -> tuple[bool, list[Event] | tuple, list[Finding]]:
        """Update the member: whether its parameters changed, the events and the findings that causes."""
        happened: list[Event] | tuple = ()  # (a list only for a parameters-changed: rare)
        prev = None if new else m.record
        m.prev_last = None if new else m.last
        m.adverts += 1
        if r.src_mac and r.src_mac != m.mac:
            m.mac, m.timing = r.src_mac, None  # (its stack, so its timer, may differ: Timers.timing_of)
        if r.time >= m.last:
            m.last, m.last_frame = r.time, r.frame
        m.record = r
        m.bye = bye = rules.resigns(r)  # (asked of the latest advert up to seven times a master change)
        changed = new
        if clues(m, r):
            g.dirty = True  # its stack, and so its timer, may have changed
        if not bye:
            normal = m.normal
            if normal is not None and not rules.same(normal, r):
                happened = [g.event(r.time, r.frame, ev.PARAMETERS_CHANGED, to=m.addr,
                                    detail=f"{m.addr}: {diff(normal, r)}")]
                changed = True
            elif normal is not None:
                kept = m.down_for
                if kept is not None and kept[0] is normal:  # the same parameters: Timers.down's time holds for r
                    m.down_for = (r, kept[1], kept[2])
            changed = changed or normal is None
            m.normal = r
        if r.hmac == "ok":
            m.verdicts.discard("unverified")  # it could not be checked before; now it is (re-judged)
        if r.hmac != "unverified" or "ok" not in m.verdicts:
            m.verdicts.add(r.hmac)
        if isinstance(r, CarpAdvert):
            identity, found = identities.signed(g, m, r)
            found += demotion.check(g, m, r) + counters.check(g, m, r, prev)
        else:
            identity, found = False, []
            m.vips, m.vips_from = tuple(r.addresses), "advert"
        if identity:
            found += identities.check(g, r)
        if changed and (k.VHID_COLLISION, None) not in g.raised:  # two clusters' settings are not comparable
            if len(g.members) > 1:
                found += consistency.check(g, r)
            else:
                g.count(m)  # (alone, nothing to compare: consistency.check would only count it)
        return changed, happened, found

    # -- elections: which transition (phase.py) the advert shows --------------------

    def _elect(self, g: Group, m: Source, r) -> tuple[list, list[Finding]]:
        """Only masters advertise: a first advert crowns, a second source waits as a contender."""
        if not m.active:
            m.active = True
            m.run_start, m.run_frame, m.run_record = r.time, r.frame, r
        if g.master is None:
            return self._elect_without_master(g, m)
        if g.master == m.addr:
            if g.contenders and m.bye:
                return self._drop(g, m, r.time), []  # a goodbye with a successor already advertising
            return split.start(g, self._timers.silence(g)) if g.contenders else ([], [])
        master = g.members[g.master]
        if m.addr not in g.contenders:
            if self._takes_over(g, master, m, r):
                master.active = False
                return self._change(g, master, m)
            phase.contend(g, m)
        return split.start(g, self._timers.silence(g))

    def _elect_without_master(self, g: Group, m: Source) -> tuple[list, list[Finding]]:
        """NO_MASTER → MASTER: the first advert, the old master back, or a newcomer after master-down."""
        previous = phase.recall(g)
        if previous is None:
            phase.crown(g, m)
            return [g.event(m.run_start, m.run_frame, ev.MASTER_ELECTED, to=m.addr,
                            detail=f"{m.addr} advertises ({rules.describe(m.params)})")], []
        if previous is m:
            gap = max(0.0, m.run_start - (m.prev_last if m.prev_last is not None else m.run_start))
            phase.crown(g, m)
            event = g.event(m.run_start, m.run_frame, ev.MASTER_ELECTED, to=m.addr, gap=gap,
                            detail=f"{m.addr} advertises again after {gap:.2f}s of silence")
            return [event], flapping.check(g, event)
        return self._change(g, previous, m)

    def _takes_over(self, g: Group, master: Source, m: Source, r) -> bool:
        """Is a newcomer's advert a takeover at once, rather than a contender to wait on?"""
        if master.bye and master.last <= m.run_start:
            return True  # it said goodbye: no need to wait for its silence
        if not g.contenders and g.silence is not None and master.last + g.silence <= r.time:
            return True  # the master's timeout was due (within TAKEOVER_GRACE): this advert is the takeover
        # RFC 3768/5798 §6.4.3: a master hearing a higher priority goes Backup at once, so
        # the change is this frame's; if it goes on advertising it is a contender anew.
        return g.key.proto == "vrrp" and not g.contenders and bool(rules.beats(r, master.record))

    def _change(self, g: Group, old: Source, new: Source) -> tuple[list[Event], list[Finding]]:
        """master-changed old → new, with its cause (docs/design.md causes)."""
        gap = new.run_start - old.last
        gap = gap if gap > 0.0 else 0.0  # (max(0.0, gap) without the call: a flapping group changes every advert)
        run = new.run_record
        first = new.params if (new.bye if run is new.record else rules.resigns(run)) else run
        before = old.normal or old.record  # (old.params, without the property's call)
        expected = (self._timers.down(new, before) if first is new.normal else  # (kept for `silence`)
                    rules.master_down(first, before, self._timers.timing_of(new)))
        cause, why, found = causes.cause(g, old, new, first, gap, expected)
        phase.take_over(g, new)
        timed = cause in (ev.MASTER_SILENT, ev.UNKNOWN)
        event = g.event(new.run_start, new.run_frame, ev.MASTER_CHANGED, from_=old.addr, to=new.addr, cause=cause,
                        gap=gap, expected=expected if timed else None, detail=why)
        if cause == ev.MASTER_SILENT:
            found += flapping.slow_failover(g, old, new, first, gap, expected)
        return [event], found + flapping.check(g, event)

    def _drop(self, g: Group, m: Source, at: float) -> list:
        """`m` has stopped advertising (silent for D, or judged so at the end of the capture)."""
        out: list = []
        m.active = False
        found: list[Finding] = []
        if g.master == m.addr:
            if g.contenders:
                heir = phase.heir(g)
                in_split = phase.withdraw(g, heir)
                successor = g.members[heir]
                if in_split:
                    phase.crown(g, successor)
                    out += self._maybe_end(g, m, successor)
                else:
                    changed, found = self._change(g, m, successor)
                    out += changed
            else:
                out.append(self._master_down(g, m, at))
        elif m.addr in g.contenders:
            master = g.members[g.master]
            if phase.withdraw(g, m.addr):
                out += self._maybe_end(g, m, master)
            elif at - master.last > END_MISSED * rules.interval(master.params):
                # The master stopped after this newcomer's first advert (it would have expired
                # first otherwise): it handed over to the newcomer, which has now stopped too.
                master.active = False
                changed, found = self._change(g, master, m)
                out += changed
                out.append(self._master_down(g, m, at))
        self._timers.reschedule(g)
        return out + found

    def _master_down(self, g: Group, m: Source, at: float) -> Event:
        """`m`, the last master, has stopped and nobody took over: the group has none."""
        g.master = g.master_since = g.master_start = None  # (phase.depose, inlined: a flap's every other advert)
        g.previous = m.addr
        if m.bye:
            detail = f"{m.addr} said goodbye and no backup took over"
        else:  # (worded once for its D: a flapping group's every other advert)
            said = m.said
            if said is None or said[0] != g.silence:
                said = m.said = (g.silence, f"{m.addr} silent for {g.silence:.2f}s and no backup took over")
            detail = said[1]
        proto, id_, family, vlan = g.tid  # (g.event's, without its layer: a flap's every other advert)
        return (Group._build_event or Group.builder())(at, m.last_frame, proto, id_, ev.MASTER_DOWN, family, vlan,
                                                       m.addr, None, None, None, g.silence, detail)

    def _maybe_end(self, g: Group, gone: Source, survivor: Source) -> list[Event]:
        if not phase.heal(g):
            return []
        return [g.event(gone.last, gone.last_frame, ev.SPLIT_BRAIN_ENDED, from_=gone.addr, to=survivor.addr,
                        detail=f"{gone.addr} stopped advertising; {survivor.addr} remains master")]
