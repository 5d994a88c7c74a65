"""Timers and "who wins", restated from the protocols (docs/protocol.md §4, §5).

Pure functions of advert fields: the tracker decides *when*, these decide *how long*
and *who is preferred*.
"""

from __future__ import annotations

import enum
import functools
import ipaddress

from carpscope.model import CarpAdvert, VrrpAdvert

BOW_OUT = 255  # advbase = advskew = 255: OpenBSD/NetBSD/old FreeBSD leaving (docs/protocol.md §4.4)
DEMOTED_ADVSKEW = 240  # FreeBSD caps demoted advskew at 240; NetBSD/ucarp force 240 (docs/protocol.md §4.3)
MIN_MASTER_DOWN = 3 / 256  # OpenBSD 1.370: "if that is 0, 3 x 1/256 s" (docs/protocol.md §4.1)


class Timing(str, enum.Enum):
    """Which CARP master-down formula the backups run (docs/protocol.md §4.1).

    BSD: 3·advbase + advskew/256 — FreeBSD, NetBSD, DragonFly, ucarp, OpenBSD ≤ 1.349.
    OPENBSD: 3·(advbase + advskew/256) — OpenBSD ip_carp.c 1.370 (2025).
    AUTO: each backup's own stack, told from its adverts (election/stack.py,
    docs/protocol.md §9.3); the tracker resolves it to BSD or OPENBSD per member.
    """

    BSD = "bsd"
    OPENBSD = "openbsd"
    AUTO = "auto"


def carp_interval(advbase: int, advskew: int) -> float:
    """Seconds between adverts: advbase + advskew/256, every implementation (docs/protocol.md §4.1)."""
    return advbase + advskew / 256


def carp_master_down(advbase: int, advskew: int, timing: Timing = Timing.BSD) -> float:
    """Seconds a backup waits without adverts before it becomes master (docs/protocol.md §4.1).

    advbase 0 (OpenBSD, ucarp) would make the BSD form a single interval, so it is
    taken as three intervals, at least 3/256 s, like OpenBSD 1.370.
    """
    if advbase == 0:
        return max(3 * advskew / 256, MIN_MASTER_DOWN)
    if timing is Timing.OPENBSD:
        return 3 * (advbase + advskew / 256)  # [OBSD-c 1.370 carp_setrun]
    return 3 * advbase + advskew / 256  # [FBSD-c carp_setrun][UCARP carp_setrun][OBSD-c 1.349]


def vrrp_interval(version: int | None, adver_int: int) -> float:
    """Seconds between adverts: Adver_Int in s (v2, RFC 3768 §5.3.7), cs (v3, RFC 5798 §5.2.7)."""
    return adver_int / 100 if version == 3 else float(adver_int)


def vrrp_master_down(version: int | None, adver_int: int, priority: int) -> float:
    """Master_Down_Interval = 3·Adver_Int + Skew_Time (RFC 3768 §6.1, RFC 5798 §6.1, in cs for v3).

    Skew_Time is (256−Priority)/256 s (v2), (256−Priority)·Adver_Int/256 cs (v3).
    """
    if version == 3:
        value = (3 * adver_int + (256 - priority) * adver_int / 256) / 100
    else:
        value = 3 * adver_int + (256 - priority) / 256
    return max(value, MIN_MASTER_DOWN)


def usable(r: CarpAdvert | VrrpAdvert) -> bool:
    """Complete enough to feed an election: a sound header with the timing fields present."""
    if not r.ok or r.type not in (1, None):
        return False
    if isinstance(r, CarpAdvert):
        return r.vhid is not None and r.advbase is not None and r.advskew is not None
    return r.vrid is not None and r.priority is not None and r.adver_int is not None


def interval(r: CarpAdvert | VrrpAdvert) -> float:
    """Seconds between this sender's adverts."""
    if isinstance(r, CarpAdvert):
        return carp_interval(r.advbase, r.advskew)
    return vrrp_interval(r.version, r.adver_int)


