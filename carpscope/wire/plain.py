"""The usual advert frame, decoded with one unpack per layer (issue 20).

Every frame of a hostile capture is new (forged senders, a new group on each of
thousands of VLANs), so none takes the repeat path (repeat.py) and each would go
through every step of decode.py. Most of them, like most real adverts, have one
shape: Ethernet, untagged or with one VLAN tag, an option-less unfragmented IPv4
header with TTL 255, then a whole CARP header (36 bytes, authlen 7) or VRRPv2
message (16 + 4 × count bytes) that verifies and has nothing to report. Those are
read here with struct and built with a model.Builder; anything else (a finding to
report, another shape, --decode-as) returns None and is decoded in full by
decode.py, which gives the same record for these (tests/test_plain.py).
"""

from __future__ import annotations

import socket
import struct

from carpscope.model import Builder, CarpAdvert, Frame, VrrpAdvert
from carpscope.wire.carp import CARP_LEN

_ETHER = struct.Struct("!6s6sH")  # destination, source, ethertype
_TAG = struct.Struct("!HH")  # 802.1Q/802.1ad: tag control (VLAN id in the low 12 bits), inner ethertype
# IPv4 header from its first byte: version/IHL, total length, flags/fragment offset, TTL,
# protocol, source, destination (TOS, identification and header checksum skipped).
_IPV4 = struct.Struct("!BxHxxHBBxx4s4s")
_CARP = struct.Struct("!BBBBBBHQ20s")  # version/type … checksum, counter, md (carp.py)
_VRRP2 = struct.Struct("!BBBBBBH")  # version/type, vrid, priority, count, auth type, interval, checksum

_ETH_IPV4 = 0x0800
_VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)  # as linklayer._VLAN_TPIDS
_IPV4_PLAIN = 0x45  # version 4, 20-byte header
_PROTO_112 = 112
_TTL = 255
_V2_ADVERT = 0x21  # version 2, type 1 (advertisement): both CARP and VRRPv2
_CARP_AUTHLEN = 7
_VRRP_AUTH_LEN = 8

_CARP_WHY = "v2, 36 bytes, authlen 7: the CARP shape"  # classify.classify's words
_NAMES = ("frame", "time", "family", "src", "dst", "src_mac", "dst_mac", "vlan", "ttl", "length", "caplen", "why",
          "version", "type", "checksum")
_CARP_BUILD = Builder(CarpAdvert, (*_NAMES, "vhid", "advskew", "authlen", "demote", "advbase", "cksum", "counter",
                                   "md"))
_VRRP_BUILD = Builder(VrrpAdvert, (*_NAMES, "vrid", "priority", "count", "auth_type", "adver_int", "cksum",
                                   "addresses", "auth_data"))
# The builders' compiled functions, fetched at the first frame (Builder.function: nothing is compiled
# at import), then called straight: a Builder's __call__ would pack and unpack its 23 values (issue 20).
_carp_new = _vrrp_new = None


def _carp_builder():
    global _carp_new
    _carp_new = _CARP_BUILD.function()
    return _carp_new


def _vrrp_builder():
    global _vrrp_new
    _vrrp_new = _VRRP_BUILD.function()
    return _vrrp_new


_VRRP_WHY = tuple(f"v2, 16+4x{count} bytes: the VRRPv2 shape" for count in range(256))  # classify's words
_ntop = socket.inet_ntop
_AF_INET = socket.AF_INET
# Destinations (the group address, a unicast peer) and VRRP's virtual addresses recur across senders
# and groups: their text is kept, up to a bound (a forged flood of them just stops being kept).
_DOTTED: dict[bytes, str] = {}
_DOTTED_MAX = 4096


_MACS: dict[bytes, str] = {}  # source and destination MACs' text: virtual and group MACs recur, the same bound


def _mac(address: bytes) -> str:
    return _kept(_MACS, address, address.hex(":"))


def _dotted(address: bytes) -> str:
    return _kept(_DOTTED, address, _ntop(_AF_INET, address))


