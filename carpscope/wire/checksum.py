"""The Internet checksum (RFC 1071) and the VRRPv3 pseudo-headers (docs/protocol.md §1.2, §5.2)."""

from __future__ import annotations

import struct

_IPPROTO_112 = 112


def internet_sum(data: bytes, start: int = 0) -> int:
    """One's-complement sum of `data` folded to 16 bits (0xffff means 'verifies')."""
    if len(data) & 1:
        data = data + b"\0"
    total = start + sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def verifies(data: bytes, start: int = 0) -> bool:
    """True when `data` (checksum field included) sums to all ones."""
    return internet_sum(data, start) == 0xFFFF


def pseudo_header_sum(src: bytes, dst: bytes, length: int) -> int:
    """Partial sum of the IPv4 or IPv6 pseudo-header for next header 112.

    RFC 5798 §5.2.8 asks for it for VRRPv3 (keepalived, tcpdump and Wireshark use it
    for IPv4 too); RFC 9568 keeps it for IPv6 only (docs/protocol.md §5.2).
    """
    if len(src) == 4:
        header = src + dst + struct.pack("!BBH", 0, _IPPROTO_112, length)
    else:
        header = src + dst + struct.pack("!I3xB", length, _IPPROTO_112)
    return internet_sum(header)
