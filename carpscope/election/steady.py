"""The tracker's steady state: a repeat of a member's latest advert, without a new record (issue 19).

Nearly every frame of an advert-dense capture is one: the master saying again what it
said a second ago. `Repeats.repeat` does for it what `Tracker.observe` would, or says
that `observe` must see it. A base class of the tracker, in its own module so that
tracker.py stays within 400 lines; it reads and moves the tracker's state the same way.
"""

from __future__ import annotations

from carpscope import findings as k
from carpscope.election import split
from carpscope.election.members import COUNTER_MEMORY, COUNTER_MOD, Group, Source, Steady
from carpscope.election.timers import Timers


class Repeats:
    """Tracker.repeat and its counter check: the per-advert path of a steady group."""

    _timers: Timers
    _now: float | None

    def repeat(self, steady: Steady, frame: int, t: float, key: tuple | None) -> tuple | None:
        """The advert of `steady` again from an advertising member: the steady state, without a new record.

        The advert is steady.record with another frame, time and (CARP) key (counter, md), the
        same object while they repeat; the caller has advanced time to `t`. Returns what
        `observe` would (nothing: an empty tuple), or None when the advert may change
        something: then `observe` must see it.
        """
        g, m = steady.group, steady.member
        if m.record is not steady.record or not m.active or t < m.last:
            return None
        bad = steady.bad
        if bad and (k.HMAC_FAILED, m.addr) not in g.raised:
            return None  # (a repeat of r failed just as r did: only the count moves)
        if g.contenders:
            if not split.quiet(g, m, t):
                return None
        elif g.master != m.addr:
            return None
        if key is not None:
            counters = m.counters
            if key is m.last_key and m.adverts > 1 and (t - m.last_key_time >= steady.window
                                                        or (k.LOOPED_ADVERT, m.addr) in g.raised):
                counters[key] = t  # OpenBSD's constant counter, or a reported loop: _counter_again, inlined
                m.last_key_time = t
            else:
                if key not in counters:  # a new counter (FreeBSD's, Linux's): Source.remember, inlined
                    counters[key] = t
                    if len(counters) > COUNTER_MEMORY:
                        counters.popitem(False)  # (the oldest; positional: cheaper than last=False)
                elif not self._counter_again(g, m, steady.window, t, key):
                    return None
                m.last_key, m.last_key_time, m.last_counter = key, t, key[0]
        m.last, m.last_frame = t, frame  # (not prev_last: observe sets it before it reads it, in _learn)
        m.adverts += 1
        if bad:
            m.bad_run += 1
        if t > g.last_advert:  # type: ignore[operator]  # (set by the observe that made `steady`)
            g.last_advert = t
        if g.dirty or m.due is None or g.silence is None or m.due > t + g.silence:
            self._timers.reschedule(g, m)
        if t > self._now:  # type: ignore[operator]  # (likewise)
            self._now = t
        return ()

    def _counter_again(self, g: Group, m: Source, window: float, t: float, key: tuple) -> bool:
        """A repeat's (counter, md) was seen before: False when only `observe` may judge it (counters.check).

        Otherwise it is remembered as the latest (Source.remember, but for last_key).
        """
        counters = m.counters
        if key != m.last_key:
            # An older advert again: a replay. Once the sender's replay is reported, its
            # copies change nothing more than counters.check notes (issue 19: a replay
            # storm must not take the slow path on every advert).
            if (k.REPLAYED_ADVERT, m.addr) not in g.raised:
                return False
            if m.last_counter is not None and (m.last_counter + 1) % COUNTER_MOD == key[0]:
                m.seen["counting"] = True
            counters.move_to_end(key)  # (the latest key is the last already)
        # OpenBSD repeats its counter: fine unless it comes back too soon (a loop), and
        # once that loop is reported its copies change nothing more (issue 20).
        elif t - m.last_key_time < window and (k.LOOPED_ADVERT, m.addr) not in g.raised:
            return False
        if len(counters) == 1 and m.adverts == 1:
            g.dirty = True  # a constant counter: OpenBSD, whose timer differs (stack.py)
            g.enlist(m, self._timers.down)  # its place among the backups moves with its timer
        counters[key] = t
        return True
