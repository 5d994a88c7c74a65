"""Frame → record: link layer, IPv4/IPv6, then CARP, VRRP or an address claim.

Pure and total: any bytes give a record, None (not protocol 112 nor an address
claim), never an exception. Anomalies are findings on the record (docs/design.md, 4).
"""

from __future__ import annotations

import socket
import struct

from carpscope import findings as kinds
from carpscope.model import AddressClaim, Builder, Damaged, Finding, Frame, Record, Severity
from carpscope.wire import carp, linklayer, plain, vrrp
from carpscope.wire.classify import classify

IPPROTO_112 = 112
IPPROTO_AH = 51  # keepalived auth_type AH: VRRPv2 behind an AH header (docs/protocol.md §9.6)
_IPV6_EXTENSIONS = {0, 43, 60, 51}  # hop-by-hop, routing, destination options, AH
_IPV6_FRAGMENT = 44
_AH = 51
# Bounds of the extension-header walk: more is not a real advert (RFC 8200 §4.1 lists
# at most 7 kinds, destination options twice) and costs must not grow with the frame.
_MAX_EXTENSIONS = 8
_MAX_EXTENSION_BYTES = 2048
_ICMPV6 = 58
_ND_NEIGHBOR_ADVERT = 136
_TTL = 255  # CARP_DFLTTL; VRRP RFC 3768 §7.1 / RFC 5798 §7.1
# ARP (RFC 826) for Ethernet and IPv4: hardware/protocol types and sizes, operation, sender MAC and IP,
# target IP (the target MAC skipped).
_ARP = struct.Struct("!6sH6s4s6x4s")
_ARP_ETHER_IPV4 = b"\x00\x01\x08\x00\x06\x04"
_CLAIM = Builder(AddressClaim, ("frame", "time", "family", "addr", "mac", "vlan", "how"))  # no dataclass __init__


def decode_frame(frame: Frame, decode_as: str | None = None) -> Record | None:
    """Decode one captured frame."""
    if frame.linktype == linklayer.DLT_EN10MB and not decode_as:
        record = plain.decode(frame)  # the usual advert, in one unpack per layer
        if record is not None:
            return record
    data = frame.data
    link = linklayer.parse(frame.linktype, data)
    if link is None:
        return None
    if link.ethertype == linklayer.ETH_IPV4:
        return _ipv4(frame, data, link, decode_as)
    if link.ethertype == linklayer.ETH_IPV6:
        return _ipv6(frame, data, link, decode_as)
    if link.ethertype == linklayer.ETH_ARP:
        return _arp(frame, data, link)
    return None


def _damaged(frame: Frame, kind: str, detail: str, severity: Severity = Severity.WARNING) -> Damaged:
    return Damaged(frame.number, frame.time, (Finding(kind, severity, detail, frame.number, frame.time),))


def _ipv4(frame: Frame, data: bytes, link: linklayer.Link, decode_as: str | None) -> Record | None:
    off = link.offset
    if len(data) < off + 20:
        if len(data) >= off + 10 and data[off + 9] == IPPROTO_112:
            return _damaged(frame, kinds.SHORT_CAPTURE, "IPv4 header cut short by the snaplen")
        return None
    ihl = (data[off] & 0x0F) * 4
    proto = data[off + 9]
    if proto != IPPROTO_112 and not (proto == IPPROTO_AH and data[off + ihl : off + ihl + 1] == b"\x70"):
        return None
    total = int.from_bytes(data[off + 2 : off + 4], "big")
    if ihl < 20 or total < ihl:
        return _damaged(frame, kinds.MALFORMED, f"IPv4 header length {ihl}, total length {total}")
    frag = int.from_bytes(data[off + 6 : off + 8], "big")
    findings: list[Finding] = []
    if frag & 0x1FFF:
        return _damaged(frame, kinds.FRAGMENTED,
                        f"IPv4 fragment at offset {(frag & 0x1FFF) * 8} of a protocol-112 packet")
    if frag & 0x2000:
        findings.append(Finding(kinds.FRAGMENTED, Severity.WARNING,
                                "first IPv4 fragment: the rest of the advert is elsewhere",
                                frame.number, frame.time, family=4, vlan=link.vlan))
    src, dst = data[off + 12 : off + 16], data[off + 16 : off + 20]
    payload = data[off + ihl : off + total]
    ah = None
    if proto == IPPROTO_AH:
        size = (payload[1] + 2) * 4 if len(payload) > 1 else 12
        if len(payload) < max(size, 12):
            return _damaged(frame, kinds.MALFORMED, f"AH header of {size} bytes, {len(payload)} captured")
        ah = (int.from_bytes(payload[4:8], "big"), int.from_bytes(payload[8:12], "big"), size)
        payload, total = payload[size:], total - size
    return _advert(frame, link, 4, src, dst, data[off + 8], total - ihl, payload, findings, decode_as, ah)


