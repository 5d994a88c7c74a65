"""Candidate VIP sets for the CARP HMAC: given, claimed, and the message layouts they make.

The VIPs are not in the advert (docs/protocol.md §2.1), so they come from the user
(--vip), from address claims (gratuitous ARP / unsolicited NA) or, for IPv4, from
a search over the sender's /24. Pure: no I/O, no clock.
"""

from __future__ import annotations

import ipaddress
import socket
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from carpscope.model import AddressClaim

# §2.1: version and type are hashed as the constants CARP_VERSION, CARP_ADVERTISEMENT.
HEAD = b"\x02\x01"
# §1.4: kernel CARP virtual MAC (FreeBSD/OpenBSD/NetBSD/DragonFly), OpenBSD balancing
# leader (§4.7). OpenBSD adds the lladdr only for MACs other than the virtual ones (§2.4).
_VIRTUAL_MACS = ("00:00:5e:00:01:", "01:00:5e:00:01:")
_NO_LLADDR = ("00:00:5e:00:01:", "00:00:5e:00:00:")
_CLAIMS_MAX = 512  # addresses remembered per VLAN
VLANS_MAX = 4096  # VLANs (or QinQ pairs) whose claims are remembered; the oldest is forgotten (issue 20)
_SINGLES_MAX = 64  # latest claimed addresses also tried one by one
_SET_MAX = 64  # a claimed VIP set holds a vhid's latest 64 claimed addresses at most

# Variant names (hmac_variant): the message layout that verified, a stack fingerprint.
SORTED = "sorted"  # FreeBSD/NetBSD/pfSense/OPNsense ≡ OpenBSD HMAC_ORIG (§2.3)
UCARP = "ucarp"  # SORTED with one IPv4 VIP, sent from 00:00:5e:00:00:vhid (§1.4)
OPENBSD_NOV6LL = "openbsd-nov6ll"  # OpenBSD send context: IPv6 link-local dropped
OPENBSD_LLADDR = "openbsd-lladdr"  # OpenBSD manual lladdr after 02 01, NOV6LL
OPENBSD_LLADDR_V6LL = "openbsd-lladdr-v6ll"  # the same with link-local kept (HMAC_ORIG)
LEGACY_UNSORTED = "legacy-unsorted"  # FreeBSD 6/7, DragonFly v6: interface (given) order
VARIANTS = (SORTED, UCARP, OPENBSD_NOV6LL, OPENBSD_LLADDR, OPENBSD_LLADDR_V6LL, LEGACY_UNSORTED)


class Addr(NamedTuple):
    """A VIP as the HMAC sees it: link-local IPv6 gets bytes 2–3 zeroed (§2.3)."""

    family: int
    text: str
    packed: bytes
    hashed: bytes
    ll: bool


def parse_addr(value: object) -> Addr | None:
    text = str(value).strip()
    try:  # IPv4 first, in C: the usual claim (glibc, like ipaddress, refuses leading zeros)
        packed = socket.inet_pton(socket.AF_INET, text)
        return Addr(4, socket.inet_ntop(socket.AF_INET, packed), packed, packed, False)
    except (OSError, UnicodeError, ValueError):
        pass
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    packed = ip.packed
    if ip.version == 6 and ip.is_link_local:
        return Addr(6, str(ip), packed, packed[:2] + b"\0\0" + packed[4:], True)
    return Addr(ip.version, str(ip), packed, packed, False)


def _multicast(a: Addr) -> bool:
    """224.0.0.0/4 or ff00::/8: no host claims such an address."""
    return a.packed[0] >> 4 == 14 if a.family == 4 else a.packed[0] == 0xFF


class _Claimed(NamedTuple):
    addr: Addr
    vhid: int | None  # from a virtual MAC 00:00:5e:00:01:<vhid>, else None


class Layout(NamedTuple):
    variant: str
    prefix: bytes
    vips: tuple[str, ...]
    lladdr: bool


def message_layouts(vhid: int, addrs: Sequence[Addr], lladdr: bytes | None, legacy: bool) -> list[Layout]:
    """Candidate messages (minus counter) for one VIP set (§2.3, §2.4), distinct bytes only."""
    v4 = sorted({a.packed: a for a in addrs if a.family == 4}.items())
    v6 = sorted({a.hashed: a for a in addrs if a.family == 6}.items())
    v6_noll = [(h, a) for h, a in v6 if not a.ll]
    vips = tuple(a.text for _, a in v4 + v6)
    vh = bytes((vhid,))
    s4 = b"".join(h for h, _ in v4)
    orig = s4 + b"".join(h for h, _ in v6)
    noll = s4 + b"".join(h for h, _ in v6_noll)
    out = [Layout(SORTED, HEAD + vh + orig, vips, False)]
    if noll != orig:
        out.append(Layout(OPENBSD_NOV6LL, HEAD + vh + noll, vips, False))
    if lladdr is not None:
        out.append(Layout(OPENBSD_LLADDR, HEAD + lladdr + vh + noll, vips, True))
        if noll != orig:
            out.append(Layout(OPENBSD_LLADDR_V6LL, HEAD + lladdr + vh + orig, vips, True))
    if legacy and len(addrs) > 1:
        # FreeBSD 6/7 hashed v4 then v6 in interface order (FBSD-c @01399f34).
        order4 = list(dict.fromkeys(a.packed for a in addrs if a.family == 4))
        order6 = list(dict.fromkeys(a.hashed for a in addrs if a.family == 6))
        body = b"".join(order4 + order6)
        if body != orig:
            texts = tuple(dict.fromkeys([a.text for a in addrs if a.family == 4]
                                        + [a.text for a in addrs if a.family == 6]))
            out.append(Layout(LEGACY_UNSORTED, HEAD + vh + body, texts, False))
    return out


