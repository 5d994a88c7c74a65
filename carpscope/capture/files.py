"""Capture files in: pcap and pcapng through libpcap, gzip and standard input streamed.

libpcap (pcapy-ng) reads the file and applies the BPF filter in C; `next_batch`
amortises the C/Python boundary (DESIGN.md, principle 8). A gzip file or standard
input is decompressed by a child process into a pipe that libpcap reads, so every
input takes the same path and gets libpcap's pcapng support and its error messages
(DESIGN.md suggests dpkt for .gz; one path is simpler, and dpkt's readers end
silently on a truncated file).
"""

from __future__ import annotations

import fcntl
import gzip
import heapq
import os
import stat
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import pcapy

from carpscope.capture import scan
from carpscope.capture.bpf import capture_filter
from carpscope.errors import CaptureError, LiveCaptureError
from carpscope.model import Frame

_BATCH = 512
# From this size on, libpcap's filter pass runs in a child process (capture/scan.py).
# Below it the pass takes a tenth of a second or less, which is all a child can save,
# and every packet that passes the filter costs a little more through the pipe.
CHILD_MIN = 64 << 20
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)  # Linux
_PIPE_SIZE = 1 << 20
_META = struct.Struct("=IIII")  # sec, usec, offset, caplen: next_batch's packed records
_GZIP_MAGIC = b"\x1f\x8b"
_CAPTURE_MAGICS = (
    b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4",  # pcap, microseconds
    b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d",  # pcap, nanoseconds
    b"\x0a\x0d\x0d\x0a",  # pcapng section header block
)

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
    scan_in_child: bool | None = None  # None: when the file is at least CHILD_MIN bytes
    finished: bool = False
    _reader: object = field(default=None, repr=False)
    _scanner: object = field(default=None, repr=False)  # the child that reads the file (None: this process)
    _fd: tuple[int, int] | None = field(default=None, repr=False)  # (pid, descriptor) found for it

    def open(self) -> None:
        self._reader, self._scanner = _open(self.path, self.user_filter)

    @property
    def linktype(self) -> int:
        return self._reader.datalink()

    def packets(self) -> Iterator[Frame]:
        """Stream the file's frames, numbered from 1, in batches when it can be re-read after damage."""
        if self.path == "-" or _is_gzip(self.path):
            yield from self._one_by_one(self._reader)
        else:
            in_child = self.scan_in_child
            if in_child is None:
                in_child = os.path.getsize(self.path) >= CHILD_MIN
            yield from self._from_child() if in_child else self._batches(self._reader)
        self.finished = True

    @property
    def size(self) -> int | None:
        """Bytes in the file (compressed, for gzip); None for standard input."""
        if self.path == "-":
            return None
        try:
            return os.path.getsize(self.path)
        except OSError:
            return None

    def position(self) -> int | None:
        """How far into the file the reading process is, for a progress bar; None if unknown.

        libpcap hides its file offset, so it is read where Linux shows it:
        /proc/PID/fdinfo of the descriptor open on the file. Elsewhere: None.
        """
        if self.finished:
            return self.size
        if self.path == "-":
            return None
        scanner = self._scanner  # (the reading loop may switch it to a child meanwhile)
        if scanner is not None and scanner.poll() is not None:
            return self.size  # a child that has read the whole file has gone; the rest is in the pipe
        pid = os.getpid() if scanner is None else scanner.pid
        try:
            if self._fd is None or self._fd[0] != pid:
                real = os.path.realpath(self.path)
                fd = next((int(fd) for fd in os.listdir(f"/proc/{pid}/fd") if _link(pid, fd) == real), None)
                if fd is None:
                    return None  # (a child that has not opened it yet)
                self._fd = (pid, fd)
            with open(f"/proc/{pid}/fdinfo/{self._fd[1]}") as f:
                return int(f.readline().split()[1])  # "pos:\t<offset>"
        except (OSError, ValueError, IndexError):
            return None

    def _batches(self, reader) -> Iterator[Frame]:
        linktype = reader.datalink()
        while True:
            try:
                buf, meta = reader.next_batch(_BATCH)
            except pcapy.PcapError:
                yield from self._salvage()
                return
            if not meta:
                return
            yield from self._batch(buf, meta, linktype)

    def _batch(self, buf: bytes, meta: bytes, linktype: int) -> Iterator[Frame]:
        """The frames of one next_batch, numbered on from those already delivered."""
        number = self.delivered
        self.delivered += len(meta) // _META.size
        new = tuple.__new__  # Frame(...) without its Python-level __new__: half the cost per frame
        for sec, usec, offset, caplen in _META.iter_unpack(meta):
            number += 1
            yield new(Frame, (number, sec + usec / 1e6, linktype, buf[offset : offset + caplen], caplen))

    def _salvage(self) -> Iterator[Frame]:
        """next_batch loses the batch that hit damage: reopen, walk up to it one packet at a time."""
        return self._one_by_one(_open(self.path, self.user_filter)[0], skip=self.delivered)

    def _from_child(self) -> Iterator[Frame]:
        """The batches of a child running libpcap's filter pass (capture/scan.py), on the other core."""
        try:
            command = [sys.executable, "-m", "carpscope.capture.scan", self.path, self.user_filter or ""]
            child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        except OSError:
            yield from self._batches(self._reader)
            return
        try:
            fcntl.fcntl(child.stdout.fileno(), _F_SETPIPE_SZ, _PIPE_SIZE)  # fewer wake-ups of the child
        except OSError:
            pass
        self._scanner = child
        linktype, read = self.linktype, child.stdout.read
        try:
            while (head := read(scan.HEAD.size)) != scan.END:
                if len(head) == scan.HEAD.size:
                    meta_len, buf_len = scan.HEAD.unpack(head)
                    meta, buf = read(meta_len), read(buf_len)
                    if len(meta) == meta_len and len(buf) == buf_len:
                        yield from self._batch(buf, meta, linktype)
                        continue
                yield from self._salvage()  # no end mark: damage, or a child that died
                return
        finally:
            if child.poll() is None:
                child.kill()
            child.stdout.close()
            child.wait()

    def _one_by_one(self, reader, skip: int = 0) -> Iterator[Frame]:
        linktype = reader.datalink()
        while True:
            try:
                header, data = reader.next()
            except pcapy.PcapError as err:
                if _MIXED_LINKTYPES in str(err) and self.path != "-":
                    # libpcap takes one link type per file; pcapng allows one per
                    # interface. Walk the file here from where libpcap stopped.
                    yield from self._pcapng(skip=self.delivered)
                    return
                self.damage = Damage(self.path, str(err))
                return
            if header is None:
                return
            if skip:
                skip -= 1
                continue
            sec, usec = header.getts()
            if sec < 0:
                # libpcap sign-extends the pcap header's 32-bit seconds here, while
                # next_batch hands them over unsigned: the same file read through a
                # pipe (gzip, stdin) or after damage must give the same times.
                sec &= 0xFFFFFFFF
            self.delivered += 1
            yield Frame(self.delivered, sec + usec / 1e6, linktype, data, len(data))

    def _pcapng(self, skip: int) -> Iterator[Frame]:
        """A pcapng file whose interfaces have different link types, read in Python.

        The same capture filter as libpcap's, compiled per link type, so the first
        `skip` packets are the ones libpcap already delivered.
        """
        programs: dict[int, object] = {}
        try:
            with (gzip.open(self.path, "rb") if _is_gzip(self.path) else open(self.path, "rb")) as f:
                for time, linktype, data in _pcapng_packets(f):
                    if linktype not in programs:
                        programs[linktype] = _program(linktype, self.user_filter)
                    program = programs[linktype]
                    if program is not None and not program.filter(data):
                        continue
                    if skip:
                        skip -= 1
                        continue
                    self.delivered += 1
                    yield Frame(self.delivered, time, linktype, data, len(data))
        except _Broken as err:
            self.damage = Damage(self.path, str(err))
        except (OSError, EOFError, zlib.error) as err:
            self.damage = Damage(self.path, getattr(err, "strerror", None) or str(err))