def master_down(backup: CarpAdvert | VrrpAdvert, master: CarpAdvert | VrrpAdvert | None = None,
                timing: Timing = Timing.BSD) -> float:
    """When `backup` (known by its own adverts) would declare `master` down.

    CARP backups run their own advbase/advskew [FBSD-c carp_setrun]. VRRPv3 backups
    use the master's advertised interval with their own priority (RFC 5798 §6.4.2);
    VRRPv2 intervals must match anyway (RFC 3768 §7.1).
    """
    if isinstance(backup, CarpAdvert):
        return carp_master_down(backup.advbase, backup.advskew, timing)
    adver_int = backup.adver_int
    if backup.version == 3 and isinstance(master, VrrpAdvert) and master.adver_int is not None:
        adver_int = master.adver_int
    return vrrp_master_down(backup.version, adver_int, max(backup.priority, 1))


def resigns(r: CarpAdvert | VrrpAdvert) -> bool:
    """A master saying goodbye: CARP bow-out 255/255 (docs/protocol.md §4.4), VRRP priority 0 (RFC 3768 §6.4.3)."""
    if isinstance(r, CarpAdvert):
        return r.advbase == BOW_OUT and r.advskew == BOW_OUT
    return r.priority == 0


def demoted(r: CarpAdvert | VrrpAdvert) -> bool:
    """Demotion visible on the wire (docs/protocol.md §4.3).

    OpenBSD sends its demote counter in byte 4; FreeBSD folds demotion into advskew,
    capped at 240, and NetBSD/ucarp force advskew 240 while suppressing preemption.
    A configured advskew of 240 looks the same. VRRP has no demotion field.
    """
    if not isinstance(r, CarpAdvert) or resigns(r):
        return False
    return bool(r.demote) or r.advskew == DEMOTED_ADVSKEW


def preference(r: CarpAdvert | VrrpAdvert) -> tuple:
    """Sort key, lower is preferred.

    CARP: lower demote first, then the lower (advbase, advskew) timeval [OBSD-c
    carp_proto_input_c; FreeBSD sends demote 0]. VRRP: higher priority, then the higher
    primary address (RFC 3768 §6.4.3, RFC 5798 §6.4.3).
    """
    if isinstance(r, CarpAdvert):
        if resigns(r):
            return (256, BOW_OUT, BOW_OUT)
        return (r.demote or 0, r.advbase, r.advskew)
    return (-r.priority, -_address_value(r.src))


@functools.lru_cache(maxsize=1024)
def _address_value(text: str) -> int:
    """An address as a number, for the VRRP tie-break (parsed once per router)."""
    try:
        return int(ipaddress.ip_address(text))
    except ValueError:
        return 0


def beats(a: CarpAdvert | VrrpAdvert, b: CarpAdvert | VrrpAdvert) -> bool | None:
    """Does `a` win over `b`? None for a CARP tie, which each stack breaks its own way.

    (OpenBSD: the master receiving an equal advert yields; ucarp compares raw source
    addresses, docs/protocol.md §4.2.)
    """
    pa, pb = preference(a), preference(b)
    if pa == pb:
        return None
    return pa < pb


def describe(r: CarpAdvert | VrrpAdvert) -> str:
    """The parameters that drive elections, in the protocol's own words."""
    if isinstance(r, CarpAdvert):
        text = f"advbase {r.advbase} advskew {r.advskew}"
        return text + (f" demote {r.demote}" if r.demote else "")
    unit = "cs" if r.version == 3 else "s"
    return f"priority {r.priority} adver_int {r.adver_int}{unit}"


def parameters(r: CarpAdvert | VrrpAdvert) -> tuple:
    """What a parameters-changed event compares."""
    if isinstance(r, CarpAdvert):
        return ("carp", r.advbase, r.advskew, r.demote or 0)
    return ("vrrp", r.version, r.priority, r.adver_int)


def same(a: CarpAdvert | VrrpAdvert, b: CarpAdvert | VrrpAdvert) -> bool:
    """parameters(a) == parameters(b), in one call and without the tuples: asked of every advert."""
    if isinstance(a, CarpAdvert):
        return (isinstance(b, CarpAdvert) and a.advbase == b.advbase and a.advskew == b.advskew
                and (a.demote or 0) == (b.demote or 0))
    return (not isinstance(b, CarpAdvert) and a.version == b.version and a.priority == b.priority
            and a.adver_int == b.adver_int)
