"""Immutable values shared by every layer: frames in, records, events and findings out.

Every record, event and finding carries the frame number that caused it, so each
claim in a report can be traced back to a packet (docs/design.md, principle 3).
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from types import MemberDescriptorType
from typing import Any, NamedTuple


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


# Only a base: CarpAdvert and VrrpAdvert generate their own __init__, __repr__, __eq__ and
# __hash__, so it generates none (issue 19: a fifth of this module's import, compiling them).
@dataclass(frozen=True, slots=True, kw_only=True, init=False, repr=False, eq=False)
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
        # (most have no findings: no generator then; every advert the tracker sees asks, issue 20)
        return self.version is not None and (not self.findings or not any(
            f.kind in ("malformed", "bad-checksum") for f in self.findings
        ))


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
    hmac_reason: str | None = None  # when unverified: no-passphrase, vips-unknown, budget-spent, not-tracked

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


def _twin(cls: type) -> type | None:
    """A class with `cls`'s slot layout whose attributes are set plainly, or None.

    A frozen dataclass sets each field through object.__setattr__ (a call per field);
    on the twin a field is one specialised store (STORE_ATTR_SLOT), and assigning
    __class__ afterwards turns the filled object into a `cls` (Python allows it when
    the two layouts are the same: same base, same slots). None when that is refused.
    """
    slots, base = cls.__dict__.get("__slots__"), cls.__base__
    if "__dict__" in cls.__dict__ or not isinstance(slots, tuple) or base is None:
        return None
    try:
        twin = type(cls.__name__, (base,), {
            "__slots__": slots, "__module__": cls.__module__,
            "__setattr__": object.__setattr__, "__delattr__": object.__delattr__})
        probe: Any = object.__new__(twin)
        probe.__class__ = cls
    except TypeError:
        return None
    return twin


def _plain(cls: type) -> bool:
    """Nothing runs when a record is built but the field stores: no __post_init__, no factory, all slots."""
    return not hasattr(cls, "__post_init__") and all(
        isinstance(getattr(cls, f.name, None), MemberDescriptorType)
        and f.default_factory is dataclasses.MISSING for f in dataclasses.fields(cls))


def _plain_twin(cls: type) -> type | None:
    """The _twin of a plain class (see _plain), or None: build such records the slow way."""
    return _twin(cls) if _plain(cls) else None


def _generate(name: str, params: str, body: list[str], scope: dict):
    """Compile one builder (once, at its first use: nothing is compiled at import)."""
    source = f"def {name}({params}):\n" + "".join(f"    {line}\n" for line in body)
    exec(source, scope)  # the source is built from the dataclass field names only
    return scope[name]


def _fill(fields: list[dataclasses.Field], given: tuple[str, ...], source: str | None) -> list[str]:
    """The stores of a builder: `given` fields from their parameters, the rest from `source` or the defaults."""
    lines = []
    for f in fields:
        if f.name in given:
            lines.append(f"_o.{f.name} = {f.name}")
        elif source is not None:
            lines.append(f"_o.{f.name} = {source}.{f.name}")
        else:
            lines.append(f"_o.{f.name} = _d_{f.name}")
    return lines


class Builder:
    """`cls(**dict(zip(names, values)))` for the hot path, the values given positionally (issue 20).

    Every frame of a hostile capture is new, and its record through the frozen
    dataclass __init__ costs one object.__setattr__ per field (about 30). The
    builder fills a _twin instead and hands it over as a `cls`: the same record
    (same class, fields, equality and repr), in a tenth of the instructions. Fields
    not named take their defaults; a class that is not plain is built the slow way.
    """

    __slots__ = ("cls", "names", "_build")

    def __init__(self, cls: type, names: tuple[str, ...]):
        fields = {f.name: f for f in dataclasses.fields(cls)}
        missing = [n for n, f in fields.items() if f.default is dataclasses.MISSING and n not in names]
        if missing or not set(names) <= fields.keys() or len(set(names)) != len(names):
            raise TypeError(f"{cls.__name__} needs {missing} and takes only its fields, once each: {names}")
        self.cls, self.names, self._build = cls, names, None

    def __call__(self, *values):
        return (self._build or self.function())(*values)

    def function(self):
        """The builder itself, compiled at the first request: one call less where every frame builds two."""
        if self._build is None:
            self._build = self._generate()
        return self._build

    def _generate(self):
        cls, names = self.cls, self.names
        twin = _plain_twin(cls)
        if twin is None:
            return lambda *values: cls(**dict(zip(names, values)))
        fields = dataclasses.fields(cls)
        scope = {"_new": object.__new__, "_twin": twin, "_cls": cls,
                 **{f"_d_{f.name}": f.default for f in fields if f.name not in names}}
        body = ["_o = _new(_twin)", *_fill(list(fields), names, None), "_o.__class__ = _cls", "return _o"]
        return _generate("build", ", ".join(names), body, scope)


class Copier:
    """`dataclasses.replace(record, **dict(zip(names, values)))` for the hot path.

    replace re-runs a frozen record's 30-argument __init__ (about 10 µs); the copy
    is filled through the class's _twin instead (see Builder): the same record in
    a tenth of the instructions. A record of another class, or a class that is not
    plain, is replaced the slow way.
    """

    __slots__ = ("cls", "names", "_copy", "_fill")

    def __init__(self, cls: type, names: tuple[str, ...]):
        self.cls, self.names, self._copy, self._fill = cls, names, None, None

    def fill(self, record, values: tuple):
        """`record` itself with the named fields set, for a record nobody else holds yet (just decoded).

        Every frame of a forged flood is new and gets its verdict once: setting it in
        place spares a copy of its 30 fields. A record of another class, or a class
        that is not plain, is copied (`__call__`) instead.
        """
        fill = self._fill
        if fill is None:
            fill = self._fill = self._generate_fill()
        return fill(record, values)

    def filler(self):
        """`fill` itself, compiled at the first request: the verifier calls it straight, a call less a frame."""
        if self._fill is None:
            self._fill = self._generate_fill()
        return self._fill

    def __call__(self, record, values: tuple):
        return (self._copy or self.function())(record, values)

    def function(self):
        """The copy itself, compiled at the first request: one call less where every frame copies (a flap)."""
        if self._copy is None:
            self._copy = self._generate()
        return self._copy

    def _generate(self):
        cls, names = self.cls, self.names

        def slow(record, values):
            return dataclasses.replace(record, **dict(zip(names, values)))

        twin = _plain_twin(cls)
        if twin is None:
            return slow
        scope = {"_new": object.__new__, "_twin": twin, "_cls": cls, "_slow": slow, "_type": type}
        body = ["if _type(_r) is not _cls:", "    return _slow(_r, _v)",
                f"[{', '.join(names)}] = _v", "_o = _new(_twin)",
                *_fill(list(dataclasses.fields(cls)), names, "_r"), "_o.__class__ = _cls", "return _o"]
        return _generate("copy", "_r, _v", body, scope)

    def _generate_fill(self):
        cls, names = self.cls, self.names
        twin = _plain_twin(cls)
        if twin is None:
            return self
        # The frozen class refuses stores: the record turns into its twin for them, then back.
        scope = {"_twin": twin, "_cls": cls, "_copy": self, "_type": type, "_set": object.__setattr__}
        body = ["if _type(_r) is not _cls:", "    return _copy(_r, _v)", "_set(_r, '__class__', _twin)",
                f"[{', '.join(f'_r.{n}' for n in names)}] = _v", "_r.__class__ = _cls", "return _r"]
        return _generate("fill", "_r, _v", body, scope)


class Maker:
    """A record from its fields by name, as its class would build it (issue 19), through a Builder.

    A missing required field or an unknown one raises the class's own TypeError.
    """

    __slots__ = ("cls", "_names", "_defaults", "_build")

    def __init__(self, cls: type):
        fields = dataclasses.fields(cls)
        self.cls, self._names = cls, tuple(f.name for f in fields)
        self._defaults = tuple(f.default for f in fields)  # MISSING: required
        self._build = Builder(cls, self._names)

    def __call__(self, **values):
        args = tuple(map(values.get, self._names, self._defaults))
        if dataclasses.MISSING in args or sum(map(values.__contains__, self._names)) != len(values):
            return self.cls(**values)  # a missing or unknown field: the class's own TypeError
        return self._build(*args)