def lladdr_of(mac: str | None) -> bytes | None:
    """The source MAC as OpenBSD would hash it, unless it is a virtual one (§2.4)."""
    if mac is None or mac.startswith(_NO_LLADDR):
        return None
    try:
        raw = bytes.fromhex(mac.replace(":", ""))
    except ValueError:
        return None
    return raw if len(raw) == 6 else None


def vip_sets(addrs: Sequence[Addr], family: int, singles: bool) -> list[tuple[Addr, ...]]:
    """Whole set (both families, §2.1), the advert's family alone, then each address."""
    out = [tuple(addrs), tuple(a for a in addrs if a.family == family)]
    if singles:
        out += [(a,) for a in addrs]
    return [s for s in out if s]


def _dedupe(sets: list[tuple[Addr, ...]]) -> list[tuple[Addr, ...]]:
    seen: set[frozenset] = set()
    out = []
    for s in sets:
        k = frozenset(a.hashed for a in s)
        if k not in seen:
            seen.add(k)
            out.append(s)
    return out


def slash24(src: str) -> bytes | None:
    """The first three bytes of an IPv4 source (its /24), or None (a search asks per new sender)."""
    try:
        return socket.inet_pton(socket.AF_INET, src)[:3]  # dotted quad only, as ipaddress (no leading zeros)
    except (OSError, TypeError):
        return None


class VipBook:
    """The VIPs the user gave and those address claims taught, per VLAN (§2.1, §4.2, §9.5).

    `epoch` counts new claims: what failed before a new one may verify after it.
    """

    __slots__ = ("given", "claims", "forgotten", "epoch")

    def __init__(self, vips: Mapping[int | None, Sequence[str]]) -> None:
        given: dict[int | None, tuple[Addr, ...]] = {}
        for vhid, addrs in vips.items():
            parsed = []
            for text in addrs:
                a = parse_addr(text)
                if a is None:
                    raise ValueError(f"--vip: {text!r} is not an IP address")
                parsed.append(a)
            given[vhid] = tuple(parsed)
        self.given = given
        # Oldest first, forgotten first: OrderedDict.popitem(last=False) is O(1), where deleting a
        # dict's first key over and over makes each `next(iter(d))` walk the holes it left (issue 20).
        self.claims: OrderedDict[tuple[int, ...], OrderedDict[str, _Claimed]] = OrderedDict()
        self.forgotten = 0  # VLANs whose claims were forgotten for VLANS_MAX: the pipeline reports it
        self.epoch = 0  # bumped when a new address is claimed

    def learn(self, claim: AddressClaim) -> Addr | None:
        """Remember a claimed address as a candidate VIP of its VLAN; the address if it is new.

        A claim from 00:00:5e:00:01:<vhid> names its vhid; one from
        01:00:5e:00:01:<vhid> (OpenBSD balancing leader) names its carp interface's
        address list, which every vhid of that interface hashes.
        """
        mac = (claim.mac or "").lower()
        vhid = int(mac[-2:], 16) if mac.startswith(_VIRTUAL_MACS) and len(mac) == 17 else None
        table = self.claims.get(claim.vlan)
        if table is None:
            if len(self.claims) >= VLANS_MAX:
                self.claims.popitem(last=False)
                self.forgotten += 1
            table = self.claims[claim.vlan] = OrderedDict()
        old = table.get(claim.addr)  # masters repeat their claims: the usual case, no parsing
        if old is not None and (vhid is None or old.vhid == vhid):
            return None
        a = parse_addr(claim.addr)
        if a is None or a.packed == bytes(len(a.packed)) or _multicast(a):
            return None
        old = table.get(a.text)
        if old is not None and (vhid is None or old.vhid == vhid):
            return None
        if old is None and len(table) >= _CLAIMS_MAX:
            table.popitem(last=False)
        table[a.text] = _Claimed(a, vhid)
        self.epoch += 1
        return a

    def given_sets(self, vhid: int, family: int) -> list[tuple[Addr, ...]]:
        if not self.given:
            return []
        common, own = self.given.get(None, ()), self.given.get(vhid, ())
        union = tuple({a.hashed: a for a in common + own}.values())
        if not union:
            return []
        return _dedupe(vip_sets(union, family, True) + vip_sets(own, family, False))

    def inferred_sets(self, vhid: int, vlan, family: int) -> list[tuple[Addr, ...]]:
        """Claims of this vhid, then with unattributed ones, then each other vhid's (§9.5 balancing)."""
        table = self.claims.get(vlan)
        if not table:
            return []
        own = [c.addr for c in table.values() if c.vhid == vhid][-_SET_MAX:]
        free = [c.addr for c in table.values() if c.vhid is None or c.vhid == vhid][-_SET_MAX:]
        sets = vip_sets(own, family, False) + vip_sets(free, family, False) + [(a,) for a in free[-_SINGLES_MAX:]]
        others: dict[int, list[Addr]] = {}
        for c in table.values():
            if c.vhid is not None and c.vhid != vhid:
                others.setdefault(c.vhid, []).append(c.addr)
        for addrs in others.values():
            sets += vip_sets(addrs[-_SET_MAX:], family, False)
        return _dedupe(sets)

    def known(self, vhid: int, vlan) -> bool:
        """Is the vhid's VIP set given, or claimed from its virtual MAC (§9.7)?"""
        if self.given.get(None) or self.given.get(vhid):
            return True
        table = self.claims.get(vlan)
        return table is not None and any(c.vhid == vhid for c in table.values())

    def count(self) -> tuple[int, int]:
        """(given, claimed) addresses, for the verifier's repr."""
        return sum(len(v) for v in self.given.values()), sum(len(t) for t in self.claims.values())
