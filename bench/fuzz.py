#!/usr/bin/env python3
"""Mutation fuzzer for `carpscope read` (issue 8).

Takes the real captures (captures/*.pcap, the public tests/data/tcpdump-*.pcap and
the PcapPlusPlus .dat frames beside them), damages them the ways files get damaged
and the ways an attacker would, and runs carpscope's read path on each result
in-process (click's CliRunner on carpscope.cli.main), checking what must hold
whatever the input:

  * no exception escapes; the exit status is 0, 3, or 1 under --fail-on
  * JSON output parses (no NaN either); exit 3 comes with one `carpscope:` line
    and, when the document was written, a `truncated-capture` finding
  * whole records re-encoded as pcapng, with one interface or several of
    different link types, are read to the end (exit 0)
  * frame numbers only increase
  * no control byte other than \\n and \\t (nor 0x7f) reaches the output
  * a passphrase never appears on stdout, stderr or in a -w file
  * every protocol-112 packet that is not a valid advert carries a finding, judged
    by an independent validator written from the RFCs (checksum, length, version,
    TTL, ids, fragments); a checksum the validator finds bad is reported bad and
    carries `bad-checksum`; a packet whose counter, md or vhid was altered never
    has a verified HMAC; a protocol-112 frame missing from the JSON is shown as
    undecodable, with a finding, in the text output
  * a -w file reads back (exit 0) with the same packets

Mutations: bit and byte flips and truncation of the file; splices of two files
(whole records or raw bytes); duplicated, dropped and reordered records; record
length and timestamp rewrites; snaplen, byte-order, nanosecond and pcapng
re-encodings, several interfaces, gzip; and mutations of the protocol-112 payloads
inside valid records (bits, bytes, fields with a recomputed checksum, IP lengths,
TTL, fragments, cut frames, random payloads) so that the decoders see damage, not
just libpcap. Mutations that keep the records' structure are "tracked": the fuzzer
knows which frame is which and checks findings packet by packet.

    python bench/fuzz.py --cases 3000 --seed 1
    python bench/fuzz.py --minutes 120 --seed 2 --keep /tmp/carpfuzz   # long run
    python bench/fuzz.py --seed 1 --case 1234 -v                       # replay one case

Each case is derived from (seed, case number) alone, so any failure is replayed
with the command printed in the summary. Exit status: 0 when every case passed,
1 when any crashed or broke a property, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import glob
import gzip
import ipaddress
import itertools
import json
import os
import random
import re
import signal
import struct
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import pcapy  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from carpscope.capture.bpf import capture_filter  # noqa: E402
from carpscope.cli import main as carpscope_main  # noqa: E402

PUBLIC = os.path.join(REPO, "tests", "data")  # public captures: tests/data/README.md
PASSPHRASES = ["correct horse", "s3cret", "hunter2", "wrong horse", "wr0ng-pass"]
RUN_TIMEOUT = 60  # seconds one carpscope run may take before it counts as a hang

_PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", False), b"\xa1\xb2\xc3\xd4": (">", False),
    b"\x4d\x3c\xb2\xa1": ("<", True), b"\xa1\xb2\x3c\x4d": (">", True),
}
_VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)
_ETH, _SLL, _SLL2 = 1, 113, 276
_RAW = (12, 14, 101, 228, 229)
_NULL = (0, 108)
_BPF_LINKTYPES = {0, 1, 12, 14, 101, 108, 113, 228, 229, 276}
_INTERESTING = (0x00, 0x01, 0x02, 0x03, 0x07, 0x0D, 0x1B, 0x20, 0x21, 0x31, 0x7F, 0x80, 0x9B, 0xFE, 0xFF)
_SGR = re.compile(rb"\x1b\[[0-9;]*m")  # rich's colours, allowed only with --color always
_UNDECODABLE = re.compile(r"^\s*(\d+)  \S+ \S+ undecodable((?: \[[a-z0-9-]+\])+)$")


# ---------------------------------------------------------------------------
# pcap in and out
# ---------------------------------------------------------------------------

@dataclass
class Rec:
    """One record; `orig` is the frame as it was in the source (None: made up)."""

    sec: int
    frac: int  # microseconds, or nanoseconds in a nanosecond file
    data: bytes
    wirelen: int
    orig: bytes | None
    linktype: int
    caplen_field: int | None = None  # a lying caplen (breaks the file's structure)
    mutated: set = field(default_factory=set)  # payload regions touched: "counter", "md", "vhid", ...


@dataclass
class Capture:
    endian: str = "<"
    nano: bool = False
    snaplen: int = 65535
    linktype: int = 1
    version: tuple = (2, 4)
    recs: list = field(default_factory=list)

    def copy(self) -> Capture:
        return dataclasses.replace(self, recs=[dataclasses.replace(r, mutated=set(r.mutated)) for r in self.recs])

    def header(self) -> bytes:
        magic = 0xA1B23C4D if self.nano else 0xA1B2C3D4
        return struct.pack(self.endian + "IHHiIII", magic, *self.version, 0, 0, self.snaplen, self.linktype)

    def to_bytes(self) -> bytes:
        out = [self.header()]
        for r in self.recs:
            caplen = len(r.data) if r.caplen_field is None else r.caplen_field
            out.append(struct.pack(self.endian + "IIII", r.sec & 0xFFFFFFFF, r.frac & 0xFFFFFFFF, caplen,
                                   r.wirelen & 0xFFFFFFFF) + r.data)
        return b"".join(out)

    def time(self, r: Rec) -> float:
        return r.sec + r.frac / (1e9 if self.nano else 1e6)


def parse_pcap(data: bytes) -> Capture | None:
    if data[:4] not in _PCAP_MAGICS or len(data) < 24:
        return None
    endian, nano = _PCAP_MAGICS[data[:4]]
    _, vmaj, vmin, _, _, snaplen, linktype = struct.unpack_from(endian + "IHHiIII", data)
    cap = Capture(endian, nano, snaplen, linktype & 0x0FFFFFFF, (vmaj, vmin))
    pos = 24
    while pos + 16 <= len(data):
        sec, frac, caplen, wirelen = struct.unpack_from(endian + "IIII", data, pos)
        frame = data[pos + 16 : pos + 16 + caplen]
        if len(frame) < caplen:
            break
        cap.recs.append(Rec(sec, frac, frame, wirelen, frame, cap.linktype))
        pos += 16 + caplen
    return cap


def load_sources() -> list[tuple[str, Capture]]:
    """The real captures: the project's own, the public ones, the .dat frames."""
    paths = sorted(glob.glob(os.path.join(REPO, "captures", "*.pcap")))
    paths += sorted(glob.glob(os.path.join(PUBLIC, "tcpdump-*.pcap")))
    out = []
    for path in paths:
        with open(path, "rb") as f:
            cap = parse_pcap(f.read())
        if cap is not None and cap.recs:
            out.append((os.path.basename(path), cap))
    dat = sorted(glob.glob(os.path.join(PUBLIC, "pcapplusplus-*.dat")))
    if dat:
        cap = Capture()
        for i, path in enumerate(dat):
            with open(path) as f:
                frame = bytes.fromhex("".join(f.read().split()))
            cap.recs.append(Rec(1700000000 + i, 0, frame, len(frame), frame, 1))
        out.append(("pcapplusplus-dat", cap))
    return out


