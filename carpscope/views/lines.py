"""One line per packet, in the spirit of `tcpdump -# -tttt -T carp -v`, but complete.

A line is a list of (text, style) segments: the CLI joins them as plain text when
piped and colours them on a terminal, so text and colour never disagree.
"""

from __future__ import annotations

from carpscope.election import events as ev
from carpscope.model import AddressClaim, CarpAdvert, Damaged, Finding, VrrpAdvert
from carpscope.views.text import HMAC_STYLE, SEVERITY_STYLE, escape, utc

Segments = list[tuple[str, str]]

_VRRP_AUTH = {0: "none", 1: "simple", 2: "ah"}


def _value(v: object) -> str:
    return "?" if v is None else str(v)


def _prefix(frame: int, time: float) -> Segments:
    return [(f"{frame:5d}  ", "dim"), (utc(time), "dim"), (" ", "")]


def _flags(findings: tuple[Finding, ...]) -> Segments:
    return [(f" [{f.kind}]", SEVERITY_STYLE[f.severity.value]) for f in findings]


def _addresses(r: CarpAdvert | VrrpAdvert) -> Segments:
    vlan = f"vlan {'.'.join(map(str, r.vlan))} " if r.vlan else ""
    return [(f"{vlan}{r.src} > {r.dst}: ", "")]


def carp(r: CarpAdvert) -> Segments:
    """CARPv2 vhid 7 advbase 1 advskew 0 authlen 7 demote 0 counter N cksum ok hmac ok."""
    kind = "advertise" if r.type == 1 else f"type-{_value(r.type)}"
    fields = (
        f"CARPv{_value(r.version)}-{kind} vhid {_value(r.vhid)} advbase {_value(r.advbase)} "
        f"advskew {_value(r.advskew)} authlen {_value(r.authlen)} demote {_value(r.demote)} "
        f"counter {_value(r.counter)} ttl {r.ttl} cksum {_value(r.checksum)} "
    )
    return [*_prefix(r.frame, r.time), *_addresses(r), ("CARP", "bold"), (fields[4:], ""),
            (f"hmac {r.hmac}", HMAC_STYLE.get(r.hmac, "")), *_flags(r.findings)]


def vrrp(r: VrrpAdvert) -> Segments:
    """VRRPv2 vrid 42 prio 191 intvl 10s authtype simple auth "…" addrs a,b cksum ok."""
    unit = "cs" if r.version == 3 else "s"
    kind = "advertise" if r.type == 1 else f"type-{_value(r.type)}"
    text = f"VRRPv{_value(r.version)}-{kind} vrid {_value(r.vrid)} prio {_value(r.priority)} "
    text += f"intvl {_value(r.adver_int)}{unit} "
    if r.version != 3 and r.auth_type is not None:
        text += f"authtype {_VRRP_AUTH.get(r.auth_type, f'#{r.auth_type}')} "
        if r.auth_type == 1 and r.auth_data is not None:
            text += f'auth "{escape(r.auth_data.rstrip(bytes(1)))}" '
    if r.addresses:
        text += f"addrs {','.join(r.addresses)} "
    text += f"ttl {r.ttl} cksum {_value(r.checksum)}"
    if r.checksum_form:
        text += f" ({r.checksum_form})"
    return [*_prefix(r.frame, r.time), *_addresses(r), ("VRRP", "bold"), (text[4:], ""),
            *_flags(r.findings)]


def claim(r: AddressClaim) -> Segments:
    """ARP 192.0.2.100 is-at 02:00:00:00:00:0a (garp): how a new master announces itself."""
    what = "ARP" if r.family == 4 else "NA"
    vlan = f"vlan {'.'.join(map(str, r.vlan))} " if r.vlan else ""
    return [*_prefix(r.frame, r.time), (f"{vlan}{what} {r.addr} is-at {r.mac} ({r.how})", "dim")]


def damaged(r: Damaged) -> Segments:
    return [*_prefix(r.frame, r.time), ("undecodable", "red"), *_flags(r.findings)]


def record(r) -> Segments:
    """The line of any record."""
    if isinstance(r, CarpAdvert):
        return carp(r)
    if isinstance(r, VrrpAdvert):
        return vrrp(r)
    if isinstance(r, AddressClaim):
        return claim(r)
    return damaged(r)


def plain(segments: Segments) -> str:
    return "".join(text for text, _ in segments)


def event(e) -> Segments:
    """An election event inline, between the packets that caused it."""
    group = f"{e.proto.upper()} {'vhid' if e.proto == 'carp' else 'vrid'} {e.id}"
    text = f"{group} {e.kind}"
    if e.from_ or e.to:
        text += f" {e.from_ or '-'} -> {e.to or '-'}"
    extra = []
    if e.cause:
        extra.append(e.cause)
    if e.gap is not None:
        extra.append(f"gap {e.gap:.2f}s" + (f", expected {e.expected:.2f}s" if e.expected is not None else ""))
    if e.kind == ev.PARAMETERS_CHANGED and e.detail:
        extra.append(escape(e.detail))
    if extra:
        text += f" ({'; '.join(extra)})"
    return [("       ", ""), (utc(e.time), "dim"), (" >> ", "bold magenta"), (text, "magenta")]


def finding(f: Finding) -> Segments:
    """A group-level finding the moment it is concluded."""
    style = SEVERITY_STYLE[f.severity.value]
    return [("       ", ""), (utc(f.time) if f.time is not None else "", "dim"), (" !! ", style),
            (f"{f.severity.value} {f.kind}: ", style), (escape(f.detail), "")]
