"""A group's election phase, and every transition between phases in one place.

Only masters advertise (docs/protocol.md §4), so the phase follows from who advertises:

    phase       master   contenders          what the wire shows
    NO_MASTER   none     -                   nobody advertises (yet, or since master-down)
    MASTER      one      none                one source advertises
    CONTESTED   one      none in split       a newcomer advertises too: a takeover in progress
    SPLIT       one      one or more in it   master and newcomer overlapped for more than D

Transitions (the functions below; the tracker decides *when*, from timers and adverts):

    from        to                  functions                event the tracker reports
    NO_MASTER   MASTER              recall, crown            master-elected (first advert, or the old master back)
    NO_MASTER   MASTER              recall, take_over        master-changed (a newcomer after master-down;
                                    or succeed, both in one  a flap, election/flap.py)
    MASTER      MASTER              take_over                master-changed (goodbye, timeout due, VRRP preempts)
    MASTER      CONTESTED           contend                  none yet: the wire must tell which
    CONTESTED   SPLIT               diverge                  split-brain-started (overlap longer than D)
    CONTESTED   MASTER, CONTESTED   take_over                master-changed (the master went silent)
    CONTESTED   MASTER, CONTESTED   withdraw                 none (a newcomer stopped within D)
    SPLIT       MASTER, CONTESTED   withdraw, crown?, heal   split-brain-ended (one side went silent)
    MASTER      NO_MASTER           depose                   master-down

The fields live on members.Group (`master`, `previous`, `contenders`, `split`, and
`waiting`, how many contenders are not in split brain), so
the steady-state fast path reads them without a call; only these functions write
them. `TRANSITIONS` lists every change of phase one advert or timeout may show.
"""

from __future__ import annotations

import enum
import heapq

from carpscope.election.members import Group, Source


class Phase(enum.Enum):
    NO_MASTER = "no-master"
    MASTER = "master"
    CONTESTED = "contested"
    SPLIT = "split"


_N, _M, _C, _S = Phase.NO_MASTER, Phase.MASTER, Phase.CONTESTED, Phase.SPLIT
# What one advert or one timeout check (`Tracker.observe`, `advance`) can change the phase
# to. Never straight to SPLIT from NO_MASTER or MASTER: a newcomer must overlap the master
# for D as a contender first. One `advance` may conclude several timeouts, so a step may
# chain transitions (SPLIT → NO_MASTER when both sides went silent).
TRANSITIONS = frozenset({
    (_N, _M),  # crown
    (_N, _C),  # crown, with newcomers a drop at the end of a capture left behind
    (_M, _C),  # contend
    (_C, _S),  # diverge
    (_C, _M), (_S, _C), (_S, _M),  # withdraw and heal, or take_over by a contender
    (_M, _N), (_C, _N), (_S, _N),  # depose (the other side stopped in the same step)
})


def phase_of(g: Group) -> Phase:
    """The phase the group's fields say it is in."""
    if g.master is None:
        return Phase.NO_MASTER
    if not g.contenders:
        return Phase.MASTER
    return Phase.SPLIT if g.split else Phase.CONTESTED


def crown(g: Group, m: Source) -> None:
    """`m` is master from its current run on."""
    g.master, g.master_since, g.master_start = m.addr, m.run_start, m.normal or m.record  # (m.params, no call)
    g.dirty = True


def take_over(g: Group, m: Source) -> None:
    """master-changed: `m` is master, and no longer a contender if it was one."""
    crown(g, m)
    if g.contenders.pop(m.addr, None) is False:
        g.waiting -= 1


def succeed(g: Group, m: Source) -> None:
    """NO_MASTER → MASTER, without contenders: `m` takes over from the master declared down (recall and
    take_over in one call: a flapping group's every other advert)."""
    g.previous = None
    g.master, g.master_since, g.master_start = m.addr, m.run_start, m.normal or m.record
    g.dirty = True


def recall(g: Group) -> Source | None:
    """NO_MASTER, someone advertises: the master declared down, forgotten from now on."""
    previous = g.members.get(g.previous) if g.previous else None
    g.previous = None
    return previous


def contend(g: Group, m: Source) -> None:
    """MASTER → CONTESTED: another source advertises while the master does."""
    if g.contenders.get(m.addr) is not False:
        g.waiting += 1
    g.contenders[m.addr] = False
    heapq.heappush(g.heirs, (m.run_start, m.addr))
    if len(g.heirs) > 2 * len(g.contenders) + 16:  # withdrawn ones below the top: rebuild (amortised O(1))
        g.heirs[:] = [(g.members[a].run_start, a) for a in g.contenders]
        heapq.heapify(g.heirs)


def heir(g: Group) -> str:
    """The contender that advertised first (then the lowest address): it follows a master that stopped.

    From a heap (`contend` fills it, entries of former contenders are dropped here),
    not a walk over the contenders: with forged senders the master stops every frame.
    """
    heap = g.heirs
    while heap:
        run_start, addr = heap[0]
        m = g.members.get(addr)
        if m is None or addr not in g.contenders:
            heapq.heappop(heap)
        elif m.run_start != run_start:
            heapq.heapreplace(heap, (m.run_start, addr))
        else:
            return addr
    return min(g.contenders, key=lambda a: (g.members[a].run_start, a))  # (none left: never with contenders)


def diverge(g: Group, c: Source) -> bool:
    """CONTESTED → SPLIT for contender `c`; True when that opens a split-brain episode."""
    if g.contenders.get(c.addr) is False:
        g.waiting -= 1
    g.contenders[c.addr] = True
    if g.split:
        return False
    g.split = True
    return True


def withdraw(g: Group, addr: str) -> bool:
    """A contender stopped, or became master: was it in split brain?"""
    in_split = g.contenders.pop(addr)
    if not in_split:
        g.waiting -= 1
    return in_split


def heal(g: Group) -> bool:
    """SPLIT ends when no contender left is in it; True when it just ended."""
    if len(g.contenders) > g.waiting:  # one is still in it
        return False
    g.split = False
    return True


def depose(g: Group, m: Source) -> None:
    """→ NO_MASTER: `m`, the master, stopped and nobody took over."""
    g.master = g.master_since = g.master_start = None
    g.previous = m.addr
