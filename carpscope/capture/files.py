"""Capture files in: pcap and pcapng through libpcap, gzip and standard input streamed.

libpcap (pcapy-ng) reads the file and applies the BPF filter in C; `next_batch`
amortises the C/Python boundary (DESIGN.md, principle 8). A gzip file or standard
input is decompressed by a child process into a pipe that libpcap reads, so every
input takes the same path and gets libpcap's pcapng support and its error messages
(DESIGN.md suggests dpkt for .gz; one path is simpler, and dpkt's readers end
silently on a truncated file).
"""

from __future__ import annotations

import heapq
import os
import stat
import struct
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

import pcapy

from carpscope.errors import CaptureError, LiveCaptureError
from carpscope.model import Frame

_BATCH = 512
_META = struct.Struct("=IIII")  # sec, usec, offset, caplen: next_batch's packed records
_GZIP_MAGIC = b"\x1f\x8b"
_CAPTURE_MAGICS = (
    b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4",  # pcap, microseconds
    b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d",  # pcap, nanoseconds
    b"\x0a\x0d\x0d\x0a",  # pcapng section header block
)

# Protocol 112 over IPv4 and IPv6 (extension headers included), plus what VIP
# inference needs: ARP and ICMPv6 neighbour advertisements (PROTOCOL.md §2.1).
PROTO_FILTER = "(ip proto 112 or ip6 protochain 112 or arp or (icmp6 and ip6[40] == 136))"
# `vlan` shifts the offsets of everything after it, so untagged first, then one
# tag, then QinQ.
VLAN_FILTER = f"{PROTO_FILTER} or (vlan and ({PROTO_FILTER} or (vlan and {PROTO_FILTER})))"


def capture_filter(user: str | None, vlan: bool = True) -> str:
    """The BPF expression: the protocol-112 default, narrowed by the user's -f."""
    default = VLAN_FILTER if vlan else PROTO_FILTER
    return f"({user}) and ({default})" if user else default


# Link types whose header libpcap's BPF offsets match what carpscope decodes; on
# others (Frame Relay variants, say) the decoder alone decides what is protocol 112.
_BPF_LINKTYPES = {0, 1, 12, 14, 101, 108, 113, 228, 229, 276}


def set_filter(reader, user: str | None) -> None:
    """Apply the filter; link types without VLAN tags cannot compile `vlan`."""
    if reader.datalink() not in _BPF_LINKTYPES:
        if user:
            _compile(reader, user)
        return
    try:
        reader.setfilter(capture_filter(user, vlan=True))
        return
    except pcapy.PcapError:
        pass
    _compile(reader, capture_filter(user, vlan=False), user)


def _compile(reader, expression: str, user: str | None = None) -> None:
    try:
        reader.setfilter(expression)
    except pcapy.PcapError as err:
        raise LiveCaptureError(f"bad capture filter {user or expression!r}: {err}") from None


@dataclass
class Damage:
    """Why a file stopped early; the frames before it were still delivered."""

    path: str
    reason: str


@dataclass
class FileSource:
    """One capture file streamed as (time, linktype, data) tuples."""

    path: str
    user_filter: str | None = None
    damage: Damage | None = None
    delivered: int = 0
    _reader: object = field(default=None, repr=False)

    def open(self) -> None:
        self._reader = _open(self.path, self.user_filter)

    @property
    def linktype(self) -> int:
        return self._reader.datalink()

    def packets(self) -> Iterator[tuple[float, int, bytes]]:
        """Stream the file, in batches when it can be re-read after damage."""
        if self.path == "-" or _is_gzip(self.path):
            yield from self._one_by_one(self._reader)
            return
        reader, linktype = self._reader, self.linktype
        unpack = _META.iter_unpack
        while True:
            try:
                buf, meta = reader.next_batch(_BATCH)
            except pcapy.PcapError:
                # next_batch loses the batch that hit the damage: reopen and walk
                # up to the damage one packet at a time.
                yield from self._one_by_one(_open(self.path, self.user_filter), skip=self.delivered)
                return
            if not meta:
                return
            for sec, usec, offset, caplen in unpack(meta):
                self.delivered += 1
                yield sec + usec / 1e6, linktype, buf[offset : offset + caplen]

    def _one_by_one(self, reader, skip: int = 0) -> Iterator[tuple[float, int, bytes]]:
        linktype = reader.datalink()
        while True:
            try:
                header, data = reader.next()
            except pcapy.PcapError as err:
                self.damage = Damage(self.path, str(err))
                return
            if header is None:
                return
            if skip:
                skip -= 1
                continue
            sec, usec = header.getts()
            self.delivered += 1
            yield sec + usec / 1e6, linktype, data


def _is_gzip(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == _GZIP_MAGIC


def _open(path: str, user_filter: str | None):
    """Open a capture with libpcap, checking the file first so errors read well."""
    if path == "-":
        reader, _child = _open_pipe(path)
    else:
        head = _check_file(path)
        if head.startswith(_GZIP_MAGIC):
            reader, _child = _open_pipe(path)
        elif head[:4] in _CAPTURE_MAGICS:
            reader = _libpcap(path, path)
        else:
            raise CaptureError(f"{path}: not a pcap or pcapng capture file")
    set_filter(reader, user_filter)
    return reader


def _check_file(path: str) -> bytes:
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            raise CaptureError(f"{path}: is a directory, not a capture file")
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as err:
        raise CaptureError(f"{path}: {err.strerror or err}") from None
    if not head:
        raise CaptureError(f"{path}: empty file, not a capture")
    return head


def _libpcap(name: str, source: str):
    try:
        return pcapy.open_offline(source)
    except pcapy.PcapError as err:
        raise CaptureError(f"{name}: {err}") from None


# Decompresses (when gzip) standard input to standard output, in a child process:
# pcapy holds the GIL while libpcap blocks on a pipe, so a thread would deadlock.
_PUMP = (
    "import gzip, shutil, sys\n"
    "raw = sys.stdin.buffer\n"
    "src = gzip.GzipFile(fileobj=raw) if raw.peek(2)[:2] == b'\\x1f\\x8b' else raw\n"
    "try:\n"
    "    shutil.copyfileobj(src, sys.stdout.buffer, 1 << 16)\n"
    "except Exception:\n"
    "    pass\n"
)


def _open_pipe(path: str):
    """Let libpcap read `path` ('-' = standard input) through a decompressing child."""
    stdin = sys.stdin if path == "-" else open(path, "rb")  # noqa: SIM115 (handed to the child)
    child = subprocess.Popen([sys.executable, "-c", _PUMP], stdin=stdin, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
    if stdin is not sys.stdin:
        stdin.close()
    fd = child.stdout.fileno()
    name = "<stdin>" if path == "-" else path
    try:
        return _libpcap(name, f"/dev/fd/{fd}"), child
    except CaptureError as err:
        child.kill()
        raise CaptureError(str(err).replace(f"/dev/fd/{fd}: ", "")) from None


def open_sources(paths: list[str], user_filter: str | None) -> list[FileSource]:
    """Open every file up front, so a bad one fails before any output."""
    sources = []
    for path in paths:
        source = FileSource(path, user_filter)
        source.open()
        sources.append(source)
    return sources


def frames(sources: list[FileSource]) -> Iterator[Frame]:
    """Number the frames of all sources, merged by timestamp while streaming."""
    if len(sources) == 1:
        stream = sources[0].packets()
    else:
        stream = heapq.merge(*(s.packets() for s in sources), key=lambda p: p[0])
    for number, (time, linktype, data) in enumerate(stream, 1):
        yield Frame(number, time, linktype, data, len(data))