# --- pcapng ----------------------------------------------------------------

def _block(endian: str, kind: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack(endian + "II", kind, n) + body + struct.pack(endian + "I", n)


def _option(endian: str, code: int, value: bytes) -> bytes:
    return struct.pack(endian + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def to_pcapng(cap: Capture, rng: random.Random, multi: bool) -> bytes:
    """The same records as pcapng: one interface per link type (several when `multi`)."""
    e = rng.choice("<>")
    resol = rng.choice([6, 6, 9, 3, 0x8A])  # µs, ns, ms, 2^-10
    out = [_block(e, 0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1))]
    ifaces: dict[int, int] = {}
    for lt in [cap.linktype] + [r.linktype for r in cap.recs]:
        if lt not in ifaces and (multi or not ifaces):
            opts = _option(e, 9, bytes([resol])) + _option(e, 0, b"")
            out.append(_block(e, 1, struct.pack(e + "HHI", lt, 0, 0) + opts))
            ifaces[lt] = len(ifaces)
    for r in cap.recs:
        t = cap.time(r)
        units = int(t * (2 ** (resol & 0x7F) if resol & 0x80 else 10 ** resol))
        caplen = len(r.data) if r.caplen_field is None else r.caplen_field
        body = struct.pack(e + "IIIII", ifaces.get(r.linktype, 0), (units >> 32) & 0xFFFFFFFF, units & 0xFFFFFFFF,
                           caplen, r.wirelen & 0xFFFFFFFF) + r.data
        out.append(_block(e, 6, body))
    return b"".join(out)


# ---------------------------------------------------------------------------
# An independent reading of protocol 112 (from the RFCs, not from carpscope)
# ---------------------------------------------------------------------------

@dataclass
class Ip112:
    family: int
    ip: int  # offset of the IP header
    start: int  # offset of the protocol-112 message
    length: int  # its length according to the IP header
    ttl: int
    ttl_at: int
    len_at: int
    frag: int  # IPv4 flags+offset word (0 for IPv6)
    src: bytes
    dst: bytes


def ip_offset(linktype: int, data: bytes) -> int | None:
    if linktype == _ETH:
        if len(data) < 14:
            return None
        off, et = 14, int.from_bytes(data[12:14], "big")
        while et in _VLAN_TPIDS and len(data) >= off + 4:
            et, off = int.from_bytes(data[off + 2 : off + 4], "big"), off + 4
        return off if et in (0x0800, 0x86DD) else None
    if linktype == _SLL:
        return 16 if len(data) >= 16 and data[14:16] in (b"\x08\x00", b"\x86\xdd") else None
    if linktype == _SLL2:
        return 20 if len(data) >= 20 and data[0:2] in (b"\x08\x00", b"\x86\xdd") else None
    if linktype in _RAW:
        return 0
    if linktype in _NULL:
        return 4 if len(data) >= 4 else None
    return None


def ip112(linktype: int, data: bytes) -> Ip112 | None:
    """Where the protocol-112 message of a frame is, or None (IPv6 extension headers not followed)."""
    off = ip_offset(linktype, data)
    if off is None or len(data) <= off:
        return None
    version = data[off] >> 4
    if version == 4 and len(data) >= off + 20 and data[off + 9] == 112:
        ihl = (data[off] & 15) * 4
        total = int.from_bytes(data[off + 2 : off + 4], "big")
        return Ip112(4, off, off + ihl, total - ihl, data[off + 8], off + 8, off + 2,
                     int.from_bytes(data[off + 6 : off + 8], "big"), data[off + 12 : off + 16],
                     data[off + 16 : off + 20])
    if version == 6 and len(data) >= off + 40:
        nxt, pos, frag = data[off + 6], off + 40, 0
        while nxt in (0, 43, 44, 60) and len(data) >= pos + 8:  # RFC 8200 §4 extension headers
            if nxt == 44:
                frag = int.from_bytes(data[pos + 2 : pos + 4], "big") & 0xFFF8
                nxt, pos = data[pos], pos + 8
                if frag:
                    break  # what follows a later fragment's header is data, not headers
                continue
            nxt, pos = data[pos], pos + (data[pos + 1] + 1) * 8
        if nxt != 112:
            return None
        plen = int.from_bytes(data[off + 4 : off + 6], "big")
        return Ip112(6, off, pos, off + 40 + plen - pos, data[off + 7], off + 7, off + 4, frag,
                     data[off + 8 : off + 24], data[off + 24 : off + 40])
    return None


def isum(data: bytes, start: int = 0) -> int:
    if len(data) & 1:
        data += b"\0"
    total = start + sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def pseudo(info: Ip112, length: int) -> int:
    if info.family == 4:
        return isum(info.src + info.dst + struct.pack("!BBH", 0, 112, length))
    return isum(info.src + info.dst + struct.pack("!I3xB", length, 112))


def checksum_forms(info: Ip112, msg: bytes) -> set[str]:
    """Which checksum computations `msg` (the whole message) passes."""
    forms = set()
    if isum(msg) == 0xFFFF:
        forms.add("plain")
    if isum(msg, pseudo(info, len(msg))) == 0xFFFF:
        forms.add("pseudo")
    return forms


def valid_advert(info: Ip112, data: bytes) -> bool:
    """A CARP, VRRPv2 or VRRPv3 advert every receiver accepts (docs/protocol.md §1.6, RFC 3768/5798 §7.1)."""
    if info.ttl != 255 or info.length < 0 or info.frag & 0x3FFF:
        return False
    if info.family == 4 and info.start - info.ip < 20:
        return False
    msg = data[info.start : info.start + info.length]
    if len(msg) < info.length or len(msg) < 8:
        return False
    if msg[1] == 0:
        return False  # vhid / vrid 0
    if msg[0] == 0x21 and len(msg) == 36 and msg[3] == 7 and isum(msg) == 0xFFFF:
        return True  # CARP
    count = msg[3]
    if msg[0] == 0x21 and len(msg) == 16 + 4 * count and msg[5] != 0 and isum(msg) == 0xFFFF:
        return True  # VRRPv2
    size = 16 if info.family == 6 else 4
    forms = checksum_forms(info, msg)
    if msg[0] == 0x31 and len(msg) == 8 + size * count and (int.from_bytes(msg[4:6], "big") & 0x0FFF) \
            and ("pseudo" in forms or (info.family == 4 and "plain" in forms)):
        return True  # VRRPv3
    return False


# ---------------------------------------------------------------------------
# Mutations
# ---------------------------------------------------------------------------

def _recs112(cap: Capture) -> list[tuple[Rec, Ip112]]:
    out = []
    for r in cap.recs:
        info = ip112(r.linktype, r.data)
        if info is not None and info.length > 0 and len(r.data) >= info.start + 1:
            out.append((r, info))
    return out


def _put(data: bytes, at: int, value: bytes) -> bytes:
    return data[:at] + value + data[at + len(value) :]


def _regions(offsets) -> set[str]:
    names = set()
    for o in offsets:
        names.add("vhid" if o == 1 else "counter" if 8 <= o < 16 else "md" if 16 <= o < 36 else f"byte{o}")
    return names


def _fix_checksum(info: Ip112, data: bytes, form: str) -> bytes:
    """Recompute the checksum: "carp" (first 36 bytes), "plain" or "pseudo" (whole message)."""
    end = info.start + (36 if form == "carp" else info.length)
    msg = bytearray(data[info.start : end])
    if len(msg) < 8:
        return data
    msg[6:8] = b"\0\0"
    start = pseudo(info, len(msg)) if form == "pseudo" else 0
    value = ~isum(bytes(msg), start) & 0xFFFF
    return _put(data, info.start + 6, struct.pack("!H", value))


def m_payload_bits(rng, cap):
    r, info = rng.choice(cap.p112)
    end = min(len(r.data), info.start + info.length)
    if end <= info.start:
        return None
    offs = [rng.randrange(info.start, end) for _ in range(rng.choice([1, 1, 2, 3]))]
    data = bytearray(r.data)
    for o in offs:
        data[o] ^= 1 << rng.randrange(8)
    r.data = bytes(data)
    r.mutated |= _regions(o - info.start for o in offs)
    return "payload-bits"


def m_payload_bytes(rng, cap):
    r, info = rng.choice(cap.p112)
    end = min(len(r.data), info.start + info.length)
    if end <= info.start:
        return None
    data = bytearray(r.data)
    offs = [rng.randrange(info.start, end) for _ in range(rng.choice([1, 2, 4]))]
    for o in offs:
        data[o] = rng.choice(_INTERESTING) if rng.random() < 0.6 else rng.randrange(256)
    r.data = bytes(data)
    r.mutated |= _regions(o - info.start for o in offs)
    return "payload-bytes"


def m_payload_field(rng, cap):
    """Change a header field to an odd value and recompute the checksum: only semantics are wrong."""
    r, info = rng.choice(cap.p112)
    msg = r.data[info.start : info.start + info.length]
    if len(msg) < 8 or len(msg) < info.length:
        return None
    carp_like = len(msg) == 36 and msg[0] == 0x21 and msg[3] == 7
    forms = checksum_forms(info, msg)
    if not forms:
        return None  # the original does not verify: nothing to keep
    form = "carp" if carp_like else "pseudo" if forms == {"pseudo"} else "plain"
    choices = [(0, [0x11, 0x22, 0x31, 0x20, 0x2F, 0x41, 0x00]), (1, [0, 1, 255, rng.randrange(256)]),
               (2, [0, 1, 254, 255]), (3, [0, 1, 5, 6, 8, 255]), (4, [0, 1, 255]), (5, [0, 1, 255])]
    if carp_like:
        choices += [(8, None), (20, None)]
    at, values = rng.choice(choices)
    if values is None:  # counter or md bytes
        value = bytes(rng.randrange(256) for _ in range(rng.choice([1, 4, 8])))
    else:
        value = bytes([rng.choice(values)])
    data = _put(r.data, info.start + at, value)
    data = _fix_checksum(info, data, form)
    if data == r.data:
        return None
    r.data = data
    r.mutated |= _regions(range(at, at + len(value)))
    return "payload-field"


def m_ip_length(rng, cap):
    r, info = rng.choice(cap.p112)
    new = rng.choice([0, 1, 7, 8, 20, 35, 37, info.length - 1, info.length + 1, info.length + 64, 0xFFFF - 60])
    new = max(0, new)
    if info.family == 4:
        value = struct.pack("!H", min(0xFFFF, new + info.start - info.ip))
    else:
        value = struct.pack("!H", min(0xFFFF, new))
    r.data = _put(r.data, info.len_at, value)
    return "ip-length"


def m_ttl(rng, cap):
    r, info = rng.choice(cap.p112)
    r.data = _put(r.data, info.ttl_at, bytes([rng.choice([0, 1, 64, 128, 254])]))
    return "ttl"


def _ipv4_advert(rng, cap):
    """A protocol-112 record over IPv4 and its layout, or (None, None) when the capture has none."""
    cands = [(r, i) for r, i in cap.p112 if i.family == 4]
    return rng.choice(cands) if cands else (None, None)


def m_fragment(rng, cap):
    r, info = _ipv4_advert(rng, cap)
    if r is None:
        return None
    r.data = _put(r.data, info.ip + 6, struct.pack("!H", rng.choice([0x2000, 0x0001, 0x2010, 0x1FFF, 0x4000])))
    return "ip-fragment"


def m_ip_header(rng, cap):
    """IPv4 header length below 20 or beyond the frame."""
    r, info = _ipv4_advert(rng, cap)
    if r is None:
        return None
    r.data = _put(r.data, info.ip, bytes([0x40 | rng.choice([0, 1, 4, 6, 15])]))
    return "ip-ihl"


def m_payload_random(rng, cap):
    """Replace the message with random bytes of a random length (the IP length follows)."""
    r, info = rng.choice(cap.p112)
    n = rng.choice([0, 1, 3, 4, 7, 8, 16, 20, 35, 36, 37, 44, rng.randrange(120)])
    head = bytes([rng.choice([0x21, 0x31, 0x21, rng.randrange(256)])])
    payload = (head + bytes(rng.randrange(256) for _ in range(n)))[:n]
    data = r.data[: info.start] + payload
    if info.family == 4:
        data = _put(data, info.len_at, struct.pack("!H", info.start - info.ip + n))
    else:
        data = _put(data, info.len_at, struct.pack("!H", n))
    r.data = data
    r.mutated |= {"vhid", "counter", "md"}
    return "payload-random"


def m_trailing(rng, cap):
    """Bytes after the message, counted in the IP length."""
    r, info = rng.choice(cap.p112)
    extra = bytes(rng.randrange(256) for _ in range(rng.choice([1, 4, 8, 30])))
    data = r.data[: info.start + info.length] + extra
    new = info.length + len(extra)
    data = _put(data, info.len_at, struct.pack("!H", new + (info.start - info.ip if info.family == 4 else 0)))
    r.data = data
    return "trailing-bytes"


def m_cut_frame(rng, cap):
    r = rng.choice(cap.recs)
    if len(r.data) < 2:
        return None
    r.data = r.data[: rng.randrange(len(r.data))]
    return "cut-frame"


def m_escape(rng, cap):
    """Terminal escape sequences where text comes from the wire (a VRRPv2 password, say)."""
    v2 = [(r, i) for r, i in cap.p112 if r.data[i.start : i.start + 1] == b"\x21" and i.length not in (36,)]
    r, info = rng.choice(v2 if v2 and rng.random() < 0.8 else cap.p112)
    evil = rng.choice([b"\x1b[2J\x07", b"\x9b31m\r", b"\x00\x7f\x1b]0;x\x07", b"\n\t\x08\x1b"])
    msg = r.data[info.start : info.start + info.length]
    if len(msg) >= 8 and msg[0] == 0x21 and len(msg) != 36:
        # A VRRPv2 simple-text password: the text carpscope prints from the wire.
        r.data = _put(r.data, info.start + 4, b"\x01")
        at = info.start + 8 + 4 * msg[3]
    else:
        at = info.start + rng.choice([8, 12, 16, 20, 24, 28])
    if at + len(evil) > min(len(r.data), info.start + info.length):
        return None
    r.data = _put(r.data, at, evil)
    r.mutated |= _regions(range(at - info.start, at - info.start + len(evil)))
    return "escape-bytes"


def _to_ipv6(linktype: int, frame: bytes, ext: bytes) -> bytes | None:
    """An IPv4 protocol-112 frame as IPv6 (link-local source, ff02::12), same payload."""
    info = ip112(linktype, frame)
    if info is None or info.family != 4:
        return None
    payload = frame[info.start :]
    src = bytes.fromhex("fe80000000000000020000fffe000000")[:15] + info.src[3:4]
    dst = bytes.fromhex("ff020000000000000000000000000012")
    nh = ext[0:1] if ext else b"\x70"
    chained = ext[1:]
    header = struct.pack("!IHcB", 0x60000000, max(0, info.length) + len(chained), nh, info.ttl) + src + dst
    link = frame[: info.ip]
    if linktype == _SLL2:
        link = b"\x86\xdd" + link[2:]
    elif linktype in (_ETH, _SLL):
        link = link[:-2] + b"\x86\xdd"
    elif linktype in _NULL:
        link = struct.pack("<I", 24) if linktype == 0 else struct.pack(">I", 24)
    return link + header + chained + payload


def _ext_headers(rng) -> bytes:
    """A first byte naming the first extension header, then the headers, the last pointing at 112."""
    chain = rng.choice([[], [0], [60], [0, 60], [44], [43, 60]])
    if not chain:
        return b""
    out = bytes([chain[0]])
    for i, kind in enumerate(chain):
        nxt = chain[i + 1] if i + 1 < len(chain) else 112
        if kind == 44:
            out += bytes([nxt, 0]) + struct.pack("!HI", rng.choice([0, 0, 1, 8]), rng.randrange(1 << 32))
        elif kind == 43:
            out += bytes([nxt, 0, 0, 0]) + b"\0" * 4
        else:
            out += bytes([nxt, 0, 1, 4]) + b"\0" * 4  # a PadN option
    return out


def m_ipv6(rng, cap):
    """IPv4 adverts re-sent over IPv6, sometimes behind extension headers (CARP over IPv6, §1.2)."""
    ext = _ext_headers(rng) if rng.random() < 0.4 else b""
    done = 0
    for r in cap.recs:
        if rng.random() < 0.6:
            new = _to_ipv6(r.linktype, r.data, ext)
            if new is not None:
                r.data = new
                r.orig = _to_ipv6(r.linktype, r.orig, ext) if r.orig is not None else None
                done += 1
    return ("ipv6-ext" if ext else "ipv6") if done else None


def m_vlan(rng, cap):
    cands = [r for r in cap.recs if r.linktype == _ETH and len(r.data) >= 14]
    if not cands:
        return None
    r = rng.choice(cands)
    tags = b"".join(struct.pack("!HH", rng.choice(_VLAN_TPIDS), rng.randrange(4096))
                    for _ in range(rng.choice([1, 2, 3])))
    r.data = r.data[:12] + tags + r.data[12:]
    r.orig = r.data  # a different, equally valid frame
    r.wirelen += len(tags)
    return "vlan-tags"


def m_reencap(rng, cap):
    """Ethernet → Linux SLL, SLL2 or raw IP, the whole file."""
    if cap.linktype != _ETH or any(r.linktype != _ETH for r in cap.recs):
        return None
    new = rng.choice([_SLL, _SLL2, 101])
    for r in cap.recs:
        r.data = _reencap(r.data, new)
        r.orig = _reencap(r.orig, new) if r.orig is not None else None
        r.linktype = new
    cap.linktype = new
    return f"reencap-{new}"


def _reencap(frame: bytes, linktype: int) -> bytes:
    if len(frame) < 14:
        return frame
    et, body, src = frame[12:14], frame[14:], frame[6:12]
    if linktype == _SLL:
        return struct.pack("!HHH", 0, 1, 6) + src + b"\0\0" + et + body
    if linktype == _SLL2:
        return et + b"\0\0" + struct.pack("!IHBB", 2, 1, 0, 6) + src + b"\0\0" + body
    return body


def m_mix_linktypes(rng, cap):
    """Some frames re-encapsulated in another link type (pcapng only: several interfaces)."""
    if cap.linktype != _ETH:
        return None
    new = rng.choice([_SLL, 101])
    for r in cap.recs:
        if r.linktype == _ETH and rng.random() < 0.5:
            r.data, r.linktype = _reencap(r.data, new), new
            r.orig = _reencap(r.orig, new) if r.orig is not None else None
    cap.container = "pcapng-multi"
    return "mixed-linktypes"


def m_dup(rng, cap):
    i = rng.randrange(len(cap.recs))
    j = rng.choice([i, i + 1, rng.randrange(len(cap.recs) + 1)])
    r = cap.recs[i]
    cap.recs.insert(j, dataclasses.replace(r, mutated=set(r.mutated)))
    return "dup-record"


def m_drop(rng, cap):
    if len(cap.recs) < 2:
        return None
    del cap.recs[rng.randrange(len(cap.recs))]
    return "drop-record"


def m_reorder(rng, cap):
    n = len(cap.recs)
    if n < 2:
        return None
    how = rng.choice(["swap", "reverse", "shuffle"])
    if how == "swap":
        i, j = rng.randrange(n), rng.randrange(n)
        cap.recs[i], cap.recs[j] = cap.recs[j], cap.recs[i]
    else:
        i = rng.randrange(n)
        j = min(n, i + rng.randrange(2, 12))
        window = cap.recs[i:j]
        window.reverse() if how == "reverse" else rng.shuffle(window)
        cap.recs[i:j] = window
    return f"reorder-{how}"


def m_timestamps(rng, cap):
    r = rng.choice(cap.recs)
    i = cap.recs.index(r)
    prev = cap.recs[i - 1] if i else r
    how = rng.choice(["zero", "max", "back", "same", "frac", "random", "far-back"])
    if how == "zero":
        r.sec, r.frac = 0, 0
    elif how == "max":
        r.sec, r.frac = 0xFFFFFFFF, (10**9 if cap.nano else 10**6) - 1
    elif how == "back":
        r.sec = max(0, r.sec - rng.randrange(1, 100))
    elif how == "same":
        r.sec, r.frac = prev.sec, prev.frac
    elif how == "frac":
        r.frac = rng.choice([10**6, 10**9, 0xFFFFFFFF])  # out of range for the resolution
    elif how == "far-back":
        r.sec = rng.randrange(0, 86400 * 365)
    else:
        r.sec, r.frac = rng.randrange(1 << 32), rng.randrange(1 << 32)
    return f"timestamp-{how}"


def m_wirelen(rng, cap):
    r = rng.choice(cap.recs)
    r.wirelen = rng.choice([0, 1, len(r.data) - 1, len(r.data) + 1000, 0xFFFFFFFF])
    return "wirelen"


def m_snaplen(rng, cap):
    cap.snaplen = rng.choice([0, 1, 20, 40, 54, 60, 70, 262144, 0xFFFFFFFF])
    return "snaplen"


def m_format(rng, cap):
    how = rng.choice(["swap-endian", "nano", "version"])
    if how == "swap-endian":
        cap.endian = ">" if cap.endian == "<" else "<"
    elif how == "nano" and not cap.nano:
        cap.nano = True
        for r in cap.recs:
            r.frac *= 1000
    else:
        cap.version = rng.choice([(2, 4), (2, 3), (2, 2), (1, 0)])
    return f"format-{how}"


def m_splice_records(rng, cap, other: Capture):
    """Records of another capture after (or inside) this one's; same link type only."""
    if other.linktype != cap.linktype:
        return None
    extra = [dataclasses.replace(r, mutated=set()) for r in other.recs]
    if cap.nano != other.nano:
        for r in extra:
            r.frac = r.frac * 1000 if cap.nano else r.frac // 1000
    cut = rng.randrange(len(cap.recs) + 1)
    cap.recs[cut:] = extra if rng.random() < 0.5 else extra + cap.recs[cut:]
    return "splice-records"


# Untracked: they break the records' structure, only the universal properties apply.

def m_caplen(rng, cap):
    r = rng.choice(cap.recs)
    r.caplen_field = rng.choice([0, 1, len(r.data) - 1, len(r.data) + 1, len(r.data) + 50, 65536, 262145, 0x7FFFFFFF,
                                 0xFFFFFFFF])
    cap.tracked = False
    return "caplen"


def b_bitflip(rng, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice([1, 1, 2, 4, 16])):
        o = rng.randrange(len(out))
        out[o] ^= 1 << rng.randrange(8)
    return bytes(out)


def b_bytes(rng, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice([1, 2, 8])):
        out[rng.randrange(len(out))] = rng.choice(_INTERESTING + (rng.randrange(256),))
    return bytes(out)


def b_truncate(rng, data: bytes) -> bytes:
    return data[: rng.randrange(len(data))]


def b_insert(rng, data: bytes) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + bytes(rng.randrange(256) for _ in range(rng.choice([1, 4, 16, 100]))) + data[at:]


def b_delete(rng, data: bytes) -> bytes:
    at = rng.randrange(len(data))
    return data[:at] + data[at + rng.choice([1, 4, 16]) :]


BYTE_MUTATORS = {"file-bitflip": b_bitflip, "file-bytes": b_bytes, "file-truncate": b_truncate,
                 "file-insert": b_insert, "file-delete": b_delete}

TRACKED_MUTATORS = [
    (m_payload_bits, 6), (m_payload_bytes, 5), (m_payload_field, 6), (m_ip_length, 3), (m_ttl, 2),
    (m_fragment, 1), (m_ip_header, 1), (m_payload_random, 3), (m_trailing, 1), (m_cut_frame, 3),
    (m_escape, 3), (m_ipv6, 2), (m_vlan, 1), (m_reencap, 1), (m_mix_linktypes, 1), (m_dup, 2), (m_drop, 1),
    (m_reorder, 2), (m_timestamps, 3), (m_wirelen, 1), (m_snaplen, 1), (m_format, 1),
]


# ---------------------------------------------------------------------------
# One case
# ---------------------------------------------------------------------------

@dataclass
class Case:
    number: int
    seed: str
    source: str
    mutations: list
    tracked: bool
    container: str
    files: list  # paths given to carpscope
    cap: Capture | None


def make_case(sources, seed: int, number: int, workdir: str) -> Case:
    rng = random.Random(f"{seed}/{number}")
    name, base = rng.choice(sources)
    cap = base.copy()
    cap.tracked, cap.container = True, rng.choice(["pcap"] * 8 + ["pcapng", "gzip"])
    mutations = []
    for _ in range(rng.choice([1, 1, 2, 2, 3, 5])):
        cap.p112 = _recs112(cap)
        if rng.random() < 0.12:
            other_name, other = rng.choice(sources)
            done = m_splice_records(rng, cap, other)
            if done:
                mutations.append(f"{done}:{other_name}")
            continue
        if rng.random() < 0.04:
            mutations.append(m_caplen(rng, cap))
            continue
        funcs, weights = zip(*TRACKED_MUTATORS)
        func = rng.choices(funcs, weights)[0]
        if (func.__name__.startswith("m_payload") or func in (m_ip_length, m_ttl, m_escape, m_trailing)) \
                and not cap.p112:
            continue
        if not cap.recs:
            break
        done = func(rng, cap)
        if done:
            mutations.append(done)
    if cap.container == "pcapng-multi":
        data = to_pcapng(cap, rng, multi=True)
    elif cap.container == "pcapng":
        data = to_pcapng(cap, rng, multi=False)
    else:
        if any(r.linktype != cap.linktype for r in cap.recs):
            cap.tracked = False  # a pcap cannot hold them: they are misread
        data = cap.to_bytes()
    files = [os.path.join(workdir, f"case.{'pcapng' if 'pcapng' in cap.container else 'pcap'}")]
    if rng.random() < 0.25:  # damage the bytes themselves
        name_b, mut = rng.choice(list(BYTE_MUTATORS.items()))
        if data:
            data = mut(rng, data)
        mutations.append(name_b)
        cap.tracked = False
    if rng.random() < 0.04:  # a raw splice of two files
        other_name, other = rng.choice(sources)
        odata = other.to_bytes()
        data = data[: rng.randrange(len(data) + 1)] + odata[rng.randrange(len(odata)) :]
        mutations.append(f"file-splice:{other_name}")
        cap.tracked = False
    if cap.container == "gzip":
        data = gzip.compress(data, mtime=0)
        files[0] += ".gz"
    with open(files[0], "wb") as f:
        f.write(data)
    if rng.random() < 0.05:  # two files, merged by time
        other_name, other = rng.choice(sources)
        files.append(os.path.join(workdir, "second.pcap"))
        with open(files[1], "wb") as f:
            f.write(other.to_bytes())
        mutations.append(f"second-file:{other_name}")
        cap.tracked = False
    return Case(number, f"{seed}/{number}", name, mutations, cap.tracked, cap.container, files,
                cap if cap.tracked else None)


# ---------------------------------------------------------------------------
# Running carpscope and checking what must hold
# ---------------------------------------------------------------------------

class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang(f"no answer within {RUN_TIMEOUT} s")


@dataclass
class Run:
    args: list
    exit_code: int | None
    stdout: bytes
    stderr: bytes
    exception: BaseException | None
    tb: str


def invoke(args: list[str]) -> Run:
    runner = CliRunner()
    old = signal.signal(signal.SIGALRM, _alarm) if hasattr(signal, "SIGALRM") else None
    if old is not None:
        signal.alarm(RUN_TIMEOUT)
    try:
        result = runner.invoke(carpscope_main, args, env={"NO_COLOR": "1"}, catch_exceptions=True)
    finally:
        if old is not None:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)
    exc = result.exception
    tb = ""
    if exc is not None and not isinstance(exc, SystemExit) and result.exc_info:
        tb = "".join(traceback.format_exception(*result.exc_info))
    return Run(args, result.exit_code, result.stdout_bytes, result.stderr_bytes or b"", exc, tb)


