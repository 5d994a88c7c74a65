"""Split brain: when a master and a contender have overlapped for more than D, and why.

The overlap test (`overlaps`) is the one rule: contender `c` is in split brain once
both it and the master advertised for more than D since c's run began. `crossing`
applies it per advert in O(log n); `quiet` answers, for the repeat fast path,
whether an advert could make it true, in O(1) from what `crossing` keeps. `cause`
words the likely reason for the split-brain finding.
"""

from __future__ import annotations

import heapq

from carpscope import findings as k
from carpscope.election import events as ev
from carpscope.election import phase
from carpscope.election.counters import continues
from carpscope.election.members import Group, Source
from carpscope.model import CarpAdvert, Finding, VrrpAdvert

_UNREACHABLE = ("the adverts do not reach one node: check IGMP snooping, multicast filtering and "
                "firewall rules for protocol 112 between them, and hypervisor vSwitch settings "
                "(promiscuous mode, MAC address changes, forged transmits)")


def overlaps(master_last: float, c_last: float, c: Source, silence: float) -> bool:
    """Have the master and contender `c` both advertised for more than D since c's run began?"""
    return min(master_last, c_last) - c.run_start > silence


def _ripening(g: Group, c: Source, c_last: float, silence: float) -> bool:
    """c's own run lasts longer than D and it is not yet among the ripe: only the master is missing."""
    return c_last - c.run_start > silence and c.ripe != (g.generation, c.run_start)


def quiet(g: Group, m: Source, t: float) -> bool:
    """With contenders, does an advert of `m` at `t` leave the election nothing to do?

    It does if `m` already is the master or a contender, the master does not say
    goodbye, and no contender's overlap with the master grows past D.
    """
    if g.dirty or g.silence is None or (m.addr != g.master and m.addr not in g.contenders):
        return False
    if m.addr == g.master and m.bye:  # (rules.resigns(m.record), kept with it)
        return False
    if not g.waiting:
        return True  # a lasting split brain: every contender already is in it
    master = g.members[g.master]
    silence = g.silence
    if g.checked != (silence, master.addr, master.run_start):
        # D or the master moved since `crossing` last looked: `observe` looks again (once;
        # a walk here would look at every contender on every repeat until then, issue 20).
        return False
    if m.addr == g.master:
        return not (g.ripe and t - g.ripe[0][0] > silence)
    if g.contenders[m.addr]:
        return True
    _run_on(g, m.addr)  # (a repeat of a waiting contender: its run grows)
    return not (overlaps(master.last, t, m, silence) or _ripening(g, m, t, silence))


def start(g: Group, silence: float) -> tuple[list, list[Finding]]:
    """split-brain-started for every contender that now crosses D; the finding once per episode."""
    events: list = []
    found: list[Finding] = []
    master = g.members[g.master]
    for c in crossing(g, master, silence):
        opened = phase.diverge(g, c)
        events.append(g.event(c.run_start, c.run_frame, ev.SPLIT_BRAIN_STARTED, from_=master.addr, to=c.addr,
                              expected=silence,
                              detail=f"{master.addr} and {c.addr} both advertise as master for more than "
                                     f"{silence:.2f}s"))
        if opened:
            label = f"{'CARP vhid' if g.key.proto == 'carp' else 'VRRP vrid'} {g.key.id}"
            found += g.raise_(k.SPLIT_BRAIN, ("episode", c.run_frame), c.run_record,
                              f"{master.addr} and {c.addr} both advertise {label} as master for more "
                              f"than the {silence:.2f}s master-down time: {cause(g, master, c)}",
                              time=c.run_start)
    return events, found


def crossing(g: Group, master: Source, silence: float) -> list[Source]:
    """Contenders not yet in split brain whose overlap with the master now lasts more than D.

    Only the advertising member's run moved since the last look, so it alone is
    checked, or, when the master advertised, the ripe contenders (their own run
    already longer than D) that the master's run now covers: O(log n) per advert.
    A new D or master looks at every contender again. In the contenders' order.
    """
    m = g.latest
    if m is not None and m.last > m.run_start and g.contenders.get(m.addr) is False:
        _run_on(g, m.addr)
    if m is None or g.checked != (silence, master.addr, master.run_start):
        return _recheck(g, master, silence)
    if m is master:
        return _ripe_crossing(g, master, silence)
    if g.contenders.get(m.addr) is not False:
        return []
    if overlaps(master.last, m.last, m, silence):
        return [m]
    if _ripening(g, m, m.last, silence):
        _ripen(g, m)
    return []


def _run_on(g: Group, addr: str) -> None:
    """Waiting contender `addr` advertises again in its run: one of Group.running (bounded, amortised O(1))."""
    running = g.running
    running.add(addr)
    if len(running) > 2 * len(g.contenders) + 16:  # stale ones (a master that stays for months): drop them
        contenders, members = g.contenders, g.members
        g.running = {a for a in running if a == addr or (contenders.get(a) is False and a in members
                                                         and members[a].last > members[a].run_start)}