_MIXED_LINKTYPES = "different from the type of the first interface"  # libpcap 1.x, sf-pcapng.c
_PCAPNG_MAX_BLOCK = 16 * 1024 * 1024 + 4096  # libpcap's largest block
_DLT_OF_LINKTYPE = {101: pcapy.DLT_RAW}  # what libpcap's datalink() says for LINKTYPE_RAW


class _Broken(Exception):
    """A damaged pcapng block; the message says which way."""


def _program(linktype: int, user: str | None):
    """The BPF program set_filter would give a reader of this link type (None: take all)."""
    if linktype not in _BPF_LINKTYPES:
        expressions = [user] if user else []
    else:
        expressions = [capture_filter(user, vlan=True), capture_filter(user, vlan=False)]
    for expression in expressions:
        try:
            return pcapy.compile(linktype, 262144, expression, 1, 0)
        except pcapy.PcapError:
            continue
    return _NOTHING if expressions else None


class _Nothing:
    """A filter that cannot be compiled for a link type admits none of its packets."""

    @staticmethod
    def filter(data: bytes) -> int:
        return 0


_NOTHING = _Nothing()


def _pcapng_packets(f) -> Iterator[tuple[float, int, bytes]]:
    """(time, link type, bytes) of every packet block, whatever its interface's link type."""
    endian = "<"
    ifaces: list[tuple[int, int, int]] = []  # (link type, timestamp units per second, offset s)
    while True:
        head = f.read(12)
        if not head:
            return
        if len(head) < 12:
            raise _Broken("truncated pcapng block header")
        if head[:4] == b"\x0a\x0d\x0d\x0a":  # section header: byte order, interfaces restart
            endian = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}.get(head[8:12], "")
            if not endian:
                raise _Broken("pcapng section header with a bad byte-order magic")
            ifaces = []
        kind, length = struct.unpack(endian + "II", head[:8])
        if length < 12 or length % 4 or length > _PCAPNG_MAX_BLOCK:
            raise _Broken(f"pcapng block of length {length}")
        body = head[8:] + f.read(length - 12)
        if len(body) < length - 8:
            raise _Broken("truncated pcapng block")
        if struct.unpack(endian + "I", body[-4:])[0] != length:
            raise _Broken("pcapng block lengths disagree")
        body = body[:-4]
        if kind == 1:  # interface description
            if len(body) < 8:
                raise _Broken("pcapng interface description too short")
            linktype = struct.unpack_from(endian + "H", body)[0]
            ifaces.append((_DLT_OF_LINKTYPE.get(linktype, linktype), *_ts_options(body[8:], endian)))
            continue
        if kind in (6, 2):  # enhanced packet, (obsolete) packet
            if len(body) < 20:
                raise _Broken("pcapng packet block too short")
            if kind == 6:
                iface, hi, lo, caplen = struct.unpack_from(endian + "IIII", body)
            else:
                iface, _drops, hi, lo, caplen = struct.unpack_from(endian + "HHIII", body)
            if iface >= len(ifaces):
                raise _Broken(f"pcapng packet on interface {iface}, which is not described")
            if caplen > len(body) - 20:
                raise _Broken("pcapng packet longer than its block")
            linktype, units, offset = ifaces[iface]
            stamp = hi << 32 | lo
            sec, frac = divmod(stamp, units)
            # Microseconds, truncated, as libpcap gives them.
            yield sec + offset + (frac * 1_000_000 // units) / 1e6, linktype, body[20 : 20 + caplen]
        elif kind == 3:  # simple packet: interface 0, no timestamp
            if not ifaces:
                raise _Broken("pcapng packet on interface 0, which is not described")
            wirelen = struct.unpack_from(endian + "I", body)[0] if len(body) >= 4 else 0
            yield 0.0, ifaces[0][0], body[4 : 4 + min(wirelen, len(body) - 4)]


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
                raise _Broken(f"pcapng interface with timestamp resolution {value[0]:#x}")
        elif code == 14 and size >= 8:
            offset = struct.unpack(endian + "q", value[:8])[0]
        pos += 4 + size + (-size % 4)
    return units, offset


def _link(pid: int, fd: str) -> str:
    try:
        return os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        return ""


def _is_gzip(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == _GZIP_MAGIC


def _open(path: str, user_filter: str | None):
    """Open a capture with libpcap, checking the file first so errors read well.

    Returns the reader and, for gzip and standard input, the decompressing child.
    """
    child = None
    if path == "-":
        reader, child = _open_pipe(path)
    else:
        head = _check_file(path)
        if head.startswith(_GZIP_MAGIC):
            reader, child = _open_pipe(path)
        elif head[:4] in _CAPTURE_MAGICS:
            reader = _libpcap(path, path)
        else:
            raise CaptureError(f"{path}: not a pcap or pcapng capture file")
    set_filter(reader, user_filter)
    return reader, child


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
    """The frames of all sources, merged by timestamp while streaming, numbered from 1."""
    if len(sources) == 1:
        yield from sources[0].packets()
        return
    merged = heapq.merge(*(s.packets() for s in sources), key=lambda f: f.time)
    for number, frame in enumerate(merged, 1):
        yield frame._replace(number=number)
