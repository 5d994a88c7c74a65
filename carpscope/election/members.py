"""What the tracker keeps about each source and each group: mutable, private to election/.

A `Source` is one sender of one group's adverts; a `Group` holds its sources, its
phase fields (phase.py names and moves them) and the bookkeeping that keeps every
advert O(1) or O(log n): the backup heaps (`enlist`, `first_backup`), the
consistency counts (`count`) and the findings already raised (`raise_`).
"""

from __future__ import annotations

import heapq
import re
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import ClassVar

from carpscope.election import rules
from carpscope.election.events import Event
from carpscope.election.events import builder as event_builder
from carpscope.findings import SEVERITY
from carpscope.model import Builder, CarpAdvert, Finding, GroupKey, Severity, VrrpAdvert

FLAP_MEMORY = 4096  # master changes remembered per group for flapping (a count past it reads as 4096)
COUNTER_MEMORY = 256  # (counter, md) pairs remembered per source for replay detection
COUNTER_MOD = 1 << 64
_GROUP_KEY = Builder(GroupKey, ("proto", "id", "family", "vlan"))
_ADDRESSES = re.compile(r"[0-9A-Fa-f:.]{3,}")


class Source:
    """What the tracker knows about one source of one group."""

    __slots__ = ("addr", "mac", "first", "first_frame", "last", "last_frame", "prev_last", "adverts",
                 "record", "normal", "verdicts", "passphrase", "vips", "vips_from", "key_form", "counters",
                 "last_key", "last_key_time", "last_counter", "active", "run_start", "run_frame",
                 "run_record", "bad_run", "first_bad", "due", "down", "down_for", "seen", "demotion",
                 "keyed", "counted", "ripe", "timing", "bye", "said", "took")

    def __init__(self, r: CarpAdvert | VrrpAdvert):
        self.addr = r.src
        self.mac = r.src_mac
        self.first = self.last = r.time
        self.first_frame = self.last_frame = r.frame
        self.prev_last: float | None = None
        self.adverts = 0
        self.record = r  # latest advert
        self.bye = False  # rules.resigns(record): the tracker sets both together (Tracker._learn)
        self.normal: CarpAdvert | VrrpAdvert | None = None  # latest advert that is not a goodbye
        self.verdicts: set[str] = set()
        self.passphrase: int | None = None  # latest position that verified
        self.vips: tuple[str, ...] | None = None  # latest VIP set that verified
        self.vips_from: str | None = None
        self.key_form: str | None = None  # how the passphrase became the key (auth key forms)
        self.counters: OrderedDict = OrderedDict()  # (counter, md) -> last time seen (`remember`)
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
        self.due: float | None = None  # deadline of this source's entry in the tracker's heap
        self.down = 0.0  # its master-down time as a backup of down_for = (its params, the master's)
        self.down_for: tuple | None = None
        self.seen: dict = {}  # stack clues from its adverts (stack.Clues fields)
        self.demotion: list | None = None  # [first demoted advert, values seen, advertised undemoted before]
        self.keyed: tuple | None = None  # its entry in the group's backup heaps (see `Group.enlist`)
        self.counted: tuple | None = None  # what `Group.count` counted for it
        self.ripe: tuple | None = None  # (generation, run_start) of its entry in the group's ripe heap
        self.timing: tuple | None = None  # (one counter?, its Timing): Timers.timing_of's, until a clue moves
        self.said: tuple | None = None  # (D, its master-down detail): Tracker._master_down's wording, kept
        self.took: tuple | None = None  # (gap, old master, why) of its latest master-silent takeover (causes.silent)

    @property
    def params(self) -> CarpAdvert | VrrpAdvert:
        return self.normal or self.record

    def remember(self, key: tuple, t: float, counter: int) -> None:
        """Note a (counter, md) at `t`: the newest last, the oldest forgotten past COUNTER_MEMORY."""
        counters = self.counters
        if key in counters:
            counters.move_to_end(key)
            counters[key] = t
        else:
            counters[key] = t  # a new key goes last by itself
            if len(counters) > COUNTER_MEMORY:
                counters.popitem(last=False)
        self.last_key, self.last_key_time, self.last_counter = key, t, counter


class Steady:
    """A template advert's group and member, found once for all its repeats (Tracker.repeat, issue 19).

    The member stays the one that advert updated while its latest advert is `record`
    and it advertises: a member forgotten by limits.evict had stopped and never
    starts again, and groups are never forgotten.
    """

    __slots__ = ("record", "group", "member", "window", "bad")

    def __init__(self, record: CarpAdvert | VrrpAdvert, group: Group, member: Source):
        self.record, self.group, self.member = record, group, member
        # A repeat of the latest CARP counter sooner than this is a loop.
        self.window = loop_window(record) if isinstance(record, CarpAdvert) else 0.0
        self.bad = record.hmac == "bad"


