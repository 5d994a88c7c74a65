"""Follows every group's master elections from the adverts on the wire.

Only masters advertise (PROTOCOL.md §4), so the master is whoever advertises; a
second source advertising the same group is a takeover in progress, a momentary
master, or a split brain, and the tracker waits until the wire tells which. Time is
an argument (DESIGN.md, principle 2): `observe` and `advance` say what time it is,
`next_deadline` says when something would next fall due.

How a change is told apart (every threshold is one master-down time D of the group,
see `_silence`):

* master-down: the master has been silent for D and nobody else advertises;
  the event's time is its last advert + D.
* master-changed: a newcomer advertises and the old master has stopped (silent for
  D, or it sent a goodbye). The event's time is the newcomer's first advert.
* split-brain-started: the old master and the newcomer both kept advertising for
  more than D after the newcomer's first advert; split-brain-ended when only one
  source is left.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter, OrderedDict, deque
from types import MappingProxyType

from carpscope.election import events as ev
from carpscope.election import rules
from carpscope.election import stack as stacks
from carpscope.election.events import Event, GroupState, Member, Snapshot
from carpscope.election.rules import Timing
from carpscope.model import CarpAdvert, Finding, GroupKey, Severity, VrrpAdvert

SEVERITY = MappingProxyType({
    "split-brain": Severity.CRITICAL,
    "passphrase-mismatch": Severity.CRITICAL,
    "vip-mismatch": Severity.CRITICAL,
    "hmac-failed": Severity.CRITICAL,
    "vrrp-collision": Severity.CRITICAL,
    "vhid-collision": Severity.CRITICAL,
    "no-passphrase": Severity.WARNING,
    "flapping": Severity.WARNING,
    "demoted": Severity.WARNING,
    "advbase-mismatch": Severity.WARNING,
    "adver-int-mismatch": Severity.WARNING,
    "skew-tie": Severity.WARNING,
    "slow-failover": Severity.WARNING,
    "looped-advert": Severity.WARNING,
    "replayed-advert": Severity.WARNING,
    "stale-key": Severity.WARNING,
    "vips-unknown": Severity.INFO,
    "gui-passphrase": Severity.INFO,
    ev.LIMIT_REACHED: Severity.WARNING,
})

FLAP_WINDOW = 300.0  # three or more master changes within five minutes is flapping
FLAP_CHANGES = 3
SLOW_FACTOR = 1.5  # a takeover later than 1.5 x master-down ...
SLOW_INTERVALS = 2  # ... and two advert intervals late (ucarp acts up to ~1 interval late, captures/README)
TIMER_SHARE = 0.5  # a takeover at least half a master-down after the last advert may be the timer's
# A backup's takeover advert leaves just after its master-down timer fires (0.3-3 ms in
# captures/vrrp-collision.pcap): a timeout is concluded only this much after it is due, so a
# takeover on time is a master change, not a master-down followed by one.
TAKEOVER_GRACE = 0.02
END_MISSED = 1.5  # at the end of a capture, silent for 1.5 intervals while another advertises = stopped
COUNTER_MEMORY = 256  # (counter, md) pairs remembered per source for replay detection
# Caps (issue 20): forged senders must not make a frame cost more, or memory grow, without
# bound. Past one, adverts are counted, not tracked, and one limit-reached finding says so.
MEMBERS_MAX = 256  # sources tracked per group
GROUPS_MAX = 4096  # groups tracked (protocol, id, family, VLANs)
MEMBERS_TOTAL = 65536  # sources tracked over every group
FLAP_MEMORY = 4096  # master changes remembered per group for flapping (a count past it reads as 4096)
_COUNTER_MOD = 1 << 64
_SCAN = 8  # groups up to this many members find their earliest backup by a walk (`_silence`)
_EVICT_TRIES = 8  # members `_evict` looks at before it gives up


class _Member:
    """What the tracker knows about one source of one group (mutable, private)."""

    __slots__ = ("addr", "mac", "first", "first_frame", "last", "last_frame", "prev_last", "adverts",
                 "record", "normal", "verdicts", "passphrase", "vips", "vips_from", "key_form", "counters",
                 "last_key", "last_key_time", "last_counter", "active", "run_start", "run_frame",
                 "run_record", "bad_run", "first_bad", "due", "down", "down_for", "seen", "demotion",
                 "keyed", "counted", "ripe")

    def __init__(self, r: CarpAdvert | VrrpAdvert):
        self.addr = r.src
        self.mac = r.src_mac
        self.first = self.last = r.time
        self.first_frame = self.last_frame = r.frame
        self.prev_last: float | None = None
        self.adverts = 0
        self.record = r  # latest advert
        self.normal: CarpAdvert | VrrpAdvert | None = None  # latest advert that is not a goodbye
        self.verdicts: set[str] = set()
        self.passphrase: int | None = None  # latest position that verified
        self.vips: tuple[str, ...] | None = None  # latest VIP set that verified
        self.vips_from: str | None = None
        self.key_form: str | None = None  # how the passphrase became the key (auth key forms)
        self.counters: OrderedDict = OrderedDict()
        self.last_key: tuple | None = None
        self.last_key_time = 0.0
        self.last_counter: int | None = None
        self.active = False  # advertising now: the master or a contender
        self.run_start = r.time  # first advert of the current run of adverts
        self.run_frame = r.frame
        self.run_record = r
        # Consecutive adverts that failed verification: one alone may only mean the VIPs were
        # not known yet (a new master signs before it sends its gratuitous ARPs).
        self.bad_run = 0
        self.first_bad: CarpAdvert | None = None
        self.due: float | None = None  # deadline of this member's entry in the tracker's heap
        self.down = 0.0  # its master-down time as a backup of down_for = (its params, the master's)
        self.down_for: tuple | None = None
        self.seen: dict = {}  # stack clues from its adverts (stack.Clues fields)
        self.demotion: list | None = None  # [first demoted advert, values seen, advertised undemoted before]
        self.keyed: tuple | None = None  # its entry in the group's backup heaps (see `_enlist`)
        self.counted: tuple | None = None  # what `_consistency` counted for it
        self.ripe: tuple | None = None  # (generation, run_start) of its entry in the group's ripe heap

    @property
    def params(self) -> CarpAdvert | VrrpAdvert:
        return self.normal or self.record


class _Group:
    """One group's election state (mutable, private)."""

    __slots__ = ("key", "tid", "members", "master", "master_since", "master_start", "previous", "contenders",
                 "split", "silence", "dirty", "last_advert", "changes", "flapping_until", "raised",
                 "backups", "backups3", "spread", "ties", "tied", "episodes", "ripe", "checked",
                 "generation", "latest")

    def __init__(self, tid: tuple):
        self.tid = tid  # (proto, id, family, vlan): a cheap dict and heap key
        self.key = GroupKey(*tid)
        self.members: dict[str, _Member] = {}
        self.master: str | None = None
        self.master_since: float | None = None
        self.master_start: CarpAdvert | VrrpAdvert | None = None  # the master's params when it took over
        self.previous: str | None = None  # the master declared down, until someone else advertises
        self.contenders: dict[str, bool] = {}  # other sources advertising -> already in split brain?
        self.split = False
        self.silence: float | None = None  # D: the master-down time that applies now
        self.dirty = True  # D must be recomputed (new member, new parameters, new master)
        self.last_advert: float | None = None
        self.changes: deque = deque(maxlen=FLAP_MEMORY)  # times of master changes within FLAP_WINDOW
        self.flapping_until: float | None = None
        self.raised: set = set()  # (kind, subject) of findings already raised
        self.episodes: dict = {}  # kind -> its latest ("episode" or "change", frame) token in raised
        # For `_split` without a walk over the contenders: (run_start, addr) of the contenders not in
        # split brain whose own run already lasts longer than D, so only the master's adverts are
        # missing; valid for the (D, master, its run) in `checked` and the entries of this `generation`.
        self.ripe: list = []
        self.checked: tuple | None = None
        self.generation = 0
        self.latest: _Member | None = None  # the member whose advert `_elect` is deciding on
        # Members' master-down times as backups, for `_silence` without a walk over every member:
        # heaps of (key, addr) with lazy deletion, CARP and VRRPv2 by the time itself, VRRPv3 by
        # priority (its time also depends on the master's interval).
        self.backups: list = []
        self.backups3: list = []
        # For `_consistency`: how many members advertise each advbase (VRRP: version and adver_int),
        # each preference (ties), and how many preferences two or more members share.
        self.spread: Counter = Counter()
        self.ties: dict = {}
        self.tied = 0