def _kept(texts: dict[bytes, str], address: bytes, text: str) -> str:
    """`text`, kept for `address` unless `texts` holds _DOTTED_MAX already (a flood of new ones)."""
    if len(texts) < _DOTTED_MAX:
        texts[address] = text
    return text


def decode(frame: Frame) -> CarpAdvert | VrrpAdvert | None:
    """The record of a plain advert frame (Ethernet linktype), or None to decode it in full."""
    data = frame.data
    if len(data) < 34:
        return None
    dst_mac, src_mac, ethertype = _ETHER.unpack_from(data)
    vlan: tuple[int, ...] = ()
    if ethertype == _ETH_IPV4:
        off = 14
    elif ethertype in _VLAN_TPIDS and len(data) >= 38:
        tci, ethertype = _TAG.unpack_from(data, 14)
        if ethertype != _ETH_IPV4:
            return None
        off, vlan = 18, (tci & 0x0FFF,)
    else:
        return None
    vhl, total, frag, ttl, proto, src, dst = _IPV4.unpack_from(data, off)
    p = off + 20
    length = total - 20
    # Whole (nothing cut by the snaplen), unfragmented (DF alone allowed), TTL 255.
    if (vhl != _IPV4_PLAIN or proto != _PROTO_112 or ttl != _TTL or frag & 0x3FFF or length < 16
            or len(data) < p + length or data[p] != _V2_ADVERT):
        return None
    count = data[p + 3]
    if length == CARP_LEN and count == _CARP_AUTHLEN:
        # A whole CARP header with authlen 7: nothing to report when vhid is not 0 and the checksum
        # verifies (RFC 1071 §2(B): the one's-complement sum is the value modulo 0xffff; 0 verifies,
        # the header not being all zero). Read here, not in a call: every forged frame comes here.
        _, vhid, advskew, authlen, demote, advbase, cksum, counter, md = _CARP.unpack_from(data, p)
        if not vhid or int.from_bytes(data[p : p + CARP_LEN], "big") % 0xFFFF:
            return None
        return (_carp_new or _carp_builder())(
            frame.number, frame.time, 4, _ntop(_AF_INET, src), _DOTTED.get(dst) or _dotted(dst),
            _MACS.get(src_mac) or _mac(src_mac), _MACS.get(dst_mac) or _mac(dst_mac), vlan, _TTL, CARP_LEN, CARP_LEN,
            _CARP_WHY, 2, 1, "ok", vhid, advskew, authlen, demote, advbase, cksum, counter, md)
    if length == 16 + 4 * count:
        return _vrrp2(frame, data, p, length, count, vlan, src, dst, src_mac, dst_mac)
    return None


def _vrrp2(frame: Frame, data: bytes, p: int, length: int, count: int, vlan: tuple[int, ...], src: bytes,
           dst: bytes, src_mac: bytes, dst_mac: bytes) -> VrrpAdvert | None:
    """A VRRPv2 message of exactly its addresses and auth data: nothing to report when it verifies."""
    _, vrid, priority, count, auth_type, adver_int, cksum = _VRRP2.unpack_from(data, p)
    if not vrid or not adver_int or int.from_bytes(data[p : p + length], "big") % 0xFFFF:
        return None
    end = p + 8 + 4 * count
    if count == 1:  # (the usual advert: one address, no comprehension)
        a = data[p + 8 : end]
        addresses: tuple[str, ...] = (_DOTTED.get(a) or _dotted(a),)
    else:
        addresses = tuple([_DOTTED.get(a) or _dotted(a) for a in [data[i : i + 4] for i in range(p + 8, end, 4)]])
    return (_vrrp_new or _vrrp_builder())(
        frame.number, frame.time, 4, _ntop(_AF_INET, src), _DOTTED.get(dst) or _dotted(dst),
        _MACS.get(src_mac) or _mac(src_mac), _MACS.get(dst_mac) or _mac(dst_mac), vlan, _TTL, length, length,
        _VRRP_WHY[count], 2, 1, "ok", vrid, priority, count, auth_type, adver_int, cksum, addresses,
        data[end : end + _VRRP_AUTH_LEN])