def _reject_constant(name):
    raise ValueError(f"JSON constant {name}")


def parse_json(text: bytes):
    return json.loads(text, parse_constant=_reject_constant)


@dataclass
class Stats:
    cases: int = 0
    runs: int = 0
    tracked: int = 0
    packets: int = 0
    checked_packets: int = 0
    exits: collections.Counter = field(default_factory=collections.Counter)
    kinds: collections.Counter = field(default_factory=collections.Counter)
    mutations: collections.Counter = field(default_factory=collections.Counter)
    tracked_damage: collections.Counter = field(default_factory=collections.Counter)  # why well-formed files failed
    failures: dict = field(default_factory=dict)  # signature -> [count, first detail, [case seeds]]

    def fail(self, case: Case, oracle: str, detail: str, signature: str | None = None) -> None:
        sig = f"{oracle}: {signature or detail.splitlines()[0][:160]}"
        entry = self.failures.setdefault(sig, [0, detail, [], case.mutations])
        entry[0] += 1
        if len(entry[2]) < 5:
            entry[2].append(case.number)

    @property
    def crashes(self) -> int:
        return sum(e[0] for s, e in self.failures.items() if s.startswith(("exception", "hang", "exit-code")))


def _crash_signature(tb: str) -> str:
    """Exception type and the innermost carpscope frame: one entry per distinct bug."""
    lines = [ln for ln in tb.splitlines() if ln.strip()]
    where = [ln.strip() for ln in lines if ln.strip().startswith("File ") and "carpscope" in ln]
    return f"{lines[-1][:120] if lines else '?'} at {where[-1] if where else '?'}"


