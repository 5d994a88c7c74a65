"""Master changes that come too often (flapping) or too late (slow-failover)."""

from __future__ import annotations

from collections import deque

from carpscope import findings as k
from carpscope.election import rules
from carpscope.election.events import Event
from carpscope.election.members import FLAP_MEMORY, Group, Source
from carpscope.model import Finding

FLAP_WINDOW = 300.0  # three or more master changes within five minutes is flapping
FLAP_CHANGES = 3
SLOW_FACTOR = 1.5  # a takeover later than 1.5 x master-down ...
SLOW_INTERVALS = 2  # ... and two advert intervals late (ucarp acts up to ~1 interval late, captures/README)


def check(g: Group, event: Event) -> list[Finding]:
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
    until = g.flapping_until
    if until is not None and t <= until:  # the episode goes on: no finding (every change of a flapping group)
        if not until or t + FLAP_WINDOW > until:  # (max(t + FLAP_WINDOW, until or t), without the call)
            g.flapping_until = t + FLAP_WINDOW
        return []
    g.flapping_until = max(t + FLAP_WINDOW, until or t)
    return g.raise_(k.FLAPPING, ("episode", event.frame), None,
                    f"the master changed {recent} times within {FLAP_WINDOW:.0f}s (latest to "
                    f"{event.to}): {_cause(g)}",
                    frame=event.frame, time=event.time)


def slow_failover(g: Group, old: Source, new: Source, first, gap: float, expected: float) -> list[Finding]:
    """A backup that took over well after its master-down timer: adverts lost, or a busy backup."""
    if gap <= SLOW_FACTOR * expected or gap <= expected + SLOW_INTERVALS * rules.interval(first):
        return []
    return g.raise_(k.SLOW_FAILOVER, ("change", new.run_frame), first,
                    f"{new.addr} took over {gap:.2f}s after {old.addr}'s last advert, against a "
                    f"master-down time of {expected:.2f}s: adverts were lost before the outage, or "
                    f"the backup was busy or acts late; check its load and logs",
                    time=new.run_start)


def _cause(g: Group) -> str:
    """What to check for a flapping group: a protocol-112 collision first, when there is one."""
    if any(kind == k.VRRP_COLLISION for kind, _ in g.raised):
        return (f"the CARP adverts of vhid {g.key.id} on the same segment disturb the VRRP routers' timers "
                f"(see vrrp-collision): a backup times out and the master preempts it again; give one group "
                f"another id")
    return ("check link state, demotion counters, preemption settings and multicast delivery between the "
            "members")
