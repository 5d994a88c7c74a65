"""Why a master changed: the cause of a master-changed event, in docs/design.md's words.

The wire shows the old master's last advert, the new one's first, and the gap
between them; the cause follows from how the gap compares with the backup's
master-down time and from which parameters each advertised.
"""

from __future__ import annotations

from carpscope.election import demotion, rules
from carpscope.election import events as ev
from carpscope.election.members import Group, Source
from carpscope.model import CarpAdvert, Finding

TIMER_SHARE = 0.5  # a takeover at least half a master-down after the last advert may be the timer's


def cause(g: Group, old: Source, new: Source, first, gap: float,
          expected: float) -> tuple[str, str, list[Finding]]:
    """Why old lost the mastership to new: (cause, its wording, a demoted finding if it was that)."""
    overlap = old.last >= new.run_start
    last = old.record
    if old.bye:  # (rules.resigns(last), kept with it)
        return ev.RESIGNED, (f"{old.addr} sent a bow-out advert (advbase 255 advskew 255)"
                             if isinstance(last, CarpAdvert) else f"{old.addr} sent priority 0"), []
    if not overlap and gap >= TIMER_SHARE * expected:
        return ev.MASTER_SILENT, silent(old, new, gap), []
    better = rules.beats(first, last)  # (only now: a flapping group's every advert is a master-silent change)
    if better and (rules.demoted(last) or (g.master_start is not None and g.master == old.addr
                                           and rules.preference(last) > rules.preference(g.master_start))):
        why = f"{old.addr} advertised {rules.describe(last)}, so {new.addr} ({rules.describe(first)}) is preferred"
        return ev.DEMOTED, why, demotion.lost(g, old, new)
    if better:
        when = ("while it still advertised" if overlap else "right after its last advert" if gap < 0.01
                else f"{gap:.2f}s after its last advert")
        return ev.PREEMPTED, (f"{new.addr} ({rules.describe(first)}) is preferred to {old.addr} "
                              f"({rules.describe(last)}) and took over {when}"), []
    when = (f"while {old.addr} still advertised" if overlap else
            f"{gap:.2f}s after {old.addr}'s last advert, sooner than a master-down timer,")
    rank = "their parameters tie" if better is None else f"it is not preferred to {old.addr}"
    return ev.UNKNOWN, f"{new.addr} took over {when} and {rank}", []


def silent(old: Source, new: Source, gap: float) -> str:
    """master-silent's wording, kept on `new` for the same gap after the same master: a flapping
    group's every advert says it again, and a float's formatting is most of an f-string's cost."""
    took = new.took
    if took is None or took[0] != gap or took[1] != old.addr:
        took = new.took = (gap, old.addr, f"{old.addr} stopped; {new.addr} took over {gap:.2f}s after its last advert")
    return took[2]