def check_common(case: Case, run: Run, stats: Stats, allowed: set[int], secrets: list[str], color: bool) -> bool:
    """Properties every run must have; False when the run cannot be examined further."""
    stats.runs += 1
    stats.exits[run.exit_code] += 1
    if run.exception is not None and not isinstance(run.exception, SystemExit):
        kind = "hang" if isinstance(run.exception, Hang) else "exception"
        stats.fail(case, kind, f"{' '.join(run.args)}\n{run.tb}", _crash_signature(run.tb))
        return False
    if run.exit_code not in allowed:
        stats.fail(case, "exit-code", f"exit {run.exit_code} for {' '.join(run.args)}: {run.stderr[-300:]!r}",
                   f"exit {run.exit_code}")
        return False
    for stream_name, data in (("stdout", run.stdout), ("stderr", run.stderr)):
        if b"Traceback" in data:
            stats.fail(case, "traceback", f"{stream_name}: {data[-500:]!r}")
        if color and stream_name == "stdout":
            data = _SGR.sub(b"", data)
        bad = sorted({b for b in data if (b < 0x20 and b not in (0x0A, 0x09)) or b == 0x7F})
        if bad:
            stats.fail(case, "control-bytes", f"{stream_name} of {' '.join(run.args)} has bytes {bad}",
                       f"{stream_name} {bad}")
        for secret in secrets:
            if secret.encode() in data:
                stats.fail(case, "passphrase-leak", f"{stream_name} of {' '.join(run.args)}")
    if run.exit_code == 3:
        err = run.stderr.decode("utf-8", "replace").strip().splitlines()
        if not err or not err[-1].startswith("carpscope: "):
            stats.fail(case, "exit-3-message", f"stderr {run.stderr[-300:]!r}")
    return True


