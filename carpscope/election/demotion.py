"""demoted, at the severity it deserves (docs/protocol.md §9.2).

A demotion from a member's first advert may be the boot interlock or pfsync's bulk
update: info once it clears, a warning if it never does (`at_end`) or if the member
loses the mastership by it (`lost`). One that appears after undemoted adverts
(mid-life) is a warning at once.
"""

from __future__ import annotations

from carpscope import findings as k
from carpscope.election import rules
from carpscope.election import stack as stacks
from carpscope.election.members import Group, Source
from carpscope.model import CarpAdvert, Finding, Severity


def check(g: Group, m: Source, r: CarpAdvert) -> list[Finding]:
    """What `r`, m's latest advert, changes in `m`'s demotion episode."""
    if m.bye:  # (rules.resigns(r), worked out once an advert: Tracker._learn)
        return []
    d = m.demotion
    if not (r.demote or r.advskew == rules.DEMOTED_ADVSKEW):  # (rules.demoted, past its resigns test)
        m.seen["undemoted"] = True
        if d is None:
            return []
        return _finding(g, m, f"then cleared ({rules.describe(r)}) after {r.time - d[0].time:.2f}s",
                        Severity.INFO, cleared=True)
    value = r.demote or r.advskew
    if d is None:
        m.demotion = d = [r, [value], bool(m.seen.get("undemoted"))]
    elif d[1][-1] != value:
        d[1].append(value)
    if d[2]:
        return _finding(g, m, "after advertising undemoted", Severity.WARNING, keep=True)
    return []


def lost(g: Group, old: Source, new: Source) -> list[Finding]:
    """`old` lost the mastership to `new` by its demotion."""
    if old.demotion is None:
        return []
    return _finding(g, old, f"and lost the mastership to {new.addr} by it", Severity.WARNING, keep=True)


def at_end(g: Group, m: Source, now: float) -> list[Finding]:
    """The capture ended during `m`'s demotion episode."""
    if m.demotion is None:
        return []
    how = ("and still did at the end of the capture" if m.active else
           "and was not seen undemoted before the end of the capture")
    return _finding(g, m, f"{how}, {now - m.demotion[0].time:.2f}s later", Severity.WARNING)


def _finding(g: Group, m: Source, how: str, severity: Severity, cleared: bool = False,
             keep: bool = False) -> list[Finding]:
    """The demoted finding of `m`'s current demotion episode, once per episode."""
    first, values, mid_life = m.demotion
    if not keep:
        m.demotion = None
    if (k.DEMOTED, (m.addr, first.frame)) in g.raised:
        return []
    return g.raise_(k.DEMOTED, (m.addr, first.frame), first,
                    _detail(m.addr, first, tuple(values), how, mid_life, cleared), severity)


def _detail(addr: str, first: CarpAdvert, values: tuple[int, ...], how: str, mid_life: bool,
            cleared: bool) -> str:
    """What a demotion looked like on the wire, and its likely reason (docs/protocol.md §9.2)."""
    openbsd = bool(first.demote)
    field = "demote" if openbsd else "advskew"
    seen = " -> ".join(str(v) for v in values)
    reason = stacks.demotion_reason(values, openbsd=openbsd, mid_life=mid_life, cleared=cleared)
    tail = " (normal while a node boots)" if cleared and not mid_life else ""
    return f"{addr} advertised {field} {seen} {how}{tail}: likely {reason}"
