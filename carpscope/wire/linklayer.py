"""Link-layer headers: where the IP header starts, the VLAN tags and the MACs.

Walks the few header bytes itself instead of building dpkt objects (docs/design.md,
principle 8). Link types are libpcap's DLT_/LINKTYPE_ values.
"""

from __future__ import annotations

import struct
from typing import Literal, NamedTuple

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
ETH_ARP = 0x0806
_VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)
_TAG = struct.Struct("!HH")  # a VLAN tag after its TPID: TCI, then the next ethertype

DLT_NULL = 0
DLT_EN10MB = 1
DLT_RAW = (12, 14, 101)  # Linux/BSD DLT_RAW and LINKTYPE_RAW
DLT_FRELAY = 107
DLT_LOOP = 108
DLT_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
DLT_LINUX_SLL2 = 276
COOKED = (DLT_LINUX_SLL, DLT_LINUX_SLL2)  # Linux `any`: one frame per interface (vantage.py)

SUPPORTED = {
    DLT_NULL: "BSD loopback",
    DLT_EN10MB: "Ethernet",
    12: "raw IP",
    14: "raw IP",
    101: "raw IP",
    DLT_FRELAY: "Frame Relay",
    DLT_LOOP: "OpenBSD loopback",
    DLT_LINUX_SLL: "Linux cooked (SLL)",
    LINKTYPE_IPV4: "raw IPv4",
    LINKTYPE_IPV6: "raw IPv6",
    DLT_LINUX_SLL2: "Linux cooked v2 (SLL2)",
}

# BSD AF_INET6 differs by OS: 24 NetBSD/OpenBSD, 28 FreeBSD, 30 macOS (pcap-linktype(7)).
_AF_INET = 2
_AF_INET6 = (10, 24, 28, 30)


class Link(NamedTuple):
    """The link-layer facts a record keeps (a named tuple: one is built for every frame decoded in full)."""

    offset: int  # where the network header starts
    ethertype: int  # ETH_IPV4, ETH_IPV6, ETH_ARP or something else
    vlan: tuple[int, ...]
    src_mac: str | None
    dst_mac: str | None


def mac(b: bytes) -> str:
    """Colon-separated lower-case hex, the way tcpdump prints a MAC."""
    return b.hex(":")


def _vlan_tags(data: bytes, offset: int, ethertype: int) -> tuple[int, int, tuple[int, ...]]:
    """Skip 802.1Q / 802.1ad (QinQ) tags; return (offset, inner ethertype, VLAN ids)."""
    tags: list[int] = []
    while ethertype in _VLAN_TPIDS and len(data) >= offset + 4:
        tci, ethertype = _TAG.unpack_from(data, offset)
        tags.append(tci & 0x0FFF)
        offset += 4
    return offset, ethertype, tuple(tags)


def _ip_version(data: bytes, offset: int) -> int:
    if len(data) <= offset:
        return 0
    return {4: ETH_IPV4, 6: ETH_IPV6}.get(data[offset] >> 4, 0)


def parse(linktype: int, data: bytes) -> Link | None:
    """Return the Link of a frame, or None when its link header is cut short."""
    if linktype == DLT_EN10MB:
        if len(data) < 14:
            return None
        ethertype = int.from_bytes(data[12:14], "big")
        if ethertype in _VLAN_TPIDS:
            offset, ethertype, vlan = _vlan_tags(data, 14, ethertype)
            return Link(offset, ethertype, vlan, data[6:12].hex(":"), data[0:6].hex(":"))
        return Link(14, ethertype, (), data[6:12].hex(":"), data[0:6].hex(":"))
    if linktype == DLT_LINUX_SLL:
        if len(data) < 16:
            return None
        addrlen = int.from_bytes(data[4:6], "big")
        src = mac(data[6:12]) if addrlen == 6 else None
        offset, ethertype, vlan = _vlan_tags(data, 16, int.from_bytes(data[14:16], "big"))
        return Link(offset, ethertype, vlan, src, None)
    if linktype == DLT_LINUX_SLL2:
        if len(data) < 20:
            return None
        src = mac(data[12:18]) if data[11] == 6 else None
        offset, ethertype, vlan = _vlan_tags(data, 20, int.from_bytes(data[0:2], "big"))
        return Link(offset, ethertype, vlan, src, None)
    if linktype in DLT_RAW or linktype in (LINKTYPE_IPV4, LINKTYPE_IPV6):
        return Link(0, _ip_version(data, 0), (), None, None)
    if linktype in (DLT_NULL, DLT_LOOP):
        if len(data) < 4:
            return None
        order: Literal["big", "little"] = "big" if linktype == DLT_LOOP else ("little" if data[0] else "big")
        family = int.from_bytes(data[0:4], order)
        ethertype = ETH_IPV4 if family == _AF_INET else ETH_IPV6 if family in _AF_INET6 else 0
        return Link(4, ethertype, (), None, None)
    if linktype == DLT_FRELAY:
        return _frame_relay(data)
    return None


def _frame_relay(data: bytes) -> Link | None:
    """Q.922 address (ends at the byte whose EA bit is set), then RFC 2427 NLPID or a Cisco ethertype."""
    pos = 0
    while pos < len(data) and pos < 4 and not data[pos] & 1:
        pos += 1
    pos += 1
    if len(data) < pos + 2:
        return None
    if data[pos] == 0x03:  # UI frame, NLPID follows
        nlpid = {0xCC: ETH_IPV4, 0x8E: ETH_IPV6}.get(data[pos + 1], 0)
        return Link(pos + 2, nlpid, (), None, None)
    return Link(pos + 2, int.from_bytes(data[pos : pos + 2], "big"), (), None, None)