def check_json(case: Case, run: Run, stats: Stats) -> dict | None:
    if not run.stdout:
        if run.exit_code != 3:
            stats.fail(case, "json", f"no output, exit {run.exit_code}")
        return None
    try:
        doc = parse_json(run.stdout)
    except ValueError as err:
        stats.fail(case, "json", f"{err}: {run.stdout[-300:]!r}", "does not parse")
        return None
    if doc.get("schema") != 2 or not {"packets", "groups", "events", "findings"} <= set(doc):
        stats.fail(case, "json", f"schema/keys: {sorted(doc)}", "schema")
        return None
    if run.exit_code == 3 and not any(f["kind"] == "truncated-capture" for f in doc["findings"]):
        stats.fail(case, "json", "exit 3 without a truncated-capture finding", "exit 3, no truncated-capture")
    frames = [p["frame"] for p in doc["packets"]]
    if any(b <= a for a, b in itertools.pairwise(frames)):
        stats.fail(case, "frames-not-increasing", f"{frames}", "packets")
    for f in doc["findings"]:
        stats.kinds[f["kind"]] += f.get("count", 1)
    for p in doc["packets"]:
        kinds = {f["kind"] for f in p["findings"]}
        if p.get("checksum") == "bad" and not kinds & {"bad-checksum", "malformed"}:
            stats.fail(case, "bad-checksum-without-finding", f"frame {p['frame']}: {p}", p["proto"])
        if p.get("ttl") != 255 and "bad-ttl" not in kinds and ttl_checked(p):
            stats.fail(case, "bad-ttl-missing", f"frame {p['frame']}: {p}", p["proto"])
        if not isinstance(p.get("time"), (int, float)):
            stats.fail(case, "json", f"time {p.get('time')!r}", "time")
    return doc


