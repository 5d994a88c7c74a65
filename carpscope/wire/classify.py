"""CARP or VRRP? Both are IP protocol 112 and both start with 0x21 (docs/protocol.md §6.6).

Decided per packet by shape, the way Wireshark's CARP heuristic does plus an exact
length check; the reason is kept on the record so the user can see why.
"""

from __future__ import annotations

from carpscope.wire.carp import CARP_AUTHLEN, CARP_LEN


def classify(payload: bytes, length: int, src_mac: str | None) -> tuple[str, str, bool]:
    """Return (protocol, why, ambiguous) for a protocol-112 payload of `length` bytes."""
    if not payload:
        return "vrrp", "empty payload; VRRP is the registered owner of protocol 112", True
    version, kind = payload[0] >> 4, payload[0] & 0x0F
    if version == 3:
        return "vrrp", "version 3 is VRRPv3", False
    if len(payload) < 4:
        return "vrrp", "too short to tell; VRRP is the registered owner of protocol 112", True
    authlen = payload[3]
    if version == 2 and kind == 1 and length == CARP_LEN and authlen == CARP_AUTHLEN:
        return "carp", "v2, 36 bytes, authlen 7: the CARP shape", False
    if version == 2 and length == 16 + 4 * authlen:
        return "vrrp", f"v2, 16+4x{authlen} bytes: the VRRPv2 shape", False
    if src_mac and src_mac.startswith("00:00:5e:00:00:"):
        return "carp", "ucarp's advert source MAC 00:00:5e:00:00:xx", True
    if authlen == CARP_AUTHLEN and version in (1, 2):
        return "carp", f"authlen 7 but {length} bytes: damaged CARP?", True
    return "vrrp", "no CARP shape; VRRP is the registered owner of protocol 112", True
