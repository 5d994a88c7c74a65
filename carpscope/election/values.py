"""From the tracker's mutable sources to the immutable values views take, and stack clues.

Views get `GroupState` and `Member` (events.py) built here; a source's stack
(stack.py) is told from the clues `clues` notes as its adverts arrive.
"""

from __future__ import annotations

from typing import Any

from carpscope.election import stack as stacks
from carpscope.election.events import GroupState, Member
from carpscope.election.members import COUNTER_MOD, Group, Source, by_first
from carpscope.model import CarpAdvert


def group_state(g: Group) -> GroupState:
    """A group as it stands."""
    ordered = sorted(g.members.values(), key=by_first)
    members = tuple(member(m) for m in ordered)
    master = g.members.get(g.master) if g.master else None
    verified = [m for m in ordered if m.vips is not None]
    source = master if master is not None and master.vips is not None else (verified[0] if verified else None)
    positions = {m.passphrase for m in g.members.values() if m.passphrase is not None}
    down_at = master.last + g.silence if master is not None and g.silence is not None else None
    advertising = tuple(a for a in ([g.master] if g.master else []) + list(g.contenders))
    return GroupState(key=g.key, master=g.master, master_since=g.master_since, members=members,
                      last_advert=g.last_advert, master_down_at=down_at,
                      vips=source.vips if source else (), vips_from=source.vips_from if source else None,
                      passphrase=positions.pop() if len(positions) == 1 else None,
                      hmac=verdict(m.hmac for m in members) if members else None, advertising=advertising)


def member(m: Source) -> Member:
    """One source as views see it; VRRP's adver_int goes in `advbase` (events.Member)."""
    p = m.params
    name, evidence = stack(m)
    common: dict[str, Any] = {"addr": m.addr, "mac": m.mac, "adverts": m.adverts, "hmac": verdict(m.verdicts),
                              "first": m.first, "last": m.last, "version": p.version, "stack": name,
                              "stack_evidence": evidence}
    if isinstance(p, CarpAdvert):
        return Member(advbase=p.advbase, advskew=p.advskew, demote=p.demote, priority=None,
                      passphrase=m.passphrase, **common)
    return Member(advbase=p.adver_int, advskew=None, demote=None, priority=p.priority, passphrase=None, **common)


def verdict(verdicts) -> str:
    """One word for a set of signature verdicts: a failure next to a success is "mixed"."""
    verdicts = set(verdicts)
    if "mixed" in verdicts or {"ok", "bad"} <= verdicts:
        return "mixed"
    for word in ("bad", "ok", "unverified"):
        if word in verdicts:
            return word
    return "n/a"


def clues(m: Source, r) -> bool:
    """Note what `r`, m's latest advert, tells about `m`'s stack; True when that is news (stack.py).

    Every advert passes here, and mostly tells nothing new: no table of news is built.
    """
    seen = m.seen
    news = False
    if isinstance(r, CarpAdvert):
        if r.demote and r.demote > seen.get("demote", 0):
            seen["demote"], news = r.demote, True
        if m.bye:  # (rules.resigns(r): `r` is m's latest advert, see Tracker._learn)
            if not seen.get("bow_out"):
                seen["bow_out"] = news = True
        elif r.advskew > stacks.MAX_WIRE_ADVSKEW and not seen.get("advskew_over_cap"):
            seen["advskew_over_cap"] = news = True
        if r.hmac == "ok" and r.hmac_variant and seen.get("variant") != r.hmac_variant:
            seen["variant"], news = r.hmac_variant, True
    unicast = not stacks.multicast(r.dst)
    if unicast != seen.get("unicast", False):
        seen["unicast"], news = unicast, True
    if news:
        m.timing = None  # (Timers.timing_of asks again)
    return news


def stack(m: Source) -> tuple[str, str]:
    """(stack, evidence) of a source, from its clues, counters and MAC."""
    seen = m.seen
    counting = seen.get("counting", False)
    if not counting and len(m.counters) >= 2:  # the latest two counters (repeats skip counters.check)
        latest = reversed(m.counters)
        c2, c1 = next(latest)[0], next(latest)[0]
        counting = (c1 + 1) % COUNTER_MOD == c2
    # Positional, in Clues' field order: built for every backup timer of every new advert.
    found = stacks.Clues(m.record.proto, m.mac, m.adverts, len(m.counters), counting, seen.get("demote", 0),
                         seen.get("bow_out", False), seen.get("advskew_over_cap", False), seen.get("variant"),
                         seen.get("unicast", False), m.params.version)
    return stacks.fingerprint(found)


def openbsd(m: Source) -> bool:
    """Does `m` run OpenBSD (stack(m)[0] == OPENBSD)? Its master-down timer differs (timers.py)."""
    seen = m.seen
    return stacks.openbsd(m.record.proto, m.mac, m.adverts, len(m.counters), seen.get("demote", 0),
                          seen.get("bow_out", False), seen.get("variant"))


def diff(old, new) -> str:
    """advskew 0 -> 240: what a parameters-changed event reports."""
    if isinstance(new, CarpAdvert):
        names = ("advbase", "advskew", "demote")
    else:
        names = ("version", "priority", "adver_int")
    parts = [f"{n} {getattr(old, n)} -> {getattr(new, n)}" for n in names
             if (getattr(old, n) or 0) != (getattr(new, n) or 0)]
    return ", ".join(parts)
