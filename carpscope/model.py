"""Immutable values shared by every layer: frames in, records, events and findings out.

Every record, event and finding carries the frame number that caused it, so each
claim in a report can be traced back to a packet (docs/design.md, principle 3).
"""

from __future__ import annotations

import dataclasses
import enum
import operator
from dataclasses import dataclass
from types import MemberDescriptorType
from typing import NamedTuple


class Severity(str, enum.Enum):
    """How bad a finding is; ordered so that `rank` compares."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


@dataclass(frozen=True, slots=True)
class Finding:
    """An anomaly, Wireshark-expert-info style: data, not an exception."""

    kind: str
    severity: Severity
    detail: str
    frame: int | None = None
    time: float | None = None
    proto: str | None = None
    id: int | None = None
    family: int | None = None  # with proto, id and vlan: the group (vhid 1 on two VLANs is two)
    vlan: tuple[int, ...] = ()
    members: tuple[str, ...] = ()  # the members' addresses it is about (JSON schema 2)
    vantage: str | None = None  # two captures or more: the point it concerns (issue 15)


class Frame(NamedTuple):
    """One captured frame as the capture layer hands it to the core.

    A named tuple, not a frozen dataclass like the records: one is built for every
    frame the filter passes, and a tuple is built in a third of the time.
    """

    number: int
    time: float
    linktype: int
    data: bytes
    wirelen: int
    vantage: str | None = None  # where it was captured, when captures are named (issue 15)
    seen_at: tuple[str, ...] = ()  # every point that captured this frame, the first one first


@dataclass(frozen=True, slots=True)
class Tick:
    """'Nothing arrived until now': lets timeouts fire without a clock in the core."""

    now: float


@dataclass(frozen=True, slots=True)
class GroupKey:
    """A redundancy group: CARP vhid 7 and VRRP vrid 7 are two groups."""

    proto: str  # "carp" | "vrrp"
    id: int  # vhid or vrid
    family: int  # 4 | 6
    vlan: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Advert:
    """What every protocol-112 record carries, whatever the protocol."""

    frame: int
    time: float
    family: int  # 4 | 6
    src: str
    dst: str
    src_mac: str | None
    dst_mac: str | None
    vlan: tuple[int, ...]  # outermost tag first; () when untagged
    ttl: int
    length: int  # bytes of protocol-112 payload the IP header announces
    caplen: int  # bytes of it actually captured
    version: int | None = None
    type: int | None = None
    checksum: str | None = None  # "ok" | "bad" | None (not enough bytes to tell)
    why: str  # why this was decoded as CARP or VRRP
    findings: tuple[Finding, ...] = ()
    ah_spi: int | None = None  # behind an IPv4 AH header (keepalived auth_type AH, docs/protocol.md §9.6)
    ah_seq: int | None = None
    vantage: str | None = None  # named captures (issue 15): where it was captured first ...
    seen_at: tuple[str, ...] = ()  # ... and every point that captured it

    @property
    def ok(self) -> bool:
        """True when the header is complete enough to feed an election."""
        return self.version is not None and not any(
            f.kind in ("malformed", "bad-checksum") for f in self.findings
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class CarpAdvert(Advert):
    """A CARP advertisement (docs/protocol.md §1.1); None where the bytes ran out."""

    proto: str = "carp"
    vhid: int | None = None
    advskew: int | None = None
    authlen: int | None = None
    demote: int | None = None
    advbase: int | None = None
    cksum: int | None = None
    counter: int | None = None
    md: bytes | None = None
    hmac: str = "unverified"  # "ok" | "bad" | "unverified"
    hmac_variant: str | None = None  # which message layout verified (fingerprints the stack)
    passphrase: int | None = None  # 1-based position of the passphrase that verified; 0 = empty key
    vips: tuple[str, ...] | None = None  # the virtual address set that verified
    vips_from: str | None = None  # "given" | "inferred" | "searched"
    hmac_hint: str | None = None  # when not ok: what else would verify, or why nothing could be checked
    key_form: str | None = None  # when ok and not the plain form: "netlink-20" | "pfsense-gui" | "stale-tail"
    hmac_reason: str | None = None  # when unverified: "no-passphrase" | "vips-unknown" | "budget-spent"

    @property
    def id(self) -> int | None:
        return self.vhid


@dataclass(frozen=True, slots=True, kw_only=True)
class VrrpAdvert(Advert):
    """A VRRPv2 or VRRPv3 advertisement (docs/protocol.md §5)."""

    proto: str = "vrrp"
    vrid: int | None = None
    priority: int | None = None
    count: int | None = None
    auth_type: int | None = None  # v2 only
    auth_data: bytes | None = None  # v2 only: 8 bytes, a password for auth type 1
    adver_int: int | None = None  # v2: seconds, v3: centiseconds
    cksum: int | None = None
    checksum_form: str | None = None  # v3: "pseudo-header" | "plain"
    addresses: tuple[str, ...] = ()
    hmac: str = "n/a"

    @property
    def id(self) -> int | None:
        return self.vrid


@dataclass(frozen=True, slots=True)
class AddressClaim:
    """A gratuitous ARP, ARP reply or unsolicited NA: who says it owns an address.

    CARP's HMAC covers the virtual addresses, which are not in the advert; these
    claims, sent by a new master, are where carpscope learns them (docs/protocol.md §2.1).
    """

    frame: int
    time: float
    family: int
    addr: str
    mac: str
    vlan: tuple[int, ...]
    how: str  # "garp" | "arp-reply" | "unsolicited-na"


@dataclass(frozen=True, slots=True)
class Damaged:
    """A frame that should have held protocol 112 but could not be decoded."""

    frame: int
    time: float
    findings: tuple[Finding, ...]


Record = CarpAdvert | VrrpAdvert | AddressClaim | Damaged


class Copier:
    """`dataclasses.replace(record, **dict(zip(names, values)))` for the hot path.

    replace re-runs a frozen record's 30-argument __init__ (about 10 µs); copying
    the slots one by one gives the same record in a third of the time. Records have
    no __post_init__, so nothing is skipped; a class that grows one is replaced
    the slow way.
    """

    __slots__ = ("cls", "names", "_get_keep", "_set_keep", "_set_new", "_plain")

    def __init__(self, cls: type, names: tuple[str, ...]):
        keep = tuple(f.name for f in dataclasses.fields(cls) if f.name not in names)
        self.cls, self.names = cls, names
        self._plain = not hasattr(cls, "__post_init__") and all(
            isinstance(getattr(cls, n, None), MemberDescriptorType) for n in keep + names)
        self._get_keep = operator.attrgetter(*keep)
        self._set_keep = tuple(getattr(cls, n).__set__ for n in keep) if self._plain else ()
        self._set_new = tuple(getattr(cls, n).__set__ for n in names) if self._plain else ()

    def __call__(self, record, values: tuple):
        if not self._plain or type(record) is not self.cls:
            return dataclasses.replace(record, **dict(zip(self.names, values)))
        new = object.__new__(self.cls)
        for put, value in zip(self._set_keep, self._get_keep(record)):
            put(new, value)
        for put, value in zip(self._set_new, values):
            put(new, value)
        return new


class Maker:
    """Builds a record as its class would, setting the slots directly (issue 19).

    A new frame's record through the frozen dataclass __init__ costs about 10 µs
    (one object.__setattr__ per field); forged senders make every frame new. The
    same fields with the same defaults are set through the slot descriptors;
    a missing required field raises TypeError as the class does, and a class that
    is not plain (see Copier) is built the slow way.
    """

    __slots__ = ("cls", "_setters", "_defaults", "_required", "_plain")

    def __init__(self, cls: type):
        fields = dataclasses.fields(cls)
        self.cls = cls
        self._plain = not hasattr(cls, "__post_init__") and all(
            isinstance(getattr(cls, f.name, None), MemberDescriptorType)
            and f.default_factory is dataclasses.MISSING for f in fields)
        self._setters = {f.name: getattr(cls, f.name).__set__ for f in fields} if self._plain else {}
        self._defaults = tuple((self._setters[f.name], f.default) for f in fields
                               if f.default is not dataclasses.MISSING) if self._plain else ()
        self._required = frozenset(f.name for f in fields if f.default is dataclasses.MISSING)

    def __call__(self, **values):
        if not self._plain or not self._required <= values.keys():
            return self.cls(**values)
        new = object.__new__(self.cls)
        for put, value in self._defaults:
            put(new, value)
        setters = self._setters
        try:
            for name, value in values.items():
                setters[name](new, value)
        except KeyError:
            return self.cls(**values)  # an unknown field: the class's own TypeError
        return new