def _recheck(g: Group, master: Source, silence: float) -> list[Source]:
    """Every contender against a new (D, master, run): the ripe heap starts again.

    Only those that advertised more than once in their run can have run longer than
    D (Group.running): O(those) per new master, not O(contenders).
    """
    g.checked, g.ripe, g.generation = (silence, master.addr, master.run_start), [], g.generation + 1
    found = []
    members, contenders, master_last = g.members, g.contenders, master.last
    for addr in list(g.running):
        c = members.get(addr)
        if c is None or contenders.get(addr) is not False or c.last <= c.run_start:
            g.running.discard(addr)  # gone, in split brain or no longer waiting, or a new run: stale
            continue
        if c.last - c.run_start <= silence:
            continue  # its own run is not longer than D: no overlap can be, nor is it ripe
        if overlaps(master_last, c.last, c, silence):
            found.append(c)
        else:
            _ripen(g, c)
    if len(found) > 1:  # in the contenders' order, as a walk over them gives
        order = {a: i for i, a in enumerate(contenders)}
        found.sort(key=lambda c: order[c.addr])
    return found


def _ripe_crossing(g: Group, master: Source, silence: float) -> list[Source]:
    """The master advertised: the ripe contenders its run now covers for more than D."""
    found, ripe = [], g.ripe
    while ripe and master.last - ripe[0][0] > silence:
        run_start, addr = heapq.heappop(ripe)
        c = g.members.get(addr)
        if c is not None and c.ripe == (g.generation, run_start) and g.contenders.get(addr) is False:
            c.ripe = None
            found.append(c)
    if len(found) > 1:
        order = {a: i for i, a in enumerate(g.contenders)}
        found.sort(key=lambda c: order[c.addr])
    return found


def _ripen(g: Group, c: Source) -> None:
    c.ripe = (g.generation, c.run_start)
    heapq.heappush(g.ripe, (c.run_start, c.addr))


def cause(g: Group, a: Source, b: Source) -> str:
    """Why two nodes both are master: signatures, or adverts that do not arrive."""
    if g.key.proto == "vrrp":
        return _vrrp_cause(a, b)
    if (k.VHID_COLLISION, None) in g.raised:
        return f"two unrelated clusters share vhid {g.key.id} (see vhid-collision)"
    mismatch = _mode_mismatch(a, b)
    if mismatch:
        return mismatch
    pair = (a, b)
    verified = [m for m in pair if m.passphrase is not None]
    # Only evidence counts (docs/protocol.md §9.7): a bad verdict is one against a known VIP set.
    if (any("bad" in m.verdicts for m in pair) or len({(m.passphrase, m.key_form) for m in verified}) > 1
            or len({m.vips for m in verified}) > 1):
        return ("their signatures do not verify across the members, so each drops the other's adverts: "
                "the passphrases or the VIP sets differ; compare pass and the VIPs on both")
    if all(m.verdicts == {"ok"} for m in pair):
        return "every advert verifies, so " + _UNREACHABLE
    for x, y in (pair, pair[::-1]):
        if continues(y, x):
            counter = y.run_record.counter if isinstance(y.run_record, CarpAdvert) else None
            return (f"{y.addr}'s first advert as master continues {x.addr}'s counter ({counter} "
                    f"= {x.addr}'s + 1): FreeBSD, pfSense and OPNsense copy the counter of each advert they "
                    f"accept (docs/protocol.md §3), so {y.addr} accepted {x.addr}'s signed adverts and the "
                    f"passphrases and VIP sets match; the keys are not the problem: " + _UNREACHABLE)
    if all(m.verdicts <= {"ok", "unverified"} for m in pair) and any(
            m.record.hmac_reason == k.VIPS_UNKNOWN for m in pair if isinstance(m.record, CarpAdvert)):
        return ("no signature check points to the passphrases (the VIP set is unknown, so adverts could not be "
                "checked: give --vip to check them), so most likely " + _UNREACHABLE)
    return ("signatures were not checked (give the passphrase with -p): either the passphrases or VIP sets "
            "differ, or " + _UNREACHABLE)


def _vrrp_cause(a: Source, b: Source) -> str:
    na, nb = a.params, b.params
    if not isinstance(na, VrrpAdvert) or not isinstance(nb, VrrpAdvert):
        return _mode_mismatch(a, b) or "every advert is well formed, so " + _UNREACHABLE  # (never: a VRRP group)
    if (na.version or 0) == (nb.version or 0) != 3 and na.adver_int != nb.adver_int:
        return "their Adver_Int differ, and RFC 3768 §7.1 receivers discard such adverts"
    if (na.version or 0) != 3 and (na.auth_type, na.auth_data) != (nb.auth_type, nb.auth_data):
        return "their VRRPv2 authentication differs, so each discards the other's adverts"
    return _mode_mismatch(a, b) or "every advert is well formed, so " + _UNREACHABLE


def _mode_mismatch(a: Source, b: Source) -> str:
    """A split-brain cause of its own: one sends unicast, the other multicast (docs/protocol.md §9.4)."""
    ua, ub = a.seen.get("unicast", False), b.seen.get("unicast", False)
    if ua == ub:
        return ""
    uni, multi = (a, b) if ua else (b, a)
    return (f"{uni.addr} sends its adverts unicast (to {uni.record.dst}) and {multi.addr} multicast (to "
            f"{multi.record.dst}): a node configured for unicast peers ignores multicast adverts and vice versa; "
            f"configure carppeer/peer on both or on neither")