def check_jsonl(case: Case, run: Run, stats: Stats) -> None:
    frames = []
    for line in run.stdout.splitlines():
        try:
            obj = parse_json(line)
        except ValueError as err:
            stats.fail(case, "jsonl", f"{err}: {line[:300]!r}", "does not parse")
            return
        if obj.get("type") not in ("packet", "event", "finding", "group", "vantage"):
            stats.fail(case, "jsonl", f"type {obj.get('type')!r}", "type")
        if obj.get("type") == "packet":
            frames.append(obj["frame"])
    if any(b <= a for a, b in itertools.pairwise(frames)):
        stats.fail(case, "frames-not-increasing", f"jsonl {frames}", "jsonl")


_COOKED = (113, 276)  # Linux `any` captures (SLL, SLL2): a frame may be seen on several interfaces
_ANY_WINDOW = 0.005  # carpscope folds such copies within 5 ms (carpscope/vantage.py)


def ttl_checked(p: dict) -> bool:
    """Whether receivers check this advert's TTL: not a FreeBSD-family unicast CARP advert
    (demote 0, not from a virtual MAC), whose peer checks the TTL only for multicast (§9.4)."""
    if p.get("proto") != "carp" or p.get("demote") != 0:
        return True
    try:
        multicast = ipaddress.ip_address(p["dst"]).is_multicast
    except (KeyError, ValueError):
        return True
    virtual = (p.get("src_mac") or "").startswith(("00:00:5e:00:01:", "00:00:5e:00:00:"))
    return multicast or virtual


