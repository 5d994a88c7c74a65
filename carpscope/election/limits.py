"""Caps (issue 20): forged senders must not make a frame cost more, or memory grow, without bound.

Past a cap, adverts are counted, not tracked, and one limit-reached finding says
so: first when it is reached, then at the end with the final count (it replaces
the first, see events.limit_cap).
"""

from __future__ import annotations

from carpscope import findings as k
from carpscope.election import events as ev
from carpscope.election.members import Group, tid
from carpscope.model import Finding

MEMBERS_MAX = 256  # sources tracked per group
GROUPS_MAX = 4096  # groups tracked (protocol, id, family, VLANs)
MEMBERS_TOTAL = 65536  # sources tracked over every group
_EVICT_TRIES = 8  # members `evict` looks at before it gives up
_ONCE_MAX = 4096  # senders left out once, remembered (`refused`)
_FORGET = (k.HMAC_FAILED, k.DEMOTED, k.LOOPED_ADVERT, k.REPLAYED_ADVERT)  # per-member findings of a forgotten one
# The caps, by what they count: `admit` runs on every advert one leaves out, and names it (`_name`) only once.
_GROUPS_CAP, _MEMBERS_CAP, _TOTAL_CAP = "groups", "members per group", "members in all"


class Limits:
    """How many sources are tracked, and what each cap reached left out."""

    def __init__(self):
        self.members = 0  # over every group, for MEMBERS_TOTAL
        self._dropped: dict[str, list] = {}  # cap -> [adverts left out, the first, groups hit, sources evicted]
        # The latest advert left out whose sender was not left out before: a forged sender sends
        # once, so the pipeline keeps no repeat template for it (one that repeats gets one).
        self.refused = None
        self._once: set = set()  # (group, source) left out before

    def admit(self, groups: dict, g: Group | None, r) -> tuple[bool, list[Finding]]:
        """May a new source (of a new group, if g is None) be tracked, and what to say about the caps.

        A full group first forgets a member that stopped advertising (`evict`), so a
        probe that saw a flood once still follows new members months later. Past a
        cap otherwise the advert is counted and left out, so forged senders cost a
        constant per frame and no memory. The first time, limit-reached says so.
        """
        evicted = False
        if g is None:
            if len(groups) >= GROUPS_MAX:
                cap = _GROUPS_CAP
            elif self.members >= MEMBERS_TOTAL:
                cap = _TOTAL_CAP
            else:
                return True, []
        elif len(g.members) >= MEMBERS_MAX:
            cap = _MEMBERS_CAP
            evicted = self.evict(g)
        elif self.members >= MEMBERS_TOTAL:
            cap = _TOTAL_CAP
            evicted = self.evict(g)
        else:
            return True, []
        dropped = self._dropped.get(cap)
        first = dropped is None
        if dropped is None:
            dropped = self._dropped[cap] = [0, r, set(), 0]
        dropped[3 if evicted else 0] += 1
        if not evicted:  # (is it the sender's first advert left out? see `refused`)
            # (a group left out is new: its key tells one sender from another of the same address)
            who = (tid(r), r.src) if g is None else (g.tid, r.src)
            if who in self._once:
                self.refused = None
            else:
                if len(self._once) >= _ONCE_MAX:
                    self._once.clear()
                self._once.add(who)
                self.refused = r
        if g is not None:
            dropped[2].add(g.tid)
        if not first:
            return evicted, []
        cap = _name(cap)
        detail = (f"from frame {r.frame} on, a new source of a full group takes the place of one that stopped "
                  f"advertising, and adverts of {_what(cap, r)} are counted but not tracked when none has; the "
                  f"end of the report says how many" if g is not None else
                  f"adverts of {_what(cap, r)} are counted but not tracked from frame {r.frame} on; the end of "
                  f"the report says how many")
        return evicted, [ev.limit(cap, detail, r.frame, r.time)]

    def evict(self, g: Group) -> bool:
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
            g.count(m)  # out of the consistency counts; its backup heap entries go stale
            self.members -= 1
            for kind in _FORGET:
                g.raised.discard((kind, addr))
            return True
        return False

    def findings(self) -> list[Finding]:
        """One limit-reached finding per cap reached, with what it left out (it replaces the first)."""
        out = []
        for kind, (count, r, groups, evicted) in self._dropped.items():
            cap = _name(kind)
            where = f" in {len(groups)} groups" if len(groups) > 1 else ""
            made = (f"{evicted} sources that had stopped advertising were forgotten to make room for new ones, "
                    if evicted else "")
            out.append(ev.limit(cap, f"{made}{count} adverts of {_what(cap, r)} were counted but not "
                                     f"tracked{where}, from frame {r.frame} on: forged or misdirected senders "
                                     f"are likely", r.frame, r.time))
        return out


def _name(kind: str) -> str:
    """A cap as limit-reached names it: its size, then what it counts."""
    size = GROUPS_MAX if kind == _GROUPS_CAP else MEMBERS_MAX if kind == _MEMBERS_CAP else MEMBERS_TOTAL
    return f"{size} {kind}"


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
