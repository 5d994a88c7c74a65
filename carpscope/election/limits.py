"""Caps (issue 20): forged senders must not make a frame cost more, or memory grow, without bound.

Past a cap, adverts are counted, not tracked, and one limit-reached finding says
so: first when it is reached, then at the end with the final count (it replaces
the first, see events.limit_cap).
"""

from __future__ import annotations

from carpscope import findings as k
from carpscope.election import events as ev
from carpscope.election.members import Group
from carpscope.model import Finding

MEMBERS_MAX = 256  # sources tracked per group
GROUPS_MAX = 4096  # groups tracked (protocol, id, family, VLANs)
MEMBERS_TOTAL = 65536  # sources tracked over every group
_EVICT_TRIES = 8  # members `evict` looks at before it gives up
_ONCE_MAX = 16384  # senders left out once, remembered per generation (two kept: `admit`)
_FORGET = (k.HMAC_FAILED, k.DEMOTED, k.LOOPED_ADVERT, k.REPLAYED_ADVERT)  # per-member findings of a forgotten one
_LEFT_OUT: tuple[bool, tuple] = (False, ())  # what `admit` says past a cap once limit-reached was said
# The caps, by what they count: `admit` runs on every advert one leaves out, and names it (`_name`) only once.
_GROUPS_CAP, _MEMBERS_CAP, _TOTAL_CAP = "groups", "members per group", "members in all"


class Limits:
    """How many sources are tracked, and what each cap reached left out."""

    def __init__(self):
        self.members = 0  # over every group, for MEMBERS_TOTAL
        self.reached = False  # a cap is full (`added`): `refuses` may say yes
        self._dropped: dict[str, list] = {}  # cap -> [adverts left out, the first, groups hit, sources evicted]
        # The latest advert left out whose sender was not left out before: a forged sender sends
        # once, so the pipeline keeps no repeat template for it (one that repeats gets one).
        self.refused = None
        # Senders left out once, as hash((group key, source)), in two generations (`admit`):
        # a flood of one-shot senders ages a real member's first advert out only after
        # _ONCE_MAX others, not at the next clear().
        self._once: set[int] = set()
        self._older: set[int] = set()

    def admit(self, groups: dict, g: Group | None, r, key: tuple) -> tuple[bool, list[Finding] | tuple]:
        """May a new source (of a new group, if g is None; `key` its members.tid) be tracked, and what to say.

        Past a cap the advert is counted and left out, so forged senders cost a
        constant per frame and no memory; the first time, limit-reached says so. A
        full group makes room (`evict`, a member that stopped advertising) only for a
        source it left out before: real members repeat their adverts, so they get in
        on their second, while one-shot forged senders never cost a member's
        creation (issue 20). A probe that saw a flood once still follows new members
        months later.
        """
        cap = self._full(groups, g)
        if cap is None:
            return True, []
        # (a group left out is new: its key tells one sender from another of the same address)
        who = hash((key, r.src))
        again = who in self._once or who in self._older
        dropped = self._dropped.get(cap)
        first = dropped is None
        if dropped is None:
            dropped = self._dropped[cap] = [0, r, set(), 0]
        evicted = False
        if g is not None:
            dropped[2].add(key)
            evicted = again and self.evict(g)
        if evicted:
            dropped[3] += 1
        else:
            dropped[0] += 1
            if again:
                self.refused = None
            else:
                once = self._once  # (remembered for a second advert; the older generation goes when full)
                if len(once) >= _ONCE_MAX:
                    self._older = once
                    once = self._once = set()
                once.add(who)
                self.refused = r
        if not first:
            return (True, []) if evicted else _LEFT_OUT
        return evicted, [_reached(cap, r, g is not None)]

    def _full(self, groups: dict, g: Group | None) -> str | None:
        """The cap a new source of g (of a new group, if None) meets, or None: there is room for it."""
        if g is None:
            if len(groups) < GROUPS_MAX and self.members < MEMBERS_TOTAL:
                return None
            return _GROUPS_CAP if len(groups) >= GROUPS_MAX else _TOTAL_CAP
        if len(g.members) < MEMBERS_MAX and self.members < MEMBERS_TOTAL:
            return None
        return _MEMBERS_CAP if len(g.members) >= MEMBERS_MAX else _TOTAL_CAP

    def added(self, groups: dict, g: Group) -> None:
        """A new source is tracked in g: from the moment a cap is full, `refuses` is worth asking."""
        self.members += 1
        if self._full(groups, g) or self._full(groups, None):  # (no room in g, or for a new group)
            self.reached = True

    def refuses(self, groups: dict, g: Group | None, r, key: tuple) -> bool:
        """Will `admit` leave this new source out at once: past a cap, and (a full group) never left out
        before, so nothing is evicted for it? Pure: `admit` counts it afterwards.

        Such an advert is the pipeline's to leave unverified (Tracker.leave_out).
        """
        if self._full(groups, g) is None:
            return False
        if g is None:
            return True  # (no group to make room in)
        who = hash((key, r.src))
        return who not in self._once and who not in self._older

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
            made = (f"{evicted} sources that had stopped advertising were forgotten to make room for sources "
                    f"that advertised again, " if evicted else "")
            out.append(ev.limit(cap, f"{made}{count} adverts of {_what(cap, r)} were counted but not "
                                     f"tracked{where}, from frame {r.frame} on: forged or misdirected senders "
                                     f"are likely", r.frame, r.time))
        return out


def _reached(kind: str, r, members: bool) -> Finding:
    """limit-reached when a cap is first reached (`findings` replaces it at the end)."""
    cap = _name(kind)
    detail = (f"adverts of {_what(cap, r)} are counted but not tracked from frame {r.frame} on; a source "
              f"that advertises again takes the place of one that stopped advertising, if one has; the "
              f"end of the report says how many" if members else
              f"adverts of {_what(cap, r)} are counted but not tracked from frame {r.frame} on; the end of "
              f"the report says how many")
    return ev.limit(cap, detail, r.frame, r.time)


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