def _ipv6(frame: Frame, data: bytes, link: linklayer.Link, decode_as: str | None) -> Record | None:
    off = link.offset
    if len(data) < off + 40:
        return None
    length = int.from_bytes(data[off + 4 : off + 6], "big")
    end = off + 40 + length
    nxt, pos, fragment, problem = _ipv6_chain(data, data[off + 6], off + 40, end)
    if problem:
        return _damaged(frame, kinds.MALFORMED, problem)
    findings: list[Finding] = []
    if fragment == "later":
        return (_damaged(frame, kinds.FRAGMENTED, "IPv6 fragment of a protocol-112 packet")
                if nxt == IPPROTO_112 else None)
    if fragment == "first":
        findings.append(Finding(kinds.FRAGMENTED, Severity.WARNING, "first IPv6 fragment",
                                frame.number, frame.time, family=6, vlan=link.vlan))
    src, dst = data[off + 8 : off + 24], data[off + 24 : off + 40]
    if nxt == _ICMPV6:
        return _neighbor_advert(frame, data[pos:end], link, src, dst)
    if nxt != IPPROTO_112:
        return None
    return _advert(frame, link, 6, src, dst, data[off + 7], end - pos, data[pos:end], findings, decode_as)


def _ipv6_chain(data: bytes, nxt: int, pos: int, end: int) -> tuple[int, int, str | None, str | None]:
    """Walk the extension headers before the upper layer (RFC 8200 §4), bounded.

    Returns (upper-layer protocol (-1: cut short by the snaplen), where it starts, fragment: None | "first" |
    "later", problem). At most _MAX_EXTENSIONS headers and _MAX_EXTENSION_BYTES
    bytes, each length checked against what is left: a chain past that is a
    problem, never a loop (libpcap's protochain loops on some, issue 20).
    """
    start, count, fragment = pos, 0, None
    while nxt in _IPV6_EXTENSIONS or nxt == _IPV6_FRAGMENT:
        count += 1
        if count > _MAX_EXTENSIONS:
            return nxt, pos, fragment, f"more than {_MAX_EXTENSIONS} IPv6 extension headers"
        if nxt == 0 and pos != start:
            return nxt, pos, fragment, "IPv6 hop-by-hop options header after another header (RFC 8200 §4.1)"
        if end < pos + 8:
            return nxt, pos, fragment, f"IPv6 extension header {nxt} runs past the payload length"
        if len(data) < pos + 8:
            return -1, pos, fragment, None  # cut short by the snaplen: nothing to tell
        if nxt == _IPV6_FRAGMENT:
            later = int.from_bytes(data[pos + 2 : pos + 4], "big") & 0xFFF8
            fragment = "later" if later else "first" if data[pos + 3] & 1 else fragment
            size = 8
        elif nxt == _AH:
            size = (data[pos + 1] + 2) * 4  # RFC 4302 §2.2: in 32-bit words, minus 2
        else:
            size = (data[pos + 1] + 1) * 8  # RFC 8200 §4.3: in 8-byte units, minus 1
        if pos + size > end:
            return nxt, pos, fragment, f"IPv6 extension header {nxt} of {size} bytes runs past the payload length"
        if pos + size - start > _MAX_EXTENSION_BYTES:
            return nxt, pos, fragment, f"IPv6 extension headers longer than {_MAX_EXTENSION_BYTES} bytes"
        nxt, pos = data[pos], pos + size
        if fragment == "later":
            break  # the rest of the chain is in the first fragment
    return nxt, pos, fragment, None


