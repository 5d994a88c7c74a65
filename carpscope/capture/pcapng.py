"""A pcapng walker for files whose interfaces have different link types.

libpcap takes one link type per file; pcapng allows one per interface, and
libpcap stops at the first packet of another (MIXED_LINKTYPES). capture/files.py
then walks the file here from where libpcap stopped. Every packet block is a
frame, as libpcap and Wireshark count them.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

import pcapy

MIXED_LINKTYPES = "different from the type of the first interface"  # libpcap 1.x, sf-pcapng.c
_MAX_BLOCK = 16 * 1024 * 1024 + 4096  # libpcap's largest block
_DLT_OF_LINKTYPE = {101: pcapy.DLT_RAW}  # what libpcap's datalink() says for LINKTYPE_RAW
_SECTION_HEADER = b"\x0a\x0d\x0d\x0a"
_BYTE_ORDERS = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}


class Broken(Exception):
    """A damaged pcapng block; the message says which way."""


def packets(f) -> Iterator[tuple[float, int, bytes]]:
    """(time, link type, bytes) of every packet block, whatever its interface's link type."""
    endian = "<"
    ifaces: list[tuple[int, int, int]] = []  # (link type, timestamp units per second, offset s)
    while True:
        head = f.read(12)
        if not head:
            return
        if len(head) < 12:
            raise Broken("truncated pcapng block header")
        if head[:4] == _SECTION_HEADER:  # section header: byte order, interfaces restart
            endian = _BYTE_ORDERS.get(head[8:12], "")
            if not endian:
                raise Broken("pcapng section header with a bad byte-order magic")
            ifaces = []
        kind, body = _block(f, head, endian)
        if kind == 1:  # interface description
            ifaces.append(_interface(body, endian))
        elif kind in (6, 2):  # enhanced packet, (obsolete) packet
            yield _packet(kind, body, endian, ifaces)
        elif kind == 3:  # simple packet: interface 0, no timestamp
            if not ifaces:
                raise Broken("pcapng packet on interface 0, which is not described")
            wirelen = struct.unpack_from(endian + "I", body)[0] if len(body) >= 4 else 0
            yield 0.0, ifaces[0][0], body[4 : 4 + min(wirelen, len(body) - 4)]


def _block(f, head: bytes, endian: str) -> tuple[int, bytes]:
    """The block type and body (after the type and length, before the trailing length)."""
    kind, length = struct.unpack(endian + "II", head[:8])
    if length < 12 or length % 4 or length > _MAX_BLOCK:
        raise Broken(f"pcapng block of length {length}")
    body = head[8:] + f.read(length - 12)
    if len(body) < length - 8:
        raise Broken("truncated pcapng block")
    if struct.unpack(endian + "I", body[-4:])[0] != length:
        raise Broken("pcapng block lengths disagree")
    return kind, body[:-4]


def _interface(body: bytes, endian: str) -> tuple[int, int, int]:
    """(link type as libpcap names it, timestamp units per second, offset s) of an interface."""
    if len(body) < 8:
        raise Broken("pcapng interface description too short")
    linktype = struct.unpack_from(endian + "H", body)[0]
    return (_DLT_OF_LINKTYPE.get(linktype, linktype), *_ts_options(body[8:], endian))


def _packet(kind: int, body: bytes, endian: str, ifaces: list) -> tuple[float, int, bytes]:
    if len(body) < 20:
        raise Broken("pcapng packet block too short")
    if kind == 6:
        iface, hi, lo, caplen = struct.unpack_from(endian + "IIII", body)
    else:
        iface, _drops, hi, lo, caplen = struct.unpack_from(endian + "HHIII", body)
    if iface >= len(ifaces):
        raise Broken(f"pcapng packet on interface {iface}, which is not described")
    if caplen > len(body) - 20:
        raise Broken("pcapng packet longer than its block")
    linktype, units, offset = ifaces[iface]
    sec, frac = divmod(hi << 32 | lo, units)
    # Microseconds, truncated, as libpcap gives them.
    return sec + offset + (frac * 1_000_000 // units) / 1e6, linktype, body[20 : 20 + caplen]


def _ts_options(options: bytes, endian: str) -> tuple[int, int]:
    """if_tsresol (9) and if_tsoffset (14) of an interface: (units per second, offset)."""
    units, offset, pos = 1_000_000, 0, 0
    while pos + 4 <= len(options):
        code, size = struct.unpack_from(endian + "HH", options, pos)
        value = options[pos + 4 : pos + 4 + size]
        if code == 0:
            break
        if code == 9 and size >= 1:
            exp = value[0] & 0x7F
            units = 2**exp if value[0] & 0x80 else 10**exp
            if not units or exp > 60:
                raise Broken(f"pcapng interface with timestamp resolution {value[0]:#x}")
        elif code == 14 and size >= 8:
            if len(value) < 8:
                raise Broken("pcapng if_tsoffset option runs past its block")
            offset = struct.unpack(endian + "q", value[:8])[0]
        pos += 4 + size + (-size % 4)
    return units, offset