def loop_window(r: CarpAdvert) -> float:
    """A repeat of the latest (counter, md) sooner than this is a loop (half the interval, docs/protocol.md §3)."""
    return max(r.advbase + r.advskew / 256, 1 / 256) / 2  # (rules.carp_interval, inlined: twice a flap)


def by_first(m: Source) -> tuple:
    return (m.first, m.addr)


def tid(r: CarpAdvert | VrrpAdvert) -> tuple:
    """A group's dict and heap key: (proto, id, family, vlan)."""
    return (r.proto, r.id, r.family, tuple(r.vlan))


class Group:
    """One group's sources, election fields and bookkeeping."""

    __slots__ = ("key", "tid", "members", "master", "master_since", "master_start", "previous", "contenders",
                 "waiting", "heirs", "split", "silence", "dirty", "last_advert", "changes", "flapping_until", "raised",
                 "backups", "backups3", "spread", "ties", "tied", "episodes", "ripe", "checked",
                 "generation", "latest", "running")
    _build_event: ClassVar[Callable[..., Event] | None] = None  # events.builder's, set by the first `event`

    def __init__(self, key: tuple):
        self.tid = key  # (proto, id, family, vlan): a cheap dict and heap key
        self.key = _GROUP_KEY(*key)  # GroupKey(*key), without the frozen __init__ (a group an advert, issue 20)
        self.members: dict[str, Source] = {}
        # The phase (phase.py): who is master, who was, who else advertises, and whether
        # a split brain is on. Only phase.py's transitions write these (and `waiting`).
        self.master: str | None = None
        self.master_since: float | None = None
        self.master_start: CarpAdvert | VrrpAdvert | None = None  # the master's params when it took over
        self.previous: str | None = None  # the master declared down, until someone else advertises
        self.contenders: dict[str, bool] = {}  # other sources advertising -> already in split brain?
        self.waiting = 0  # contenders not (yet) in split brain: the False ones, without a walk
        self.heirs: list = []  # (run_start, addr) of contenders, for phase.heir
        self.split = False
        self.silence: float | None = None  # D: the master-down time that applies now
        self.dirty = True  # D must be recomputed (new member, new parameters, new master)
        self.last_advert: float | None = None
        self.changes: deque = deque(maxlen=FLAP_MEMORY)  # times of master changes within the flap window
        self.flapping_until: float | None = None
        self.raised: set = set()  # (kind, subject) of findings already raised
        self.episodes: dict = {}  # kind -> its latest ("episode" or "change", frame) token in raised
        # For split.crossing without a walk over the contenders: (run_start, addr) of the contenders
        # not in split brain whose own run already lasts longer than D, so only the master's adverts
        # are missing; valid for the (D, master, its run) in `checked` and the entries of `generation`.
        self.ripe: list = []
        self.checked: tuple | None = None
        self.generation = 0
        # Contenders that advertised more than once in their run (a superset: split.py drops the
        # stale ones): only they can have run longer than D, so a new D or master walks them alone,
        # not every contender (forged senders, one advert each: issue 20).
        self.running: set[str] = set()
        self.latest: Source | None = None  # the member whose advert the tracker is deciding on
        # Members' master-down times as backups, for the tracker's D without a walk over every
        # member: heaps of (key, addr) with lazy deletion, CARP and VRRPv2 by the time itself,
        # VRRPv3 by priority (its time also depends on the master's interval).
        self.backups: list = []
        self.backups3: list = []
        # For consistency.py: how many members advertise each advbase (VRRP: version and
        # adver_int), each preference (ties), and how many preferences two or more share.
        self.spread: dict = {}  # (a dict, not a Counter: a group an advert, issue 20)
        self.ties: dict = {}
        self.tied = 0

    # -- values out ---------------------------------------------------------------

    def event(self, time: float, frame: int | None, kind: str, from_: str | None = None, to: str | None = None,
              cause: str | None = None, gap: float | None = None, expected: float | None = None,
              detail: str = "") -> Event:
        """An event of this group (events.event, compiled at the first one: events.builder)."""
        build = Group._build_event or Group.builder()
        proto, id_, family, vlan = self.tid
        return build(time, frame, proto, id_, kind, family, vlan, from_, to, cause, gap, expected, detail)

    @staticmethod
    def builder() -> Callable[..., Event]:
        """events.builder's function, compiled once: `event` without its layer, where a flap makes two
        (election/flap.py, Tracker._master_down): (time, frame, proto, id, kind, family, vlan, from_, to,
        cause, gap, expected, detail), all positional."""
        if Group._build_event is None:
            Group._build_event = event_builder()
        return Group._build_event

    def raise_(self, kind: str, subject, r, detail: str, severity: Severity | None = None,
               frame: int | None = None, time: float | None = None) -> list[Finding]:
        """A group-level finding, once per group, kind and subject (a member, an episode, or None)."""
        token = (kind, subject)
        if token in self.raised:
            return []
        self.raised.add(token)
        if isinstance(subject, tuple) and subject[0] in ("episode", "change"):
            # Frames only grow, so only the latest episode can come up again: memory stays flat.
            self.raised.discard(self.episodes.get(kind))
            self.episodes[kind] = token
        if r is not None:
            frame = r.frame if frame is None else frame
            time = r.time if time is None else time
        k = self.key
        # Which members it is about (JSON schema 2): the subject, else the members the detail names.
        named = dict.fromkeys(w.rstrip(".:") for w in _ADDRESSES.findall(detail))
        members = (subject,) if isinstance(subject, str) else tuple(a for a in named if a in self.members)
        if not members and getattr(r, "src", None) in self.members:
            members = (r.src,)
        return [Finding(kind=kind, severity=severity or SEVERITY[kind], detail=detail, frame=frame, time=time,
                        proto=k.proto, id=k.id, family=k.family, vlan=k.vlan, members=members)]

    # -- members ------------------------------------------------------------------

    def normals(self) -> list[tuple[str, CarpAdvert | VrrpAdvert]]:
        """(address, latest normal advert) of every member, in order of first advert."""
        return [(m.addr, m.normal) for m in sorted(self.members.values(), key=by_first) if m.normal is not None]

    def advertising(self) -> list[Source]:
        """The master and the contenders: the members that advertise now."""
        if not self.contenders:  # (the usual case, after every master change: no lists to join)
            return [self.members[self.master]] if self.master is not None else []
        addrs = ([self.master] if self.master is not None else []) + list(self.contenders)
        return [self.members[a] for a in addrs]

    # -- backup heaps -------------------------------------------------------------

    def enlist(self, m: Source, down) -> None:
        """Put `m` (new parameters) in the backup heaps: its old entry goes stale.

        CARP and VRRPv2 backups time out on their own parameters, so the key is the
        time (`down(m, None)`); a VRRPv3 backup uses the master's interval with its own
        priority, and Skew_Time falls as priority rises (RFC 5798 §6.1), so the key is
        the priority.
        """
        n = m.normal
        if n is None:
            return
        if isinstance(n, VrrpAdvert) and n.version == 3:
            kind, heap, key = 1, self.backups3, -max(n.priority, 1)
        else:
            kind, heap, key = 0, self.backups, down(m, None)
        if m.keyed == (kind, key):
            return
        m.keyed = (kind, key)
        heapq.heappush(heap, (key, m.addr))
        if len(heap) > 2 * len(self.members) + 16:  # stale entries: rebuild (amortised O(1) per push)
            heap[:] = [(k[1], a) for a, k in ((a, o.keyed) for a, o in self.members.items()) if k and k[0] == kind]
            heapq.heapify(heap)

    def first_backup(self, kind: int, heap: list) -> Source | None:
        """The member on top of a backup heap, other than the master; stale entries are dropped."""
        master = []
        while heap:
            key, addr = heap[0]
            m = self.members.get(addr)
            if m is None or m.keyed != (kind, key):
                heapq.heappop(heap)
            elif addr == self.master:
                master.append(heapq.heappop(heap))
            else:
                break
        top = self.members[heap[0][1]] if heap else None
        for entry in master:
            heapq.heappush(heap, entry)
        return top

    # -- consistency counts -------------------------------------------------------

    def count(self, m: Source) -> None:
        """Move `m` in the counts: advbase (VRRP: version and adver_int) and preference.

        A preference counts for a skew-tie when its member is not demoted (CARP) or
        its priority is not 0 (VRRP); `tied` is how many preferences two share.
        """
        n = m.normal
        seen: tuple | None
        if n is None:
            seen = None
        elif isinstance(n, CarpAdvert):
            seen = (n.advbase, None if rules.demoted(n) else rules.preference(n))
        else:
            seen = ((n.version or 0, n.adver_int), n.priority or None)
        if seen == m.counted:
            return
        for step, value in ((-1, m.counted), (1, seen)):
            if value is not None:
                self._step(step, *value)
        m.counted = seen

    def _step(self, step: int, spread, rank) -> None:
        count = self.spread.get(spread, 0) + step
        if count:
            self.spread[spread] = count
        else:
            self.spread.pop(spread, None)
        if rank is not None:
            before = self.ties.get(rank, 0)
            self.ties[rank] = before + step
            if not self.ties[rank]:
                del self.ties[rank]
            self.tied += (before + step >= 2) - (before >= 2)