def _advert(frame: Frame, link: linklayer.Link, family: int, src: bytes, dst: bytes, ttl: int,
            length: int, payload: bytes, findings: list[Finding], decode_as: str | None,
            ah: tuple[int, int, int] | None = None) -> Record:
    """Build the CARP or VRRP record of a protocol-112 payload (`ah`: SPI, sequence, size of an AH before it)."""
    proto, why, ambiguous = classify(payload, length, link.src_mac)
    if decode_as:
        proto, why = decode_as, f"--decode-as {decode_as}"
    gid = payload[1] if len(payload) > 1 else None  # vhid or vrid, for the group of a finding
    af = socket.AF_INET if family == 4 else socket.AF_INET6
    base = {
        "frame": frame.number, "time": frame.time, "family": family,
        "src": socket.inet_ntop(af, src), "dst": socket.inet_ntop(af, dst),
        "src_mac": link.src_mac, "dst_mac": link.dst_mac, "vlan": link.vlan, "ttl": ttl,
        "length": length, "caplen": len(payload), "why": why,
    }
    if ah is not None:
        base["ah_spi"], base["ah_seq"] = ah[0], ah[1]
    if ttl != _TTL and not _ttl_unchecked(proto, dst, payload, link.src_mac):
        # Receivers drop TTL/hop limit != 255 (OpenBSD always, FreeBSD for multicast,
        # ucarp always, RFC 3768/5798 §7.1): a routed or forged advert.
        findings.append(Finding(kinds.BAD_TTL, Severity.WARNING, f"TTL {ttl}, receivers drop anything but 255",
                                frame.number, frame.time, proto, gid, family, link.vlan))
    if ambiguous and not decode_as:
        findings.append(Finding(kinds.AMBIGUOUS, Severity.INFO, f"decoded as {proto.upper()}: {why}",
                                frame.number, frame.time, proto, gid, family, link.vlan))
    if proto == "carp":
        return carp.decode(payload, base, findings)
    return vrrp.decode(payload, base, findings, src, dst)


def _ttl_unchecked(proto: str, dst: bytes, payload: bytes, src_mac: str | None) -> bool:
    """A unicast CARP advert from a FreeBSD-family sender: its peer does not check the TTL.

    FreeBSD checks the TTL only for multicast adverts (docs/protocol.md §9.4); its unicast
    adverts keep the parent's real MAC (§1.4) and carry demote 0. OpenBSD (demote
    byte, carp lladdr 00:00:5e:00:01:xx) and ucarp (00:00:5e:00:00:xx) always require 255.
    """
    multicast = dst[0] == 0xFF if len(dst) == 16 else 224 <= dst[0] <= 239
    if proto != "carp" or multicast:
        return False
    virtual = (src_mac or "").startswith(("00:00:5e:00:01:", "00:00:5e:00:00:"))
    return len(payload) > 4 and payload[4] == 0 and not virtual


def _arp(frame: Frame, data: bytes, link: linklayer.Link) -> AddressClaim | None:
    """Gratuitous ARP (sender IP == target IP) or an ARP reply from a virtual MAC."""
    if len(data) < link.offset + 28:
        return None
    head, op, sender_mac, sender_ip, target_ip = _ARP.unpack_from(data, link.offset)
    if head != _ARP_ETHER_IPV4:
        return None
    if sender_ip == target_ip and op in (1, 2):
        how = "garp"
    elif op == 2 and sender_mac[:5] == b"\x00\x00\x5e\x00\x01":
        how = "arp-reply"
    else:
        return None
    return _CLAIM(frame.number, frame.time, 4, socket.inet_ntop(socket.AF_INET, sender_ip), sender_mac.hex(":"),
                  link.vlan, how)


def _neighbor_advert(frame: Frame, icmp: bytes, link: linklayer.Link, src: bytes, dst: bytes) -> AddressClaim | None:
    """An unsolicited neighbour advertisement (S flag clear) announces a new owner."""
    if len(icmp) < 24 or icmp[0] != _ND_NEIGHBOR_ADVERT or icmp[4] & 0x40:
        return None
    owner = link.src_mac or ""
    pos = 24
    while pos + 8 <= len(icmp) and icmp[pos + 1]:
        if icmp[pos] == 2:  # target link-layer address option
            owner = linklayer.mac(icmp[pos + 2 : pos + 8])
        pos += icmp[pos + 1] * 8
    return _CLAIM(frame.number, frame.time, 6, socket.inet_ntop(socket.AF_INET6, icmp[8:24]), owner, link.vlan,
                  "unsolicited-na")