class Tracker:
    """Elections of every group seen, from records fed in capture order."""

    def __init__(self, timing: Timing = Timing.AUTO):
        self.timing = timing
        self._groups: dict[tuple, _Group] = {}  # by (proto, id, family, vlan)
        # (deadline, key, addr): one entry per active member, at or before its last
        # advert + D; moved forward when it surfaces early (see `_top`). Equal deadlines
        # fall due in group and address order, however the entries got there.
        self._heap: list = []
        self._now: float | None = None
        self._members = 0  # over every group, for MEMBERS_TOTAL
        self._dropped: dict[str, list] = {}  # cap -> [adverts left out, the first, its group, tids hit]

    # -- public API ---------------------------------------------------------------

    def observe(self, record, now: float) -> list[Event | Finding]:
        """What one record changes: timeouts due before it, then its own events and findings."""
        if not isinstance(record, (CarpAdvert, VrrpAdvert)) or not rules.usable(record):
            return self.advance(now)
        t = record.time
        out = self._expire(t)
        self._tick(t)
        tid = _tid(record)
        g = self._groups.get(tid)
        m = None if g is None else g.members.get(record.src)
        found: list[Finding] = []
        if m is None:
            admitted, found = self._admit(g, record)
            if not admitted:
                return out + found + (self.advance(now) if now > t else [])
        if g is None:
            g = self._groups[tid] = _Group(tid)
            found += self._collisions(g, record)
        new = m is None
        if new:
            m = g.members[record.src] = _Member(record)
            self._members += 1
        changed, happened = self._learn(g, m, record, new, found)
        out += happened
        g.last_advert = t if g.last_advert is None else max(g.last_advert, t)
        if changed or g.dirty:  # new parameters, or a stack clue that changes its timer
            self._enlist(g, m)
            g.dirty = True
        g.latest = m
        out += self._elect(g, m, record, found)
        g.latest = None
        self._reschedule(g, m)
        out += found
        if now > t:
            out += self.advance(now)
        return out

    def repeat(self, r, frame: int, t: float, counter: int | None, md: bytes | None) -> tuple | None:
        """`r` again from an advertising member: the steady state, without a new record.

        The advert is `r` with another frame, time and (CARP) counter and md, and the
        caller has advanced time to `t`. Returns what `observe` would (nothing: an
        empty tuple), or None when the advert may change something: then `observe`
        must see it.
        """
        g = self._groups.get(_tid(r))
        m = None if g is None else g.members.get(r.src)
        if m is None or m.record is not r or not m.active or t < m.last:
            return None
        if r.hmac == "bad" and ("hmac-failed", m.addr) not in g.raised:
            return None  # (a repeat of r failed just as r did: only the count moves)
        if g.contenders:
            if not self._quiet_overlap(g, m, t):
                return None
        elif g.master != m.addr:
            return None
        if counter is not None:
            key = (counter, md)
            counters = m.counters
            if key in counters:
                # OpenBSD repeats its counter: fine unless it comes back too soon (a loop), and
                # once that loop is reported its copies change nothing more (issue 20).
                if key != m.last_key or (t - m.last_key_time < max(rules.interval(r), 1 / 256) / 2
                                         and ("looped-advert", m.addr) not in g.raised):
                    return None
                if len(counters) == 1 and m.adverts == 1:
                    g.dirty = True  # a constant counter: OpenBSD, whose timer differs (stack.py)
                    self._enlist(g, m)  # its place among the backups moves with its timer
                counters.move_to_end(key)
            elif len(counters) >= COUNTER_MEMORY:
                counters.popitem(last=False)
            counters[key] = t
            m.last_key, m.last_key_time, m.last_counter = key, t, counter
        m.prev_last, m.last, m.last_frame = m.last, t, frame
        m.adverts += 1
        if r.hmac == "bad":
            m.bad_run += 1
        if t > g.last_advert:
            g.last_advert = t
        if g.dirty or m.due is None or g.silence is None or m.due > t + g.silence:
            self._reschedule(g, m)
        if t > self._now:
            self._now = t
        return ()

    def _quiet_overlap(self, g: _Group, m: _Member, t: float) -> bool:
        """With contenders, does an advert of `m` at `t` leave `_elect` nothing to do?

        It does if `m` already is the master or a contender, the master does not say
        goodbye, and no contender's overlap with the master grows past D (`_split`).
        """
        if g.dirty or g.silence is None or (m.addr != g.master and m.addr not in g.contenders):
            return False
        if m.addr == g.master and rules.resigns(m.record):
            return False
        if False not in g.contenders.values():
            return True  # a lasting split brain: every contender already is in it (a scan in C)
        master = g.members[g.master]
        if g.checked == (g.silence, master.addr, master.run_start):  # what `_split` keeps tells at once
            if m.addr == g.master:
                return not (g.ripe and t - g.ripe[0][0] > g.silence)
            if g.contenders[m.addr]:
                return True
            return not (min(master.last, t) - m.run_start > g.silence
                        or (t - m.run_start > g.silence and m.ripe != (g.generation, m.run_start)))
        master_last = t if m.addr == g.master else g.members[g.master].last
        for addr, in_split in g.contenders.items():
            c = g.members[addr]
            if not in_split and min(master_last, t if c is m else c.last) - c.run_start > g.silence:
                return False
        return True

    def rejudge(self, r: CarpAdvert) -> bool:
        """r's sender verifies with a configuration that also signed its earlier "bad" adverts.

        They failed only for want of the whole VIP set: its member verdict is "ok"
        again (the caller knows the signatures; see Pipeline._rejudge).
        """
        g = self._groups.get(_tid(r))
        m = g.members.get(r.src) if g is not None else None
        if m is None or "bad" not in m.verdicts:
            return False
        m.verdicts.discard("bad")
        m.bad_run = 0
        return True

    def due(self, now: float) -> bool:
        """Cheap: might `advance(now)` conclude something? (False is certain.)"""
        heap = self._heap
        return bool(heap) and heap[0][0] <= now

    def advance(self, now: float) -> list[Event | Finding]:
        """Timeouts that fell due by `now`: master-down, takeovers and split brains that ended."""
        out = self._expire(now)
        self._tick(now)
        return out

    def next_deadline(self) -> float | None:
        """The earliest time at which `advance` would conclude something, or None."""
        top = self._top()
        return None if top is None else top[0] + TAKEOVER_GRACE

    def finish(self, now: float) -> list[Event | Finding]:
        """End of capture: timeouts due by `now`, then takeovers the capture ended too early to time out.

        A source counts as stopped when it has missed an advert (silent for 1.5 of its
        intervals) while another source of its group went on advertising; a lone
        master is never declared down here, since nobody can tell it from the end of
        the capture.
        """
        out = self.advance(now)
        for tid in sorted(self._groups):
            g = self._groups[tid]
            for m in sorted(g.members.values(), key=_by_first):
                if m.demotion is not None:
                    how = ("and still did at the end of the capture" if m.active else
                           "and was not seen undemoted before the end of the capture")
                    out += self._demotion_finding(g, m, f"{how}, {now - m.demotion[0].time:.2f}s later",
                                                  Severity.WARNING)
            if g.master is None or not g.contenders:
                continue
            active = [g.members[g.master], *(g.members[a] for a in g.contenders)]
            stopped = [m for m in active if now - m.last > END_MISSED * rules.interval(m.params)]
            if len(stopped) < len(active):
                for m in sorted(stopped, key=lambda m: (m.last, m.addr)):
                    if m.active and g.master is not None:  # (a drop may have left the group without one)
                        out += self._drop(g, m, now)
        return out + self._limits()

    def snapshot(self) -> Snapshot:
        """Every group as it stands, for views; immutable."""
        return Snapshot(self._now, tuple(self._state(self._groups[k]) for k in sorted(self._groups)))

    # -- caps (issue 20) ----------------------------------------------------------------

    def _admit(self, g: _Group | None, r) -> tuple[bool, list[Finding]]:
        """May a new source (of a new group, if g is None) be tracked, and what to say about the caps.

        A full group first forgets a member that stopped advertising (`_evict`), so a
        probe that saw a flood once still follows new members months later. Past a
        cap otherwise the advert is counted and left out, so forged senders cost a
        constant per frame and no memory. The first time, limit-reached says so.
        """
        evicted = False
        if g is None and len(self._groups) >= GROUPS_MAX:
            cap = f"{GROUPS_MAX} groups"
        elif g is not None and len(g.members) >= MEMBERS_MAX:
            cap = f"{MEMBERS_MAX} members per group"
            evicted = self._evict(g)
        elif self._members >= MEMBERS_TOTAL:
            cap = f"{MEMBERS_TOTAL} members in all"
            evicted = g is not None and self._evict(g)
        else:
            return True, []
        dropped = self._dropped.get(cap)
        first = dropped is None
        if first:
            dropped = self._dropped[cap] = [0, r, set(), 0]
        dropped[3 if evicted else 0] += 1
        if g is not None:
            dropped[2].add(g.tid)
        out = [] if not first else [ev.limit(
            cap, f"from frame {r.frame} on, a new source of a full group takes the place of one that stopped "
                 f"advertising, and adverts of {_what(cap, r)} are counted but not tracked when none has; the "
                 f"end of the report says how many" if g is not None else
                 f"adverts of {_what(cap, r)} are counted but not tracked from frame {r.frame} on; the end of "
                 f"the report says how many", r.frame, r.time)]
        return evicted, out

    def _evict(self, g: _Group) -> bool:
        """Forget a member of `g` that stopped advertising, to make room for a new one.

        The oldest members are looked at first, a few at most (the master, a contender
        or the member just declared down stay and go to the back): O(1) per advert.
        """
        members = g.members
        if len(g.contenders) + (g.master is not None) >= len(members):
            return False  # every member advertises
        for _ in range(min(_EVICT_TRIES, len(members))):
            addr = next(iter(members))
            m = members.pop(addr)
            if m.active or addr == g.master or addr == g.previous or addr in g.contenders:
                members[addr] = m
                continue
            m.normal = None
            self._count(g, m)  # out of the consistency counts; its backup heap entries go stale
            self._members -= 1
            for kind in ("hmac-failed", "demoted", "looped-advert", "replayed-advert"):
                g.raised.discard((kind, addr))
            return True
        return False

    def _limits(self) -> list[Finding]:
        """One limit-reached finding per cap reached, with what it left out (it replaces the first)."""
        out = []
        for cap, (count, r, groups, evicted) in self._dropped.items():
            where = f" in {len(groups)} groups" if len(groups) > 1 else ""
            made = (f"{evicted} sources that had stopped advertising were forgotten to make room for new ones, "
                    if evicted else "")
            out.append(ev.limit(cap, f"{made}{count} adverts of {_what(cap, r)} were counted but not "
                                     f"tracked{where}, from frame {r.frame} on: forged or misdirected senders "
                                     f"are likely", r.frame, r.time))
        return out

    # -- time -----------------------------------------------------------------------

    def _tick(self, now: float) -> None:
        if self._now is None or now > self._now:
            self._now = now

    def _push(self, g: _Group, m: _Member, deadline: float) -> None:
        m.due = deadline
        heapq.heappush(self._heap, (deadline, g.tid, m.addr))

    def _reschedule(self, g: _Group, who: _Member | None = None) -> None:
        """Make sure every active member has a heap entry no later than its deadline.

        An advert moves a member's deadline later, which needs no new entry: the old
        one surfaces early and is moved then (`_top`). Only an earlier deadline (a new
        member, or D shrank) pushes one. Only `who` is looked at unless D moved.
        """
        if g.dirty or who is None:
            g.dirty = False
            silence = self._silence(g)
            if silence != g.silence:
                g.silence, who = silence, None
            elif who is None:
                return  # D did not move: every active member's entry still holds
        silence = g.silence
        if silence is None:
            return
        # Only masters and contenders advertise, so only they are active (and need an entry).
        for m in [who] if who is not None else _advertising(g):
            if m.active and (m.due is None or m.due > m.last + silence):
                self._push(g, m, m.last + silence)

    def _top(self) -> tuple | None:
        """The heap's first entry that is its member's true deadline (last advert + D).

        Entries of members that stopped, or that were superseded, are dropped; an
        entry whose member advertised since is moved to the new deadline.
        """
        heap = self._heap
        while heap:
            deadline, tid, addr = heap[0]
            g = self._groups[tid]
            m = g.members.get(addr)
            if m is None or m.due != deadline or not m.active or g.silence is None:
                heapq.heappop(heap)  # (None: a member forgotten by `_evict`)
                if m is not None and m.due == deadline:
                    m.due = None
                continue
            true = m.last + g.silence
            if true == deadline:
                return heap[0]
            m.due = true
            heapq.heapreplace(heap, (true, tid, addr))
        return None

    def _expire(self, until: float) -> list:
        out: list = []
        while True:
            top = self._top()
            if top is None or top[0] + TAKEOVER_GRACE > until:
                return out
            deadline, tid, addr = heapq.heappop(self._heap)
            g = self._groups[tid]
            m = g.members[addr]
            m.due = None
            out += self._drop(g, m, deadline)

    def _silence(self, g: _Group) -> float | None:
        """D, the master-down time of the group: how long the master may stay silent.

        Backups run their own timers, so the earliest known backup decides; but the
        master is never called silent before it missed three of its own adverts
        (a slower master is an advbase-mismatch, not an outage). With no backup known
        yet, the master's own parameters give a lower bound: backups normally have a
        larger advskew or a lower priority (PROTOCOL.md §4.1, RFC 3768 §6.1).
        """
        if g.master is None:
            return None
        master = g.members[g.master].params
        own = rules.master_down(master, master, self._timing(g.members[g.master]))
        if len(g.members) <= _SCAN:  # a few members: a walk is cheaper than the heaps
            others = [self._down(m, master) for m in g.members.values() if m.addr != g.master and m.normal is not None]
            other = min(others) if others else None
        else:
            other = self._backup_down(g, master)
        return own if other is None else max(own, other)

    def _enlist(self, g: _Group, m: _Member) -> None:
        """Put `m` (new parameters) in its group's backup heaps: its old entry goes stale.

        CARP and VRRPv2 backups time out on their own parameters, so the key is the
        time; a VRRPv3 backup uses the master's interval with its own priority, and
        Skew_Time falls as priority rises (RFC 5798 §6.1), so the key is the priority.
        """
        n = m.normal
        if n is None:
            return
        if n.proto == "vrrp" and n.version == 3:
            kind, heap, key = 1, g.backups3, -max(n.priority, 1)
        else:
            kind, heap, key = 0, g.backups, self._down(m, None)
        if m.keyed == (kind, key):
            return
        m.keyed = (kind, key)
        heapq.heappush(heap, (key, m.addr))
        if len(heap) > 2 * len(g.members) + 16:  # stale entries: rebuild (amortised O(1) per push)
            heap[:] = [(k[1], a) for a, k in ((a, o.keyed) for a, o in g.members.items()) if k and k[0] == kind]
            heapq.heapify(heap)

    def _backup_down(self, g: _Group, master) -> float | None:
        """min(_down) over the members other than the master: the tops of the backup heaps."""
        best = None
        for kind, heap in ((0, g.backups), (1, g.backups3)):
            m = _first_backup(g, kind, heap)
            if m is not None:
                down = self._down(m, master)
                best = down if best is None or down < best else best
        return best

    def _down(self, m: _Member, master) -> float:
        """rules.master_down of a backup, kept until its parameters change (or, VRRPv3 only, the master's)."""
        normal = m.normal
        if normal.version != 3 or normal.proto != "vrrp":
            master = None  # CARP and VRRPv2 backups time out on their own parameters alone
        timing = self._timing(m)
        if m.down_for is not None and m.down_for[0] is normal and m.down_for[1] is master and m.down_for[2] is timing:
            return m.down
        m.down_for, m.down = (normal, master, timing), rules.master_down(normal, master, timing)
        return m.down

    def _timing(self, m: _Member) -> Timing:
        """The master-down formula `m` runs: --timing, or (auto) its stack's (PROTOCOL.md §9.3)."""
        if self.timing is not Timing.AUTO:
            return self.timing
        return Timing.OPENBSD if _stack(m)[0] == stacks.OPENBSD else Timing.BSD

    # -- learning from one advert --------------------------------------------------

    def _learn(self, g: _Group, m: _Member, r, new: bool, found: list) -> tuple[bool, list]:
        """Update the member; return whether its parameters changed, and the events that causes."""
        happened: list = []
        prev = None if new else m.record
        m.prev_last = None if new else m.last
        m.adverts += 1
        if r.src_mac:
            m.mac = r.src_mac
        if r.time >= m.last:
            m.last, m.last_frame = r.time, r.frame
        m.record = r
        changed = new
        if _clues(m, r):
            g.dirty = True  # its stack, and so its timer, may have changed
        if not rules.resigns(r):
            if m.normal is not None and rules.parameters(m.normal) != rules.parameters(r):
                happened.append(self._event(g, r.time, r.frame, ev.PARAMETERS_CHANGED, to=m.addr,
                                            detail=f"{m.addr}: {_diff(m.normal, r)}"))
                changed = True
            changed = changed or m.normal is None
            m.normal = r
        if r.hmac == "ok":
            m.verdicts.discard("unverified")  # it could not be checked before; now it is (re-judged)
        if r.hmac != "unverified" or "ok" not in m.verdicts:
            m.verdicts.add(r.hmac)
        identity = False
        if isinstance(r, CarpAdvert):
            m.bad_run = m.bad_run + 1 if r.hmac == "bad" else 0
            if m.bad_run == 1:
                m.first_bad = r
            if r.hmac == "ok":
                vips = tuple(sorted(r.vips or ()))
                identity = (m.passphrase, m.vips, m.key_form) != (r.passphrase, vips, r.key_form)
                m.passphrase, m.vips, m.vips_from, m.key_form = r.passphrase, vips, r.vips_from, r.key_form
            elif m.bad_run >= 2 and ("hmac-failed", m.addr) not in g.raised:
                hint = f" ({r.hmac_hint})" if r.hmac_hint else ""
                found += self._raise(g, "hmac-failed", m.addr, m.first_bad,
                                     f"adverts from {m.addr} do not verify with any passphrase and VIP set "
                                     f"tried{hint}: a node with another key or VIP set ignores its peers' "
                                     f"adverts and becomes master as well; check the pass "
                                     f"(19 characters at most) and the VIPs of vhid {g.key.id} on {m.addr}")
            elif r.hmac_reason == "vips-unknown" and ("vips-unknown", None) not in g.raised:
                # PROTOCOL.md §9.7: no evidence against the passphrase, so no critical finding.
                found += self._raise(g, "vips-unknown", None, r,
                                     f"adverts of vhid {g.key.id} (first from {m.addr}) could not be checked: "
                                     f"no given passphrase verifies "
                                     f"with a VIP set carpscope could find, and the VIP set of vhid {g.key.id} is "
                                     f"unknown (no --vip, no ARP/NA claim from its virtual MAC in the capture). That is not "
                                     f"evidence of a wrong passphrase: give --vip {g.key.id}=ADDR (every VIP of the "
                                     f"vhid, both families), or capture ARP and ICMPv6 too, not only protocol 112")
            found += self._demotion(g, m, r)
            found += self._counters(g, m, r, prev)
        else:
            m.vips, m.vips_from = tuple(r.addresses), "advert"
        if identity:
            found += self._identities(g, r)
        if changed and ("vhid-collision", None) not in g.raised:  # two clusters' settings are not comparable
            found += self._consistency(g, r)
        return changed, happened

    def _demotion(self, g: _Group, m: _Member, r: CarpAdvert) -> list[Finding]:
        """demoted, at the severity it deserves (PROTOCOL.md §9.2).

        A demotion from a member's first advert may be the boot interlock or pfsync's
        bulk update: info once it clears, a warning if it never does (`finish`) or if
        the member loses the mastership by it (`_change`). One that appears after
        undemoted adverts (mid-life) is a warning at once.
        """
        if rules.resigns(r):
            return []
        d = m.demotion
        if not rules.demoted(r):
            m.seen["undemoted"] = True
            if d is None:
                return []
            return self._demotion_finding(g, m, f"then cleared ({rules.describe(r)}) after "
                                                f"{r.time - d[0].time:.2f}s", Severity.INFO, cleared=True)
        value = r.demote or r.advskew
        if d is None:
            m.demotion = d = [r, [value], bool(m.seen.get("undemoted"))]
        elif d[1][-1] != value:
            d[1].append(value)
        if d[2]:
            return self._demotion_finding(g, m, "after advertising undemoted", Severity.WARNING, keep=True)
        return []

    def _demotion_finding(self, g: _Group, m: _Member, how: str, severity: Severity, cleared: bool = False,
                          keep: bool = False) -> list[Finding]:
        """The demoted finding of `m`'s current demotion episode, once per episode."""
        first, values, mid_life = m.demotion
        if not keep:
            m.demotion = None
        if ("demoted", (m.addr, first.frame)) in g.raised:
            return []
        return self._raise(g, "demoted", (m.addr, first.frame), first,
                           _demoted_detail(m.addr, first, tuple(values), how, mid_life, cleared), severity)

    def _counters(self, g: _Group, m: _Member, r: CarpAdvert, prev) -> list[Finding]:
        """looped-advert and replayed-advert from the counter and md (PROTOCOL.md §3).

        OpenBSD repeats one counter (and so one md) in every advert by design, so a
        repeat of the latest advert is a loop only when it comes back in less than half
        the sender's interval with the same header. An older (counter, md) coming back
        after newer ones is a replay, unless a FreeBSD-family sender copied a peer's
        counter (it sends the last counter it received + 1) — that is checked first.
        """
        if r.counter is None:
            return []
        out: list[Finding] = []
        key = (r.counter, r.md)
        if m.last_counter is not None and (m.last_counter + 1) % _COUNTER_MOD == r.counter:
            m.seen["counting"] = True
        if m.adverts == 2 and len(m.counters) == 1 and key in m.counters:
            g.dirty = True  # a constant counter: OpenBSD, whose timer differs (stack.py)
        if key in m.counters:
            if key == m.last_key:
                dt = abs(r.time - m.last_key_time)
                interval = max(rules.interval(r), 1 / 256)
                if prev is not None and rules.parameters(prev) == rules.parameters(r) and dt < interval / 2:
                    out += self._raise(
                        g, "looped-advert", m.addr, r,
                        f"the same advert from {m.addr} (counter {r.counter}) arrived twice {dt * 1000:.1f} ms "
                        f"apart, against an advert interval of {interval:.2f}s: a layer-2 loop (bridge, switch, "
                        f"hypervisor) repeats frames, or the capture saw each frame twice (two interfaces, "
                        f"overlapping captures merged)")
            elif ("replayed-advert", m.addr) not in g.raised and not any(
                    o.last_counter is not None and (o.last_counter + 1) % _COUNTER_MOD == r.counter
                    for o in g.members.values()):
                age = r.time - m.counters[key]
                out += self._raise(
                    g, "replayed-advert", m.addr, r,
                    f"{m.addr} sent counter {r.counter} with the same signature again {age:.2f}s after first "
                    f"using it, after newer counters: an old advert was replayed (no CARP stack checks "
                    f"counters), or overlapping captures were merged")
        m.counters[key] = r.time
        m.counters.move_to_end(key)
        if len(m.counters) > COUNTER_MEMORY:
            m.counters.popitem(last=False)
        m.last_key, m.last_key_time, m.last_counter = key, r.time, r.counter
        return out

    def _consistency(self, g: _Group, r) -> list[Finding]:
        """advbase-mismatch, adver-int-mismatch and skew-tie among the members' current parameters.

        Each check is a count kept as members change (`_count`), so a new member costs
        O(1); the members are listed only to word a finding, once per group.
        """
        out: list[Finding] = []
        self._count(g, g.members[r.src])
        if g.key.proto == "carp":
            if len(g.spread) > 1 and ("advbase-mismatch", None) not in g.raised:
                normals = _normals(g)
                listing = ", ".join(f"{a} {n.advbase}" for a, n in normals)
                out += self._raise(g, "advbase-mismatch", None, r,
                                   f"members advertise different advbase ({listing}): the lower advbase always "
                                   f"wins and advskew no longer orders the members; set the "
                                   f"same advbase on every member")
            if g.tied and ("skew-tie", None) not in g.raised:
                plain = [(a, n, rules.preference(n)) for a, n in _normals(g) if not rules.demoted(n)]
                later = Counter(p for _, _, p in plain)
                for i, (a, n, p) in enumerate(plain):
                    later[p] -= 1
                    tie = next((b for b, _, o in plain[i + 1:] if o == p), None) if later[p] else None
                    if tie is not None:
                        out += self._raise(g, "skew-tie", None, r,
                                           f"{a} and {tie} both advertise {rules.describe(n)}: on a tie OpenBSD's "
                                           f"master yields and ucarp compares raw addresses, so which one "
                                           f"wins is arbitrary; give each member its own advskew")
                        break
        else:
            if ("adver-int-mismatch", None) not in g.raised and len(g.spread) > len({v for v, _ in g.spread}):
                normals = _normals(g)
                for version in sorted({n.version or 0 for _, n in normals}):
                    same = [(a, n) for a, n in normals if (n.version or 0) == version]
                    if len({n.adver_int for _, n in same}) > 1:
                        unit = "cs" if version == 3 else "s"
                        listing = ", ".join(f"{a} {n.adver_int}{unit}" for a, n in same)
                        why = ("RFC 3768 §7.1 receivers discard adverts whose Adver_Int differs from theirs"
                               if version != 3 else "backups adopt the master's interval (RFC 5798 §6.4.2)")
                        out += self._raise(g, "adver-int-mismatch", None, r,
                                           f"members advertise different adver_int ({listing}): {why}; set the "
                                           f"same advertisement interval on every router",
                                           Severity.WARNING if version != 3 else Severity.INFO)
            if g.tied and ("skew-tie", None) not in g.raised:
                prios: dict[int, str] = {}
                for a, n in _normals(g):
                    if n.priority in prios and n.priority:
                        owner = n.priority == 255
                        out += self._raise(g, "skew-tie", None, r,
                                           f"{prios[n.priority]} and {a} both advertise priority {n.priority}: "
                                           + ("both claim to own the virtual addresses; only one router may use "
                                              "priority 255" if owner else
                                              "the higher address wins (RFC 3768 §6.4.3); give each router its "
                                              "own priority to choose the master"),
                                           Severity.WARNING if owner else Severity.INFO)
                        break
                    prios.setdefault(n.priority, a)
        return out

    @staticmethod
    def _count(g: _Group, m: _Member) -> None:
        """Move `m` in its group's counts: advbase (VRRP: version and adver_int) and preference.

        A preference counts for a skew-tie when its member is not demoted (CARP) or
        its priority is not 0 (VRRP); `g.tied` is how many preferences two share.
        """
        n = m.normal
        if n is None:
            seen = None
        elif isinstance(n, CarpAdvert):
            seen = (n.advbase, None if rules.demoted(n) else rules.preference(n))
        else:
            seen = ((n.version or 0, n.adver_int), n.priority or None)
        if seen == m.counted:
            return
        for step, value in ((-1, m.counted), (1, seen)):
            if value is None:
                continue
            spread, rank = value
            g.spread[spread] += step
            if not g.spread[spread]:
                del g.spread[spread]
            if rank is not None:
                before = g.ties.get(rank, 0)
                g.ties[rank] = before + step
                if not g.ties[rank]:
                    del g.ties[rank]
                g.tied += (before + step >= 2) - (before >= 2)
        m.counted = seen

    def _identities(self, g: _Group, r: CarpAdvert) -> list[Finding]:
        """no-passphrase, vhid-collision, passphrase-mismatch, vip-mismatch from what verified.

        vhid-collision: two members verify with VIP sets that share no address — one
        cluster always protects the same addresses, so disjoint sets mean two unrelated
        clusters on one vhid. Otherwise differing passphrase positions are a
        passphrase-mismatch and differing (overlapping) VIP sets a vip-mismatch.
        """
        out: list[Finding] = []
        if r.key_form == "stale-tail" and ("stale-key", r.src) not in g.raised:
            out += self._raise(g, "stale-key", r.src, r,
                               f"{r.src} signs vhid {g.key.id} with a stale key: {r.hmac_hint}. Its pass was "
                               f"changed from a longer one with ifconfig on OpenBSD/FreeBSD, which copies the new "
                               f"pass and a NUL over the old key and leaves the rest of the old key behind "
                               f"(PROTOCOL.md §2.2); a node given the same pass afresh computes another key, so "
                               f"the two drop each other's adverts although their passwords match. Destroy and "
                               f"re-create the carp interface (FreeBSD: remove the vhid and add it again) "
                               f"and set the pass once")
        if r.key_form == "pfsense-gui" and ("gui-passphrase", r.src) not in g.raised:
            out += self._raise(g, "gui-passphrase", r.src, r,
                               f"{r.src} verifies with passphrase {r.passphrase} matched in its pfSense/OPNsense "
                               f"form: the GUI removes spaces and escapes quotes and backslashes before it calls "
                               f"ifconfig (PROTOCOL.md §9.1); a node configured with ifconfig or another tool must "
                               f"be given that form, or it drops this node's adverts")
        if r.passphrase == 0:
            out += self._raise(g, "no-passphrase", None, r,
                               f"CARP vhid {g.key.id} adverts verify with the empty key (no pass set): anyone on "
                               f"the segment can forge adverts and take the VIPs; set a pass on every member")
        ids = [m for m in sorted(g.members.values(), key=_by_first) if m.passphrase is not None]
        if len(ids) < 2 or ("vhid-collision", None) in g.raised:
            return out
        for i, a in enumerate(ids):
            b = next((b for b in ids[i + 1:] if a.vips and b.vips and not set(a.vips) & set(b.vips)), None)
            if b is not None:
                keys = (f" and different passphrases ({_position(a.passphrase)}, {_position(b.passphrase)})"
                        if a.passphrase != b.passphrase else "")
                return out + self._raise(
                    g, "vhid-collision", None, r,
                    f"vhid {g.key.id} is used by two unrelated clusters: {a.addr} signs for {', '.join(a.vips)} "
                    f"and {b.addr} for {', '.join(b.vips)}, with no address in common{keys}; each drops the "
                    f"other's adverts and FreeBSD/OpenBSD nodes share the virtual MAC "
                    f"00:00:5e:00:01:{g.key.id:02x}: give one cluster another vhid")
        if len({(m.passphrase, m.key_form) for m in ids}) > 1:
            listing = ", ".join(f"{m.addr} with {_position(m.passphrase)}{_form(m.key_form)}" for m in ids)
            out += self._raise(g, "passphrase-mismatch", None, r,
                               f"members verify with different passphrases: {listing}; each node drops the "
                               f"other's adverts and becomes master too: set the same pass "
                               f"on every member")
        elif len({m.vips for m in ids}) > 1:
            listing = ", ".join(f"{m.addr} [{', '.join(m.vips or ())}]" for m in ids)
            out += self._raise(g, "vip-mismatch", None, r,
                               f"members sign different VIP sets: {listing}; the HMAC covers the VIPs, "
                               f"so each drops the other's adverts: configure the same "
                               f"addresses on vhid {g.key.id} on every member")
        return out

    def _collisions(self, g: _Group, r) -> list[Finding]:
        """vrrp-collision: IPv4 VRRP vrid N and CARP vhid N (v4 or v6) on one segment (PROTOCOL.md §5.3)."""
        key = g.key
        if key.proto == "carp":
            partners = [("vrrp", key.id, 4, key.vlan)]
        elif key.family == 4:
            partners = [("carp", key.id, 4, key.vlan), ("carp", key.id, 6, key.vlan)]
        else:
            return []  # VRRPv3 over IPv6 uses 00:00:5e:00:02:N, no clash with CARP
        out: list[Finding] = []
        for p in partners:
            if p not in self._groups:
                continue
            vrrp = g if key.proto == "vrrp" else self._groups[p]
            vlan = f" on VLAN {'.'.join(map(str, key.vlan))}" if key.vlan else ""
            out += self._raise(vrrp, "vrrp-collision", ("carp", p[2] if key.proto == "vrrp" else key.family), r,
                               f"VRRP vrid {key.id} and CARP vhid {key.id} advertise on the same segment{vlan}: "
                               f"IPv4 VRRP's virtual MAC 00:00:5e:00:01:{key.id:02x} is also CARP vhid {key.id}'s "
                               f"(RFC 3768 §7.3): where both use it, switches move it between "
                               f"the two masters; both share 224.0.0.18 and protocol 112 and each side drops the "
                               f"other's adverts (keepalived logs them as too short); give one group another id")
        return out

    # -- elections --------------------------------------------------------------------

    def _elect(self, g: _Group, m: _Member, r, found: list) -> list:
        """Only masters advertise: a first advert crowns, a second source waits as a contender."""
        if not m.active:
            m.active = True
            m.run_start, m.run_frame, m.run_record = r.time, r.frame, r
        if g.master is None:
            previous = g.members.get(g.previous) if g.previous else None
            g.previous = None
            if previous is None:
                self._crown(g, m)
                return [self._event(g, m.run_start, m.run_frame, ev.MASTER_ELECTED, to=m.addr,
                                    detail=f"{m.addr} advertises ({rules.describe(m.params)})")]
            if previous is m:
                gap = max(0.0, m.run_start - (m.prev_last if m.prev_last is not None else m.run_start))
                self._crown(g, m)
                event = self._event(g, m.run_start, m.run_frame, ev.MASTER_ELECTED, to=m.addr, gap=gap,
                                    detail=f"{m.addr} advertises again after {gap:.2f}s of silence")
                found += self._flapping(g, event)
                return [event]
            return self._change(g, previous, m, found)
        if g.master == m.addr:
            if g.contenders and rules.resigns(r):
                return self._drop(g, m, r.time)  # a goodbye with a successor already advertising
            return self._split(g, found) if g.contenders else []
        master = g.members[g.master]
        if m.addr not in g.contenders:
            if rules.resigns(master.record) and master.last <= m.run_start:
                master.active = False  # it said goodbye: no need to wait for its silence
                return self._change(g, master, m, found)
            if not g.contenders and g.silence is not None and master.last + g.silence <= r.time:
                # The master's timeout was due (within TAKEOVER_GRACE): this advert is the takeover.
                master.active = False
                return self._change(g, master, m, found)
            if g.key.proto == "vrrp" and not g.contenders and rules.beats(r, master.record):
                # RFC 3768/5798 §6.4.3: a master hearing a higher priority goes Backup at once, so
                # the change is this frame's; if it goes on advertising it is a contender anew.
                master.active = False
                return self._change(g, master, m, found)
            g.contenders[m.addr] = False
        return self._split(g, found)

    def _crown(self, g: _Group, m: _Member) -> None:
        g.master, g.master_since, g.master_start = m.addr, m.run_start, m.params
        g.dirty = True

    def _split(self, g: _Group, found: list) -> list:
        """split-brain-started once the master and a newcomer overlap for more than D."""
        out: list = []
        master = g.members[g.master]
        silence = self._silence(g)
        for c in self._crossing(g, master, silence):
            addr = c.addr
            g.contenders[addr] = True
            out.append(self._event(g, c.run_start, c.run_frame, ev.SPLIT_BRAIN_STARTED, master.addr, c.addr,
                                   expected=silence,
                                   detail=f"{master.addr} and {c.addr} both advertise as master for more than "
                                          f"{silence:.2f}s"))
            if not g.split:
                g.split = True
                label = f"{'CARP vhid' if g.key.proto == 'carp' else 'VRRP vrid'} {g.key.id}"
                found += self._raise(g, "split-brain", ("episode", c.run_frame), c.run_record,
                                     f"{master.addr} and {c.addr} both advertise {label} as master for more "
                                     f"than the {silence:.2f}s master-down time: {self._split_cause(g, master, c)}",
                                     time=c.run_start)
        return out

    def _crossing(self, g: _Group, master: _Member, silence: float) -> list[_Member]:
        """Contenders not yet in split brain whose overlap with the master now lasts more than D.

        Only the advertising member's run moved since the last look, so it alone is
        checked, or, when the master advertised, the ripe contenders (their own run
        already longer than D) that the master's run now covers: O(log n) per advert.
        A new D or master looks at every contender again. In the contenders' order.
        """
        m = g.latest
        if m is None or g.checked != (silence, master.addr, master.run_start):
            g.checked, g.ripe, g.generation = (silence, master.addr, master.run_start), [], g.generation + 1
            crossing = []
            for addr, in_split in g.contenders.items():
                c = g.members[addr]
                if in_split:
                    continue
                if min(master.last, c.last) - c.run_start > silence:
                    crossing.append(c)
                elif c.last - c.run_start > silence:
                    self._ripen(g, c)
            return crossing
        if m is master:
            crossing, ripe = [], g.ripe
            while ripe and master.last - ripe[0][0] > silence:
                run_start, addr = heapq.heappop(ripe)
                c = g.members.get(addr)
                if c is not None and c.ripe == (g.generation, run_start) and g.contenders.get(addr) is False:
                    c.ripe = None
                    crossing.append(c)
            if len(crossing) > 1:
                order = {a: i for i, a in enumerate(g.contenders)}
                crossing.sort(key=lambda c: order[c.addr])
            return crossing
        if g.contenders.get(m.addr) is not False:
            return []
        if min(master.last, m.last) - m.run_start > silence:
            return [m]
        if m.last - m.run_start > silence and m.ripe != (g.generation, m.run_start):
            self._ripen(g, m)
        return []

    @staticmethod
    def _ripen(g: _Group, c: _Member) -> None:
        c.ripe = (g.generation, c.run_start)
        heapq.heappush(g.ripe, (c.run_start, c.addr))

    def _split_cause(self, g: _Group, a: _Member, b: _Member) -> str:
        """Why two nodes both are master: signatures, or adverts that do not arrive."""
        unreachable = ("the adverts do not reach one node: check IGMP snooping, multicast filtering and "
                       "firewall rules for protocol 112 between them, and hypervisor vSwitch settings "
                       "(promiscuous mode, MAC address changes, forged transmits)")
        if g.key.proto == "vrrp":
            na, nb = a.params, b.params
            if (na.version or 0) == (nb.version or 0) != 3 and na.adver_int != nb.adver_int:
                return "their Adver_Int differ, and RFC 3768 §7.1 receivers discard such adverts"
            if (na.version or 0) != 3 and (na.auth_type, na.auth_data) != (nb.auth_type, nb.auth_data):
                return "their VRRPv2 authentication differs, so each discards the other's adverts"
            if _mode_mismatch(a, b):
                return _mode_mismatch(a, b)
            return "every advert is well formed, so " + unreachable
        if ("vhid-collision", None) in g.raised:
            return f"two unrelated clusters share vhid {g.key.id} (see vhid-collision)"
        mismatch = _mode_mismatch(a, b)
        if mismatch:
            return mismatch
        pair = (a, b)
        verified = [m for m in pair if m.passphrase is not None]
        # Only evidence counts (PROTOCOL.md §9.7): a bad verdict is one against a known VIP set.
        if (any("bad" in m.verdicts for m in pair) or len({(m.passphrase, m.key_form) for m in verified}) > 1
                or len({m.vips for m in verified}) > 1):
            return ("their signatures do not verify across the members, so each drops the other's adverts: "
                    "the passphrases or the VIP sets differ; compare pass and the VIPs on both")
        if all(m.verdicts == {"ok"} for m in pair):
            return "every advert verifies, so " + unreachable
        for x, y in (pair, pair[::-1]):
            if _continues(y, x):
                return (f"{y.addr}'s first advert as master continues {x.addr}'s counter ({y.run_record.counter} "
                        f"= {x.addr}'s + 1): FreeBSD, pfSense and OPNsense copy the counter of each advert they "
                        f"accept (PROTOCOL.md §3), so {y.addr} accepted {x.addr}'s signed adverts and the "
                        f"passphrases and VIP sets match; the keys are not the problem: " + unreachable)
        if all(m.verdicts <= {"ok", "unverified"} for m in pair) and any(
                m.record.hmac_reason == "vips-unknown" for m in pair if isinstance(m.record, CarpAdvert)):
            return ("no signature check points to the passphrases (the VIP set is unknown, so adverts could not be "
                    "checked: give --vip to check them), so most likely " + unreachable)
        return ("signatures were not checked (give the passphrase with -p): either the passphrases or VIP sets "
                "differ, or " + unreachable)

    def _drop(self, g: _Group, m: _Member, at: float) -> list:
        """`m` has stopped advertising (silent for D, or judged so at the end of the capture)."""
        out: list = []
        m.active = False
        found: list[Finding] = []
        if g.master == m.addr:
            if g.contenders:
                heir = min(g.contenders, key=lambda a: (g.members[a].run_start, a))
                in_split = g.contenders.pop(heir)
                successor = g.members[heir]
                if in_split:
                    self._crown(g, successor)
                    out += self._maybe_end(g, m, successor)
                else:
                    out += self._change(g, m, successor, found)
            else:
                out.append(self._master_down(g, m, at))
        elif m.addr in g.contenders:
            master = g.members[g.master]
            if g.contenders.pop(m.addr):
                out += self._maybe_end(g, m, master)
            elif at - master.last > END_MISSED * rules.interval(master.params):
                # The master stopped after this newcomer's first advert (it would have expired
                # first otherwise): it handed over to the newcomer, which has now stopped too.
                master.active = False
                out += self._change(g, master, m, found)
                out.append(self._master_down(g, m, at))
        self._reschedule(g)
        return out + found

    def _master_down(self, g: _Group, m: _Member, at: float) -> Event:
        """`m`, the last master, has stopped and nobody took over: the group has none."""
        g.master = g.master_since = g.master_start = None
        g.previous = m.addr
        said = "said goodbye" if rules.resigns(m.record) else f"silent for {g.silence:.2f}s"
        return self._event(g, at, m.last_frame, ev.MASTER_DOWN, m.addr, expected=g.silence,
                           detail=f"{m.addr} {said} and no backup took over")

    def _maybe_end(self, g: _Group, gone: _Member, survivor: _Member) -> list:
        if any(g.contenders.values()):
            return []
        g.split = False
        return [self._event(g, gone.last, gone.last_frame, ev.SPLIT_BRAIN_ENDED, gone.addr, survivor.addr,
                            detail=f"{gone.addr} stopped advertising; {survivor.addr} remains master")]

    def _change(self, g: _Group, old: _Member, new: _Member, found: list) -> list:
        """master-changed old → new, with its cause (DESIGN.md causes)."""
        gap = max(0.0, new.run_start - old.last)
        overlap = old.last >= new.run_start
        first = new.params if rules.resigns(new.run_record) else new.run_record
        expected = rules.master_down(first, old.params, self._timing(new))
        last = old.record
        better = rules.beats(first, old.params if rules.resigns(last) else last)
        if rules.resigns(last):
            cause = ev.RESIGNED
            why = (f"{old.addr} sent a bow-out advert (advbase 255 advskew 255)" if isinstance(last, CarpAdvert)
                   else f"{old.addr} sent priority 0")
        elif not overlap and gap >= TIMER_SHARE * expected:
            cause = ev.MASTER_SILENT
            why = f"{old.addr} stopped; {new.addr} took over {gap:.2f}s after its last advert"
        elif better and (rules.demoted(last) or (g.master_start is not None and g.master == old.addr
                                                   and rules.preference(last) > rules.preference(g.master_start))):
            cause = ev.DEMOTED
            why = f"{old.addr} advertised {rules.describe(last)}, so {new.addr} ({rules.describe(first)}) is preferred"
            if old.demotion is not None:
                found += self._demotion_finding(g, old, f"and lost the mastership to {new.addr} by it",
                                                Severity.WARNING, keep=True)
        elif better:
            cause = ev.PREEMPTED
            when = ("while it still advertised" if overlap else "right after its last advert" if gap < 0.01
                    else f"{gap:.2f}s after its last advert")
            why = (f"{new.addr} ({rules.describe(first)}) is preferred to {old.addr} ({rules.describe(last)}) "
                   f"and took over {when}")
        else:
            cause = ev.UNKNOWN
            when = (f"while {old.addr} still advertised" if overlap else
                    f"{gap:.2f}s after {old.addr}'s last advert, sooner than a master-down timer,")
            rank = "their parameters tie" if better is None else f"it is not preferred to {old.addr}"
            why = f"{new.addr} took over {when} and {rank}"
        self._crown(g, new)
        g.contenders.pop(new.addr, None)
        timed = cause in (ev.MASTER_SILENT, ev.UNKNOWN)
        event = self._event(g, new.run_start, new.run_frame, ev.MASTER_CHANGED, old.addr, new.addr, cause, gap,
                            expected if timed else None, why)
        if cause == ev.MASTER_SILENT and gap > max(SLOW_FACTOR * expected,
                                                   expected + SLOW_INTERVALS * rules.interval(first)):
            found += self._raise(g, "slow-failover", ("change", new.run_frame), first,
                                 f"{new.addr} took over {gap:.2f}s after {old.addr}'s last advert, against a "
                                 f"master-down time of {expected:.2f}s: adverts were lost before the outage, or "
                                 f"the backup was busy or acts late; check its load and logs",
                                 time=new.run_start)
        found += self._flapping(g, event)
        return [event]

    def _flapping(self, g: _Group, event: Event) -> list[Finding]:
        """flapping: FLAP_CHANGES master changes within FLAP_WINDOW; raised once per episode.

        Changes mostly come in time order: a sliding window (a deque) then costs O(1).
        """
        t, changes = event.time, g.changes
        if not changes or t >= changes[-1]:
            changes.append(t)
            while changes[0] < t - FLAP_WINDOW:
                changes.popleft()
            recent = len(changes)
        else:  # concluded after a later change: sort the window again
            ordered = sorted([*changes, t])
            recent = sum(1 for x in ordered if t - FLAP_WINDOW <= x <= t)
            g.changes = deque((x for x in ordered if x >= t - FLAP_WINDOW), maxlen=FLAP_MEMORY)
        if recent < FLAP_CHANGES:
            return []
        episode = g.flapping_until is not None and event.time <= g.flapping_until
        g.flapping_until = max(event.time + FLAP_WINDOW, g.flapping_until or event.time)
        if episode:
            return []
        return self._raise(g, "flapping", ("episode", event.frame), None,
                           f"the master changed {recent} times within {FLAP_WINDOW:.0f}s (latest to "
                           f"{event.to}): {_flap_cause(g)}",
                           frame=event.frame, time=event.time)

    # -- values out -------------------------------------------------------------------

    def _event(self, g: _Group, time: float, frame: int | None, kind: str, from_: str | None = None,
               to: str | None = None, cause: str | None = None, gap: float | None = None,
               expected: float | None = None, detail: str = "") -> Event:
        k = g.key
        return Event(time, frame, k.proto, k.id, kind, from_, to, cause, gap, k.family, k.vlan, expected, detail)

    def _raise(self, g: _Group, kind: str, subject, r, detail: str, severity: Severity | None = None,
               frame: int | None = None, time: float | None = None) -> list[Finding]:
        """A group-level finding, once per group, kind and subject (a member, an episode, or None)."""
        token = (kind, subject)
        if token in g.raised:
            return []
        g.raised.add(token)
        if isinstance(subject, tuple) and subject[0] in ("episode", "change"):
            # Frames only grow, so only the latest episode can come up again: memory stays flat.
            g.raised.discard(g.episodes.get(kind))
            g.episodes[kind] = token
        if r is not None:
            frame = r.frame if frame is None else frame
            time = r.time if time is None else time
        k = g.key
        # Which members it is about (JSON schema 2): the subject, else the members the detail names.
        named = dict.fromkeys(w.rstrip(".:") for w in re.findall(r"[0-9A-Fa-f:.]{3,}", detail))
        members = (subject,) if isinstance(subject, str) else tuple(a for a in named if a in g.members)
        if not members and getattr(r, "src", None) in g.members:
            members = (r.src,)
        return [Finding(kind, severity or SEVERITY[kind], detail, frame, time, k.proto, k.id, k.family, k.vlan,
                        members)]

    def _state(self, g: _Group) -> GroupState:
        members = tuple(_member(m) for m in sorted(g.members.values(), key=_by_first))
        master = g.members.get(g.master) if g.master else None
        verified = [m for m in sorted(g.members.values(), key=_by_first) if m.vips is not None]
        source = master if master is not None and master.vips is not None else (verified[0] if verified else None)
        positions = {m.passphrase for m in g.members.values() if m.passphrase is not None}
        down_at = master.last + g.silence if master is not None and g.silence is not None else None
        advertising = tuple(a for a in ([g.master] if g.master else []) + list(g.contenders))
        return GroupState(g.key, g.master, g.master_since, members, g.last_advert, down_at,
                          source.vips if source else (), source.vips_from if source else None,
                          positions.pop() if len(positions) == 1 else None,
                          _overall(m.hmac for m in members) if members else None, advertising)


