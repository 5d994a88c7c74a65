"""The Internet checksum (RFC 1071) and the VRRPv3 pseudo-headers (docs/protocol.md §1.2, §5.2)."""

from __future__ import annotations

import struct

_IPPROTO_112 = 112


def internet_sum(data: bytes, start: int = 0) -> int:
    """One's-complement sum of `data` folded to 16 bits (0xffff means 'verifies').

    RFC 1071 §2(B): with the end-around carry the sum is the value of the bytes
    modulo 0xffff, written 0xffff rather than 0 unless every word is 0; one
    int.from_bytes instead of a word-by-word unpack (issue 20).
    """
    value = int.from_bytes(data, "big")
    if len(data) & 1:
        value <<= 8  # an odd byte is the high half of a last, zero-padded word
    total = value + start
    return total % 0xFFFF or (0xFFFF if total else 0)


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
