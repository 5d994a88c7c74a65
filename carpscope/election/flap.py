"""A flapping group's usual advert, without the full `observe` (issue 20).

In a group whose members take turns, every advert is a master change: the master's
timer ran out (master-down), and a known member, sending what it sent last time,
takes over. `Flaps.again` takes such an advert straight to its master-changed:
the member, its counters and the group move as `Tracker.observe` would move them,
with the same events and findings in the same order (tests/test_flap.py compares
both ways), but without the lookups, the checks that cannot find anything new in a
repeat of the member's latest advert, and the layers between. Any other shape goes
to `observe`. A base class of the tracker, like steady.Repeats.
"""

from __future__ import annotations

from carpscope.election import counters, demotion, flapping, identities
from carpscope.election import events as ev
from carpscope.election.causes import TIMER_SHARE, cause, silent
from carpscope.election.members import Group, Source, Steady
from carpscope.election.rules import DEMOTED_ADVSKEW
from carpscope.election.timers import TAKEOVER_GRACE, Timers
from carpscope.model import CarpAdvert


class Flaps:
    """Tracker.again: a repeat of a member's latest advert that `repeat` could not take."""

    _timers: Timers
    _now: float | None
    deadlines: list

    def observe(self, record, now: float) -> list:  # (Tracker.observe)
        raise NotImplementedError

    def advance(self, now: float) -> list:  # (Tracker.advance)
        raise NotImplementedError

    def again(self, steady: Steady, r, now: float, key: tuple | None) -> list:
        """What `observe(r, now)` returns, `r` being steady.record again with a new frame, time and
        (CARP) key (counter, md), and the same verdict. Afterwards steady.record is `r` when the
        member's latest advert is `r` (steady still plans its repeats).
        """
        g, m = steady.group, steady.member
        t = r.time
        heap = self.deadlines
        previous = g.previous
        old = g.members.get(previous) if previous is not None and previous != m.addr else None  # (phase.recall's)
        # The flap: the member's latest advert again (so every clue, parameter and verdict it
        # carries is known), from a member that stopped, in a group whose master was declared
        # down by another member's timer, nothing else due.
        if (old is None or m.record is not steady.record or m.active or g.master is not None or g.contenders
                or m.normal is not m.record or t < m.last or (heap and heap[0][0] + TAKEOVER_GRACE <= t)):
            out = self.observe(r, now)
            if m.record is r:
                steady.record = r
            return out
        if self._now is None or t > self._now:
            self._now = t
        learnt = self._relearn(g, m, r, key, steady.window)
        if g.last_advert is None or t > g.last_advert:
            g.last_advert = t
        if g.dirty:  # (as in observe: a stack clue moved its timer)
            g.enlist(m, self._timers.down)
        # _elect and _elect_without_master: the old master was declared down (phase.succeed, in _takeover).
        m.active = True
        m.run_start, m.run_frame, m.run_record = t, r.frame, r
        out = self._takeover(g, old, m, r, learnt)  # (its master-changed, then learnt, then its findings)
        steady.record = r
        if now > t:
            out += self.advance(now)
        return out

    def _relearn(self, g: Group, m: Source, r, key: tuple | None, window: float) -> list:
        """Tracker._learn for a repeat of m's latest advert, not a goodbye: only what can move.

        Its clues, MAC, parameters and goodbye are those of the advert before it, so
        values.clues, rules.same and rules.resigns would find nothing new.
        """
        prev = m.record
        m.prev_last = m.last
        m.adverts += 1
        m.last, m.last_frame = r.time, r.frame
        m.record = r
        kept = m.down_for
        if kept is not None and kept[0] is prev:  # the same parameters: Timers.down's time holds for r
            m.down_for = (r, kept[1], kept[2])
        m.normal = r
        hmac = r.hmac
        if hmac == "ok":
            m.verdicts.discard("unverified")
        if hmac != "unverified" or "ok" not in m.verdicts:
            m.verdicts.add(hmac)
        if not isinstance(r, CarpAdvert):
            m.vips, m.vips_from = tuple(r.addresses), "advert"
            return []
        # identities.signed: the same verdict as the advert before changes nothing (not the identity, so
        # identities.check has nothing to say; any finding it raises is raised) but a failure's count.
        found = identities.signed(g, m, r)[1] if hmac == "bad" else []
        # demotion.check: an advert not demoted only notes that it was not (noted by the one before).
        if m.demotion is not None or r.demote or r.advskew == DEMOTED_ADVSKEW:
            found += demotion.check(g, m, r)
        # counters.check: OpenBSD's constant counter back after more than half an interval is
        # only remembered again (the latest key stays the latest); anything else is checked.
        if key is not None and key == m.last_key and m.adverts > 2 and r.time - m.last_key_time >= window:
            m.counters[key] = m.last_key_time = r.time
            m.last_key = key  # (equal; this object is the pipeline's, which Repeats.repeat compares by identity)
        else:
            found += counters.check(g, m, r, prev)
        return found

    def _takeover(self, g: Group, old: Source, new: Source, r, learnt: list) -> list:
        """Tracker._change for `new` taking over with its advert `r`, not a goodbye: its cause is
        worked out here in the usual case (master-silent), by causes.cause otherwise. Returns its
        master-changed, what `_relearn` found (`learnt`), then what the change raised."""
        gap = new.run_start - old.last
        gap = gap if gap > 0.0 else 0.0
        timers = self._timers
        expected = timers.down(new, old.normal or old.record)  # (new.normal is r: Timers.down keeps it)
        if not old.bye and old.last < new.run_start and gap >= TIMER_SHARE * expected:
            why, reason, found = silent(old, new, gap), ev.MASTER_SILENT, learnt
        else:
            reason, why, found = cause(g, old, new, r, gap, expected)
            found = learnt + found
        # phase.succeed (recall and take_over: no contender to withdraw), inlined but for g.dirty, which
        # Timers.reschedule(g, new) clears at once: the new master, alone, is all `advertising` would walk; its
        # own time is `expected` unless a VRRPv3 backup's time depends on the master's interval (Timers.down).
        g.previous = None
        g.master, g.master_since, g.master_start = new.addr, new.run_start, r  # (new.normal is r)
        g.dirty = False
        own = expected if r.proto == "carp" or r.version != 3 else None
        silence: float | None
        if own is not None and len(g.members) == 2:  # Timers.silence(g, own)'s walk: old is the only backup
            other = timers.down(old, r) if old.normal is not None else None
            g.silence = silence = own if other is None or own >= other else other
        else:
            g.silence = silence = timers.silence(g, own)
        if silence is not None and (new.due is None or new.due > new.last + silence):
            timers.push(g, new, new.last + silence)
        timed = reason == ev.MASTER_SILENT or reason == ev.UNKNOWN
        proto, id_, family, vlan = g.tid  # (g.event's, without its layer)
        event = (Group._build_event or Group.builder())(new.run_start, new.run_frame, proto, id_, ev.MASTER_CHANGED,
                                                        family, vlan, old.addr, new.addr, reason, gap,
                                                        expected if timed else None, why)
        if reason == ev.MASTER_SILENT and gap > flapping.SLOW_FACTOR * expected:
            found = found + flapping.slow_failover(g, old, new, r, gap, expected)
        out = [event, *found] if found else [event]
        decided = flapping.check(g, event)
        if decided:
            out += decided
        return out