def _normals(g: _Group) -> list[tuple[str, CarpAdvert | VrrpAdvert]]:
    """(address, latest normal advert) of every member, in order of first advert."""
    return [(m.addr, m.normal) for m in sorted(g.members.values(), key=_by_first) if m.normal is not None]


def _advertising(g: _Group) -> list[_Member]:
    """The master and the contenders: the members that advertise now."""
    addrs = ([g.master] if g.master is not None else []) + list(g.contenders)
    return [g.members[a] for a in addrs]


def _first_backup(g: _Group, kind: int, heap: list) -> _Member | None:
    """The member on top of a backup heap, other than the master; stale entries are dropped."""
    master = []
    while heap:
        key, addr = heap[0]
        m = g.members.get(addr)
        if m is None or m.keyed != (kind, key):
            heapq.heappop(heap)
        elif addr == g.master:
            master.append(heapq.heappop(heap))
        else:
            break
    top = g.members[heap[0][1]] if heap else None
    for entry in master:
        heapq.heappush(heap, entry)
    return top


def _what(cap: str, r) -> str:
    """Whose adverts a cap left out, for limit-reached."""
    name = f"{'CARP vhid' if r.proto == 'carp' else 'VRRP vrid'} {r.id}"
    if r.vlan:
        name += f" on VLAN {'.'.join(map(str, r.vlan))}"
    if cap.endswith("groups"):
        return f"groups past the {GROUPS_MAX}th (the first: {name})"
    if cap.endswith("per group"):
        return f"sources past a group's {MEMBERS_MAX}th (the first: {r.src} in {name})"
    return f"sources past the {MEMBERS_TOTAL}th (the first: {r.src} in {name})"


