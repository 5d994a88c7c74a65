"""Adverts repeat: a sender's next advert differs from its last in a few known bytes.

Between two adverts of one sender only the IPv4 identification and header
checksum change, and for CARP the checksum, counter and HMAC (docs/protocol.md §1.1).
Keyed on every other byte, a repeat is recognised with a few slices and its new
fields read in place, instead of decoding the frame again (issue 6: most of a day
of adverts is one master saying the same thing every second).

Only Ethernet frames, untagged or with one 802.1Q tag, carrying protocol 112
straight after an option-less IPv4 or an extension-less IPv6 header take this
path; anything else is decoded in full.
"""

from __future__ import annotations

from struct import Struct

from carpscope.wire.carp import CARP_LEN

DLT_EN10MB = 1
_IPV4 = b"\x08\x00"
_IPV6 = b"\x86\xdd"
_VLAN = b"\x81\x00"
IPV4_PLAIN = b"\x08\x00\x45"  # an IPv4 header without options, after its ethertype
_VARIES = 6  # bytes 0-5 of the payload stay; CARP's checksum, counter and md (6-35) vary
PLAIN_LEN = 14 + 20 + CARP_LEN  # an untagged CARP advert over IPv4, without padding or trailer
# Its bytes but the identification (18-19), the header checksum (24-25) and what varies
# (40-69), as one C call (a tuple: issue 19, cheaper than slicing and joining them). Pipeline.feed
# tries it first on every frame of PLAIN_LEN bytes.
PLAIN = Struct("18s2x4s2x14s").unpack_from
# The same frame with one 802.1Q tag (a group on each of many VLANs: issue 20), as one call too.
_TAGGED_LEN = PLAIN_LEN + 4
_TAGGED = Struct("22s2x4s2x14s").unpack_from


def key(linktype: int, data: bytes) -> tuple | bytes | None:
    """The bytes of the frame that do not vary between a sender's adverts, or None."""
    if linktype != DLT_EN10MB:
        return None
    if len(data) == PLAIN_LEN and data[12:15] == IPV4_PLAIN and data[23] == 0x70:  # the usual frame
        return PLAIN(data)
    if len(data) == _TAGGED_LEN and data[12:14] == _VLAN and data[16:19] == IPV4_PLAIN and data[27] == 0x70:
        return _TAGGED(data)
    ethertype, off = data[12:14], 14
    if ethertype == _VLAN:
        ethertype, off = data[16:18], 18
    if ethertype == _IPV4:
        if data[off : off + 1] != b"\x45" or data[off + 9 : off + 10] != b"\x70":
            return None
        p = off + 20
        # Skip identification (off+4..6) and header checksum (off+10..12).
        return (data[: off + 4] + data[off + 6 : off + 10] + data[off + 12 : p + _VARIES]
                + data[p + CARP_LEN :])
    if ethertype == _IPV6:
        if data[off + 6 : off + 7] != b"\x70":
            return None
        p = off + 40
        return data[: p + _VARIES] + data[p + CARP_LEN :]
    return None


def payload(data: bytes) -> int:
    """Where the protocol-112 payload of a frame that has a `key` starts."""
    off = 18 if data[12:14] == _VLAN else 14
    return off + (20 if data[off - 2 : off] == _IPV4 else 40)