def seen_frames(case: Case) -> list[tuple[int, Rec, bytes, int]] | None:
    """(frame number, record, bytes as libpcap hands them over, link type) for each frame carpscope numbers.

    carpscope numbers frames as the file does (every frame counts) and shows those its
    capture filter admits, so the same filter decides here.
    """
    cap = case.cap
    path = case.files[0]
    if case.container == "gzip":
        with gzip.open(path, "rb") as f:
            raw = f.read()
        path = path[:-3] + ".raw"
        with open(path, "wb") as f:
            f.write(raw)
    programs: dict[int, object] = {}

    def admits(linktype: int, data: bytes) -> bool:
        if linktype not in programs:
            dlt = {101: pcapy.DLT_RAW}.get(linktype, linktype)  # LINKTYPE_RAW → DLT_RAW
            if linktype not in _BPF_LINKTYPES:
                programs[linktype] = None
            else:
                try:
                    programs[linktype] = pcapy.compile(dlt, 262144, capture_filter(None, True), 1, 0)
                except pcapy.PcapError:
                    programs[linktype] = pcapy.compile(dlt, 262144, capture_filter(None, False), 1, 0)
        program = programs[linktype]
        return program is None or program.filter(data) != 0

    out = []
    if case.container == "pcapng-multi":
        delivered = [(r, r.linktype, r.data) for r in cap.recs]
    else:
        try:
            reader = pcapy.open_offline(path)
        except pcapy.PcapError:
            return None
        delivered = []
        for r in cap.recs:
            try:
                header, data = reader.next()
            except pcapy.PcapError:
                break
            if header is None:
                break
            delivered.append((r, reader.datalink(), data))
    for number, (r, linktype, data) in enumerate(delivered, 1):  # every frame in the file counts
        if admits(linktype, data):
            out.append((number, r, data, linktype))
    return out


def check_tracked(case: Case, doc: dict, run: Run, stats: Stats, secrets: list[str], text_run) -> None:
    """Packet by packet: invalid adverts carry findings, checksum verdicts are right, no forged HMAC."""
    frames = seen_frames(case)
    if frames is None:
        return
    packets = {p["frame"]: p for p in doc["packets"]}
    known = {n for n, *_ in frames}
    stray = sorted(set(packets) - known)
    if stray:
        stats.fail(case, "unknown-frame", f"packets {stray} not in the file's {len(known)} frames", "stray frames")
    missing = []
    copies: dict[bytes, float] = {}  # cooked (`any`) captures: IP bytes -> latest time
    for number, rec, data, linktype in frames:
        info = ip112(linktype, data)
        if info is None:
            continue
        p = packets.get(number)
        if linktype in _COOKED:
            key, t = data[info.ip:], case.cap.time(rec)
            folded = p is None and key in copies and 0 <= t - copies[key] <= _ANY_WINDOW
            copies[key] = t
            if folded:
                continue  # the same frame on another interface of the host: one packet (issue 15)
        if p is None:
            missing.append(number)
            continue
        stats.checked_packets += 1
        kinds = {f["kind"] for f in p["findings"]}
        valid = valid_advert(info, data)
        if not valid and not kinds:
            stats.fail(case, "damage-without-finding",
                       f"frame {number} ({rec.mutated or 'unmutated'}): {data[info.ip:].hex()} -> {p}", p["proto"])
        msg = data[info.start : info.start + max(info.length, 0)]
        complete = info.length >= 0 and len(msg) == info.length
        expected = None
        if p["proto"] == "carp" and len(msg) >= 36:
            expected = "ok" if isum(msg[:36]) == 0xFFFF else "bad"
        elif p["proto"] == "vrrp" and complete and info.length >= 8:
            forms = checksum_forms(info, msg)
            if p.get("version") == 3:
                expected = "ok" if "pseudo" in forms or (info.family == 4 and "plain" in forms) else "bad"
            else:
                expected = "ok" if "plain" in forms else "bad"
        if expected is not None and p["checksum"] != expected:
            stats.fail(case, "checksum-verdict", f"frame {number}: expected {expected}: {p}", p["proto"])
        if expected == "bad" and "bad-checksum" not in kinds and not (
                p["proto"] == "vrrp" and "malformed" in kinds):
            stats.fail(case, "bad-checksum-missing", f"frame {number}: {p}", p["proto"])
        if info.ttl != 255 and "bad-ttl" not in kinds and ttl_checked(p):
            stats.fail(case, "bad-ttl-missing", f"frame {number}: {p}", p["proto"])
        if p["proto"] == "carp" and p["hmac"] == "ok" and rec.orig is not None:
            o = ip112(linktype, rec.orig)
            if o is not None:
                before = rec.orig[o.start : o.start + 36]
                after = msg[:36]
                if before[1:2] + before[8:36] != after[1:2] + after[8:36]:
                    stats.fail(case, "forged-hmac", f"frame {number}: altered vhid/counter/md verified: {p}",
                               "altered vhid/counter/md verified")
    if missing and run.exit_code != 3:
        text = text_run()
        if text is None:
            return
        flagged = {}
        for line in text.stdout.decode("utf-8", "replace").splitlines():
            m = _UNDECODABLE.match(line)
            if m:
                flagged[int(m.group(1))] = m.group(2)
        for number in missing:
            if number not in flagged:
                stats.fail(case, "lost-packet", f"protocol-112 frame {number} neither a packet nor undecodable",
                           "neither a packet nor undecodable")


def check_written(case: Case, doc: dict, out_path: str, pass_args: list[str], secrets, stats: Stats) -> None:
    # pass_args: the passphrases and analysis options of the first run, so verdicts compare
    """A -w file: no passphrase in it; it reads back cleanly with the same packets."""
    try:
        with open(out_path, "rb") as f:
            written = f.read()
    except OSError as err:
        stats.fail(case, "write", f"-w file unreadable: {err}")
        return
    for secret in secrets:
        if secret.encode() in written:
            stats.fail(case, "passphrase-leak", "in the -w file")
    if case.container == "pcapng-multi" or len(case.files) > 1:
        return  # one link type per pcap: frames of the others are skipped
    again = invoke(["read", out_path, "-T", "json", *pass_args])
    stats.runs += 1
    crashed = again.exception is not None and not isinstance(again.exception, SystemExit)
    if crashed or again.exit_code != 0:
        stats.fail(case, "write-roundtrip", f"re-reading the -w file: exit {again.exit_code} {again.stderr[-200:]!r}"
                   f"{again.tb}", f"exit {again.exit_code}")
        return
    try:
        doc2 = parse_json(again.stdout)
    except ValueError:
        stats.fail(case, "write-roundtrip", "re-read JSON does not parse")
        return

    def strip(p):
        return {k: v for k, v in p.items() if k not in ("frame", "time")}

    a = [strip(p) for p in doc["packets"]]
    b = [strip(p) for p in doc2["packets"]]
    if a != b:
        diff = next(((x, y) for x, y in zip(a, b) if x != y), (len(a), len(b)))
        stats.fail(case, "write-roundtrip", f"packets differ after -w: {diff}", "packets differ")
    ta = [p["time"] for p in doc["packets"]]
    tb = [p["time"] for p in doc2["packets"]]
    # A pcap record holds 32-bit seconds: later times are clamped by design.
    pairs = [(x, y) for x, y in zip(ta, tb) if x < 4294967295.999]
    if len(ta) == len(tb) and any(abs(x - y) > 2e-6 for x, y in pairs):
        bad = next((x, y) for x, y in pairs if abs(x - y) > 2e-6)
        stats.fail(case, "write-roundtrip", f"time {bad[0]!r} written as {bad[1]!r}", "times differ")