def _tid(r: CarpAdvert | VrrpAdvert) -> tuple:
    """A group's dict and heap key: (proto, id, family, vlan)."""
    return (r.proto, r.id, r.family, tuple(r.vlan))


def _member(m: _Member) -> Member:
    p = m.params
    name, evidence = _stack(m)
    if isinstance(p, CarpAdvert):
        return Member(m.addr, m.mac, p.advbase, p.advskew, p.demote, None, m.adverts, _verdict(m.verdicts),
                      m.first, m.last, m.passphrase, p.version, name, evidence)
    return Member(m.addr, m.mac, p.adver_int, None, None, p.priority, m.adverts, _verdict(m.verdicts),
                  m.first, m.last, None, p.version, name, evidence)


def _clues(m: _Member, r) -> bool:
    """Note what `r` tells about `m`'s stack; True when that is news (stack.py)."""
    seen, news = m.seen, {}
    if isinstance(r, CarpAdvert):
        if r.demote and r.demote > seen.get("demote", 0):
            news["demote"] = r.demote
        if rules.resigns(r):
            news["bow_out"] = True
        elif r.advskew > stacks.MAX_WIRE_ADVSKEW:
            news["advskew_over_cap"] = True
        if r.hmac == "ok" and r.hmac_variant:
            news["variant"] = r.hmac_variant
    unicast = not stacks.multicast(r.dst)
    if unicast != seen.get("unicast", False):
        news["unicast"] = unicast
    news = {k: v for k, v in news.items() if seen.get(k) != v}
    seen.update(news)
    return bool(news)


