"""Which stack sent a member's adverts, from what the wire shows, and what its demotion means.

Pure: facts in, a (stack, evidence) pair or a sentence out. The election rules of
each stack differ (docs/protocol.md §4.1, §9.3), so the tracker times each backup with
the formula of the stack that sent its adverts; pfSense and OPNsense run FreeBSD's
carp(4) and cannot be told from it on the wire (docs/protocol.md §2.6).
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass

OPENBSD = "OpenBSD"
FREEBSD = "FreeBSD (or pfSense/OPNsense)"
UCARP = "ucarp"
VRRP = "keepalived/VRRP"
UNKNOWN = "unknown"

_VIRTUAL_MAC = "00:00:5e:00:01:"  # FreeBSD/OpenBSD carp, IPv4 VRRP (docs/protocol.md §1.4)
_UCARP_MAC = "00:00:5e:00:00:"  # ucarp's advert source (docs/protocol.md §1.4)
MAX_WIRE_ADVSKEW = 240  # FreeBSD never sends more (docs/protocol.md §4.3)


@dataclass(frozen=True, slots=True)
class Clues:
    """What a member's adverts showed so far (the tracker keeps them)."""

    proto: str  # "carp" | "vrrp"
    mac: str | None = None
    adverts: int = 0
    counters: int = 0  # distinct replay counters seen
    counting: bool = False  # one counter was the previous one + 1 (FreeBSD family, ucarp)
    demote: int = 0  # highest demote byte seen
    bow_out: bool = False  # an advbase 255 advskew 255 advert
    advskew_over_cap: bool = False  # an advskew 241-254 on the wire
    variant: str | None = None  # auth.py's hmac_variant that verified
    unicast: bool = False  # adverts to a unicast address (carppeer / peer)
    version: int | None = None  # VRRP version


@functools.lru_cache(maxsize=1024)
def multicast(dst: str) -> bool:
    """Is this advert's destination a multicast group (224.0.0.18, ff02::12, or an other group)?"""
    try:
        return ipaddress.ip_address(dst).is_multicast
    except ValueError:
        return True


def openbsd(proto: str, mac: str | None, adverts: int, counters: int, demote: int, bow_out: bool,
            variant: str | None) -> bool:
    """fingerprint(Clues(...))[0] == OPENBSD, without Clues or evidence: timers ask at every election (issue 19).

    The same rules in the same order as `fingerprint` (tests/test_election_stacks.py checks them
    against each other); the other clues only choose among the other stacks.
    """
    if proto == "vrrp":
        return False
    if variant and variant.startswith("openbsd-"):
        return True
    if demote or bow_out:
        return True
    if (mac or "").lower().startswith(_UCARP_MAC):
        return False
    return adverts >= 2 and counters == 1


def fingerprint(c: Clues) -> tuple[str, str]:
    """(stack, evidence): the first rule that the wire settles, "unknown" when none does.

    The evidence is short: it goes in a table column.
    """
    if c.proto == "vrrp":
        return VRRP, f"VRRPv{c.version or '?'}"
    if c.variant and c.variant.startswith("openbsd-"):
        return OPENBSD, "lladdr in the HMAC" if "lladdr" in c.variant else f"OpenBSD's HMAC ({c.variant})"
    if c.demote:
        return OPENBSD, f"demote byte {c.demote}"
    if c.bow_out:
        return OPENBSD, "bow-out 255/255"
    mac = (c.mac or "").lower()
    if mac.startswith(_UCARP_MAC):
        return UCARP, f"source MAC {mac}"
    if c.adverts >= 2 and c.counters == 1:
        return OPENBSD, f"same counter in {c.adverts} adverts"
    if c.counters >= 2:
        how = "counting counter" if c.counting else "changing counter"
        if c.advskew_over_cap:
            return UNKNOWN, f"{how}, but advskew over 240"
        if mac.startswith(_VIRTUAL_MAC):
            return FREEBSD, f"{how}, demote 0, virtual MAC"
        if c.unicast:
            return FREEBSD, f"{how}, demote 0, unicast from the real MAC"
        return UNKNOWN, f"{how}, no virtual MAC"
    return UNKNOWN, "one advert" if c.adverts < 2 else ""


# -- demotion (docs/protocol.md §4.3, §9.2) ------------------------------------------------

BOOT_DEMOTE = 128  # OpenBSD etc/rc: carpdemote 128 until rc is done
PFSYNC_BULK = 32  # OpenBSD pfsync: +32 during its initial bulk update
PFSYNC_LINK = 1  # OpenBSD pfsync / carpdev link down / send errors: +1


def demotion_reason(values: tuple[int, ...], *, openbsd: bool, mid_life: bool, cleared: bool) -> str:
    """The likely reason for a demotion, named from its values and history.

    `values` are the demote bytes (OpenBSD) or advskews (the others) in the order
    seen; `mid_life` when the member advertised undemoted before.
    """
    if openbsd:
        first = values[0]
        if not mid_life and first >= BOOT_DEMOTE and not cleared:
            why = ("OpenBSD's boot interlock that never ended (etc/rc demotes group carp by 128 and lifts it "
                   "only when rc is done: check the boot log and /etc/rc.local), or an operator's carpdemote")
        elif not mid_life and first >= BOOT_DEMOTE:
            why = ("OpenBSD's boot interlock (etc/rc demotes group carp by 128 until it is done"
                   + (", then pfsync's 32 during its bulk update"
                      if any(v in (PFSYNC_BULK, BOOT_DEMOTE + PFSYNC_BULK) for v in values) else "") + ")")
        elif set(values) <= {PFSYNC_BULK, PFSYNC_BULK + PFSYNC_LINK}:
            why = "pfsync's initial bulk update (+32)"
        elif set(values) <= {PFSYNC_LINK}:
            why = ("a link down: the pfsync link or the carpdev (+1), or 3 x vhosts send errors (+1)")
        else:
            why = ("an operator's or a daemon's carpdemote (ifconfig -g carp carpdemote), e.g. a service "
                   "check, on top of link, pfsync or boot demotion")
        return why + "; check ifconfig -g carp"
    if not mid_life and cleared:
        return ("pfsync's bulk update after boot: FreeBSD/pfSense/OPNsense hold advskew at 240 until it "
                "completes")
    if not cleared:
        return ("maintenance mode (pfSense: advskew 254, sent as 240; OPNsense: net.inet.carp.demotion 240), "
                "a failed service check (OPNsense carp_service_status), a parent link down or send errors "
                "(+240), or a configured advskew of 240; check the CARP status page and sysctl "
                "net.inet.carp.demotion")
    return ("a service check, a parent link down or send errors (+240), or maintenance mode switched on and "
            "off; check the logs and sysctl net.inet.carp.demotion")