def run_case(case: Case, rng: random.Random, stats: Stats, workdir: str) -> None:
    stats.cases += 1
    stats.tracked += case.tracked
    for m in case.mutations:
        stats.mutations[m.split(":")[0]] += 1
    secrets = rng.sample(PASSPHRASES, rng.choice([0, 1, 1, 2]))
    pass_args = [a for s in secrets for a in ("-p", s)]
    extra: list[str] = []
    allowed = {0, 3}
    if rng.random() < 0.15:
        extra += ["--fail-on", rng.choice(["warning", "critical"])]
        allowed.add(1)
    if rng.random() < 0.05:
        pass_args += ["--decode-as", rng.choice(["carp", "vrrp"])]
    if rng.random() < 0.1:
        pass_args += ["--timing", "openbsd"]
    out_path = None
    if rng.random() < 0.2:
        out_path = os.path.join(workdir, "written.pcap")
        if os.path.exists(out_path):
            os.unlink(out_path)
        extra += ["-w", out_path]
    args = ["read", *case.files, "-T", "json", *pass_args, *extra]
    run = invoke(args)
    if not check_common(case, run, stats, allowed, secrets, False):
        return
    doc = check_json(case, run, stats)
    if doc is not None:
        stats.packets += len(doc["packets"])
    text_cache: list = []

    def text_run():
        if not text_cache:
            r = invoke(["read", *case.files, *pass_args])
            text_cache.append(r if check_common(case, r, stats, {0, 3}, secrets, False) else None)
        return text_cache[0]

    if case.tracked and run.exit_code == 3 and case.container.startswith("pcapng"):
        # Records written whole into pcapng (one interface or several): nothing is damaged.
        stats.fail(case, "pcapng-refused", f"{run.stderr[-300:]!r}", run.stderr.decode("utf-8", "replace")[-80:])
    elif case.tracked and run.exit_code == 3:
        reason = run.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["?"]
        stats.tracked_damage[re.sub(r"^carpscope: \S+: ", "", reason[0])[:80]] += 1
    if doc is not None and case.tracked and "--decode-as" not in pass_args:
        check_tracked(case, doc, run, stats, secrets, text_run)
    if doc is not None and out_path and os.path.exists(out_path):
        check_written(case, doc, out_path, pass_args, secrets, stats)
    # Other renderings: the protocol tree, plain or coloured lines, JSON lines.
    if rng.random() < 0.35 or "escape-bytes" in case.mutations:
        style = rng.choice([["-V"], ["-V"], [], ["--color", "always"], ["-V", "--color", "always"], ["-T", "jsonl"],
                            ["-q"]])
        run2 = invoke(["read", *case.files, *pass_args, *style])
        if check_common(case, run2, stats, {0, 3}, secrets, "always" in style) and "jsonl" in style:
            check_jsonl(case, run2, stats)


def fuzz(cases: int | None, seed: int, minutes: float | None = None, only: int | None = None,
         keep: str | None = None, verbose: bool = False, progress=None) -> Stats:
    sources = load_sources()
    if not sources:
        raise SystemExit("fuzz: no captures found")
    stats = Stats()
    deadline = time.monotonic() + minutes * 60 if minutes else None
    with tempfile.TemporaryDirectory(prefix="carpfuzz-") as workdir:
        numbers = [only] if only is not None else _count(cases)
        for number in numbers:
            if deadline is not None and time.monotonic() >= deadline:
                break
            case = make_case(sources, seed, number, workdir)
            before = sum(e[0] for e in stats.failures.values())
            run_case(case, random.Random(f"run/{seed}/{number}"), stats, workdir)
            failed = sum(e[0] for e in stats.failures.values()) > before
            if verbose:
                print(f"case {number}: {case.source} {' '.join(case.mutations) or '-'} "
                      f"({'tracked' if case.tracked else 'untracked'}, {case.container})"
                      f"{' FAILED' if failed else ''}", file=sys.stderr)
            if failed and keep:
                os.makedirs(keep, exist_ok=True)
                for i, path in enumerate(case.files):
                    suffix = os.path.basename(path)
                    target = os.path.join(keep, f"{seed}-{number}-{i}-{suffix}")
                    with open(path, "rb") as src, open(target, "wb") as dst:
                        dst.write(src.read())
            if progress is not None:
                progress(stats)
    return stats


def _count(cases: int | None):
    n = 0
    while cases is None or n < cases:
        yield n
        n += 1


def summary(stats: Stats, seed: int, elapsed: float) -> str:
    lines = [f"carpscope fuzz: {stats.cases} cases ({stats.tracked} tracked), {stats.runs} runs, "
             f"seed {seed}, {elapsed:.1f} s",
             f"packets decoded: {stats.packets}; checked one by one against the validator: {stats.checked_packets}",
             "exit codes: " + ", ".join(f"{k}: {v}" for k, v in sorted(stats.exits.items(), key=lambda kv: str(kv[0]))),
             "finding kinds: " + (", ".join(f"{k} {v}" for k, v in stats.kinds.most_common()) or "none"),
             "mutations: " + ", ".join(f"{k} {v}" for k, v in stats.mutations.most_common())]
    if stats.tracked_damage:
        lines.append("exit 3 on record-level mutations (libpcap's verdict): "
                     + "; ".join(f"{k} ×{v}" for k, v in stats.tracked_damage.most_common()))
    if not stats.failures:
        lines.append("failures: none")
    else:
        lines.append(f"failures: {sum(e[0] for e in stats.failures.values())} "
                     f"({stats.crashes} crashes) in {len(stats.failures)} kinds")
        for sig, (count, detail, numbers, mutations) in sorted(stats.failures.items(), key=lambda kv: -kv[1][0]):
            lines.append(f"  {count:5d} × {sig}")
            lines.append(f"        first: {' '.join(mutations)}")
            for ln in detail.strip().splitlines()[-6:]:
                lines.append(f"        {ln[:300]}")
            lines.append("        replay: " + "; ".join(f"python bench/fuzz.py --seed {seed} --case {n} -v"
                                                        for n in numbers[:3]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, help="number of cases (default 1000; unlimited with --minutes)")
    parser.add_argument("--seed", type=int, default=None, help="master seed (default: random, printed)")
    parser.add_argument("--minutes", type=float, help="stop after this long")
    parser.add_argument("--case", type=int, dest="only", help="run only this case number (replay)")
    parser.add_argument("--keep", metavar="DIR", help="save the input files of failing cases here")
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per case on stderr")
    args = parser.parse_args(argv)
    if args.cases is not None and args.cases < 0:
        parser.error("--cases must be >= 0")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    cases = args.cases if args.cases is not None else (None if args.minutes else 1000)
    started = time.monotonic()
    last = [started]

    def progress(stats: Stats) -> None:
        now = time.monotonic()
        if now - last[0] >= 30:
            last[0] = now
            print(f"... {stats.cases} cases, {len(stats.failures)} failure kinds", file=sys.stderr)

    stats = fuzz(cases, seed, args.minutes, args.only, args.keep, args.verbose, progress)
    print(summary(stats, seed, time.monotonic() - started))
    return 1 if stats.failures else 0


if __name__ == "__main__":
    sys.exit(main())