def _stack(m: _Member) -> tuple[str, str]:
    """(stack, evidence) of a member, from its clues, counters and MAC."""
    seen = m.seen
    counting = seen.get("counting", False)
    if not counting and len(m.counters) >= 2:  # the latest two counters (repeats skip _counters)
        latest = reversed(m.counters)
        c2, c1 = next(latest)[0], next(latest)[0]
        counting = (c1 + 1) % _COUNTER_MOD == c2
    clues = stacks.Clues(m.record.proto, m.mac, m.adverts, len(m.counters), counting,
                         seen.get("demote", 0), seen.get("bow_out", False), seen.get("advskew_over_cap", False),
                         seen.get("variant"), seen.get("unicast", False), m.params.version)
    return stacks.fingerprint(clues)


def _flap_cause(g: _Group) -> str:
    """What to check for a flapping group: a protocol-112 collision first, when there is one."""
    if any(kind == "vrrp-collision" for kind, _ in g.raised):
        return (f"the CARP adverts of vhid {g.key.id} on the same segment disturb the VRRP routers' timers "
                f"(see vrrp-collision): a backup times out and the master preempts it again; give one group "
                f"another id")
    return ("check link state, demotion counters, preemption settings and multicast delivery between the "
            "members")


def _mode_mismatch(a: _Member, b: _Member) -> str:
    """A split-brain cause of its own: one sends unicast, the other multicast (PROTOCOL.md §9.4)."""
    ua, ub = a.seen.get("unicast", False), b.seen.get("unicast", False)
    if ua == ub:
        return ""
    uni, multi = (a, b) if ua else (b, a)
    return (f"{uni.addr} sends its adverts unicast (to {uni.record.dst}) and {multi.addr} multicast (to "
            f"{multi.record.dst}): a node configured for unicast peers ignores multicast adverts and vice versa; "
            f"configure carppeer/peer on both or on neither")


def _verdict(verdicts) -> str:
    """One word for a set of signature verdicts: a failure next to a success is "mixed"."""
    verdicts = set(verdicts)
    if "mixed" in verdicts or {"ok", "bad"} <= verdicts:
        return "mixed"
    for word in ("bad", "ok", "unverified"):
        if word in verdicts:
            return word
    return "n/a"


def _overall(words) -> str:
    return _verdict(words)


def _by_first(m: _Member) -> tuple:
    return (m.first, m.addr)


def _position(p: int | None) -> str:
    return "the empty key" if p == 0 else f"passphrase {p}"


def _continues(y: _Member, x: _Member) -> bool:
    """Does y's first advert of its run carry one of x's recent counters + 1 (PROTOCOL.md §3)?"""
    first = y.run_record
    if not isinstance(first, CarpAdvert) or first.counter is None:
        return False
    want = (first.counter - 1) % _COUNTER_MOD
    return any(c == want for c, _ in x.counters)


_FORMS = MappingProxyType({"pfsense-gui": "pfSense/OPNsense", "stale-tail": "stale-tail",
                           "netlink-20": "20-byte netlink"})


def _form(form: str | None) -> str:
    """How a verified key was formed, when it is not the pass as typed (auth key forms)."""
    return f" (in its {_FORMS.get(form, form)} form)" if form else ""


def _diff(old, new) -> str:
    """advskew 0 -> 240: what a parameters-changed event reports."""
    if isinstance(new, CarpAdvert):
        names = ("advbase", "advskew", "demote")
    else:
        names = ("version", "priority", "adver_int")
    parts = [f"{n} {getattr(old, n)} -> {getattr(new, n)}" for n in names
             if (getattr(old, n) or 0) != (getattr(new, n) or 0)]
    return ", ".join(parts)


def _demoted_detail(addr: str, first: CarpAdvert, values: tuple[int, ...], how: str, mid_life: bool,
                    cleared: bool) -> str:
    """What a demotion looked like on the wire, and its likely reason (PROTOCOL.md §9.2)."""
    openbsd = bool(first.demote)
    field = "demote" if openbsd else "advskew"
    seen = " -> ".join(str(v) for v in values)
    reason = stacks.demotion_reason(values, openbsd=openbsd, mid_life=mid_life, cleared=cleared)
    tail = " (normal while a node boots)" if cleared and not mid_life else ""
    return f"{addr} advertised {field} {seen} {how}{tail}: likely {reason}"
