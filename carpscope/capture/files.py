"""Capture files in: pcap and pcapng through libpcap, gzip and streams (pipes, FIFOs, stdin).

libpcap (pcapy-ng) reads the file; `next_batch` amortises the C/Python boundary
(DESIGN.md, principle 8). The BPF program runs per frame from here (a compiled
program's `filter`), not inside libpcap: libpcap's filter hides how many frames it
skipped, and a frame's number is its number in the file, as Wireshark, `tshark -r`
and `editcap -r` count it (issue 14). A gzip file or a stream is read once by a
decompressing child process into a pipe that libpcap reads, so every input takes
the same path and gets libpcap's pcapng support and its error messages (DESIGN.md
suggests dpkt for .gz; one path is simpler, and dpkt's readers end silently on a
truncated file). At most _MAX_PUMPS such children run, whatever the number of inputs.
"""

from __future__ import annotations

import fcntl
import gzip
import heapq
import os
import socket
import stat
import struct
import subprocess
import sys
import zlib
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import repeat
from operator import add, truediv

import pcapy

from carpscope.capture import scan
from carpscope.capture.bpf import capture_filter
from carpscope.errors import CaptureError, LiveCaptureError
from carpscope.model import Frame
from carpscope.wire import linklayer

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
# Raw IP under another number: OpenBSD's DLT_RAW (14) and LINKTYPE_RAW compile as
# this platform's DLT_RAW (libpcap refuses "unknown data link type 14").
_RAW_IP = {14: pcapy.DLT_RAW, 101: pcapy.DLT_RAW}
# Concurrent decompressing children (gzip and streams), and big-file scanning
# children (capture/scan.py), whatever the number of inputs.
_MAX_PUMPS = 4
_MAX_SCANS = 4


def program(linktype: int, user: str | None):
    """The BPF program that admits a frame of this link type (None: all; the decoder decides).

    A -f that does not compile is a LiveCaptureError (exit 4), as before.
    """
    dlt = _RAW_IP.get(linktype, linktype)
    if linktype not in _BPF_LINKTYPES:
        return _compile(dlt, user, user) if user else None
    try:
        return pcapy.compile(dlt, 262144, capture_filter(user, vlan=True), 1, 0)
    except pcapy.PcapError:
        return _compile(dlt, capture_filter(user, vlan=False), user)


def _compile(dlt: int, expression: str, user: str | None):
    try:
        return pcapy.compile(dlt, 262144, expression, 1, 0)
    except pcapy.PcapError as err:
        raise LiveCaptureError(f"bad capture filter {user or expression!r}: {err}") from None


def check_linktype(name: str, linktype: int) -> None:
    """A link type the decoder cannot read is named in one line, never skipped in silence."""
    if linktype not in linklayer.SUPPORTED:
        raise CaptureError(f"{name}: {unsupported(linktype)}")


def unsupported(linktype: int) -> str:
    return (f"link type {linktype} ({linktype_name(linktype)}) is not supported; carpscope reads "
            + ", ".join(sorted(set(linklayer.SUPPORTED.values()))))


def linktype_name(linktype: int) -> str:
    """libpcap's description of a DLT_ value (pcap_datalink_val_to_description), if it has one."""
    try:
        import ctypes
        import ctypes.util

        lib = ctypes.CDLL(ctypes.util.find_library("pcap") or "libpcap.so")
        lib.pcap_datalink_val_to_description.restype = ctypes.c_char_p
        text = lib.pcap_datalink_val_to_description(linktype)
        return text.decode("ascii", "replace") if text else "unknown"
    except (OSError, AttributeError):
        return "unknown"


@dataclass
class Damage:
    """Why a file stopped early; the frames before it were still delivered."""

    path: str
    reason: str


@dataclass
class FileSource:
    """One capture file streamed as Frames numbered as in the file (every frame counts)."""

    path: str
    user_filter: str | None = None
    damage: Damage | None = None
    delivered: int = 0  # frames handed on
    read: int = 0  # frames read from the file, handed on or not: the last frame number
    scan_in_child: bool | None = None  # None: when the file is at least CHILD_MIN bytes
    finished: bool = False
    kind: str = "file"  # "file", "gzip" or "stream" (a pipe, FIFO or terminal: read once)
    times: array | None = None  # merging: the time of every frame read, less the first `passed`
    passed: int = 0
    _reader: object = field(default=None, repr=False)
    _scanner: object = field(default=None, repr=False)  # the child that reads the file (None: this process)
    _fd: tuple[int, int] | None = field(default=None, repr=False)  # (pid, descriptor) found for it
    _programs: dict = field(default_factory=dict, repr=False)

    def open(self) -> None:
        self._reader, self._scanner, self.kind = _open(self.path)
        check_linktype(self.name, self.linktype)
        self._program(self.linktype)  # a bad -f fails before any output

    @property
    def name(self) -> str:
        return "<stdin>" if self.path == "-" else self.path

    @property
    def linktype(self) -> int:
        return self._reader.datalink()

    @property
    def streaming(self) -> bool:
        """Read as it arrives: each frame is handed on at once (`tcpdump -U -w - | carpscope read -`)."""
        return self.kind == "stream"

    def _program(self, linktype: int):
        if linktype not in self._programs:
            self._programs[linktype] = program(linktype, self.user_filter)
        return self._programs[linktype]

    def packets(self) -> Iterator[Frame]:
        """Stream the file's frames that pass the filter, numbered as in the file."""
        if self.kind == "stream":
            yield from self._one_by_one(self._reader)
        else:
            in_child = self.scan_in_child
            if in_child is None:
                in_child = self.kind == "file" and os.path.getsize(self.path) >= CHILD_MIN
            if _Scans.running >= _MAX_SCANS:
                in_child = False  # few children at once
            yield from self._from_child() if in_child else self._batches(self._reader)
        self.finished = True

    @property
    def size(self) -> int | None:
        """Bytes in the file (compressed, for gzip); None for a stream."""
        if self.kind == "stream":
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
        if self.kind == "stream" or self.path == "-":
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
        """The frames of one unfiltered next_batch that pass the filter, numbered on in the file."""
        number = self.read
        self.read += len(meta) // _META.size
        if self.times is not None:
            _extend_times(self.times, meta)
        admits = self._program(linktype)
        new = tuple.__new__  # Frame(...) without its Python-level __new__: half the cost per frame
        indexes = range(len(meta) // _META.size) if admits is None else scan.admitted(buf, meta, admits.filter)
        for index in indexes:
            sec, usec, offset, caplen = _META.unpack_from(meta, index * _META.size)
            self.delivered += 1
            yield new(Frame, (number + index + 1, sec + usec / 1e6, linktype, buf[offset : offset + caplen], caplen))

    def _salvage(self) -> Iterator[Frame]:
        """next_batch loses the batch that hit damage: reopen, walk up to it one frame at a time."""
        return self._one_by_one(_open(self.path)[0], skip=self.read)

    def _from_child(self) -> Iterator[Frame]:
        """The admitted frames of a child reading the file (capture/scan.py), on the other core."""
        try:
            command = [sys.executable, "-m", "carpscope.capture.scan", self.path, self.user_filter or "",
                       "times" if self.times is not None else ""]
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
        _Scans.running += 1
        linktype, read = self.linktype, child.stdout.read
        new = tuple.__new__
        try:
            while (head := read(scan.HEAD.size)) != scan.END:
                if len(head) == scan.HEAD.size:
                    records, meta_len, buf_len = scan.HEAD.unpack(head)
                    meta, buf = read(meta_len), read(buf_len)
                    expected = records * _META.size if self.times is not None else 0
                    every = read(expected) if expected else b""
                    if len(meta) == meta_len and len(buf) == buf_len and len(every) == expected:
                        if self.times is not None:
                            _extend_times(self.times, every)
                        for number, sec, usec, offset, caplen in scan.META.iter_unpack(meta):
                            self.delivered += 1
                            yield new(Frame, (number, sec + usec / 1e6, linktype, buf[offset : offset + caplen],
                                              caplen))
                        self.read += records
                        continue
                yield from self._salvage()  # no end mark: damage, or a child that died
                return
        finally:
            _Scans.running -= 1
            if child.poll() is None:
                child.kill()
            child.stdout.close()
            child.wait()

    def _one_by_one(self, reader, skip: int = 0) -> Iterator[Frame]:
        """Frame by frame: a stream as it arrives, or the rest of a damaged file after `skip` frames."""
        linktype = reader.datalink()
        admits = self._program(linktype)
        times = self.times
        number = 0
        while True:
            try:
                header, data = reader.next()
            except pcapy.PcapError as err:
                if _MIXED_LINKTYPES in str(err) and self.kind != "stream":
                    # libpcap takes one link type per file; pcapng allows one per
                    # interface. Walk the file here from where libpcap stopped.
                    yield from self._pcapng(skip=self.read)
                    return
                self.damage = Damage(self.name, str(err))
                return
            if header is None:
                return
            number += 1
            if number <= skip:
                continue
            self.read = number
            sec, usec = header.getts()
            if sec < 0:
                # libpcap sign-extends the pcap header's 32-bit seconds here, while
                # next_batch hands them over unsigned: the same file read through a
                # pipe (gzip, stdin) or after damage must give the same times.
                sec &= 0xFFFFFFFF
            if times is not None:
                times.append(sec + usec / 1e6)
            if admits is not None and not admits.filter(data):
                continue
            self.delivered += 1
            yield Frame(number, sec + usec / 1e6, linktype, data, len(data))

    def _pcapng(self, skip: int) -> Iterator[Frame]:
        """A pcapng file whose interfaces have different link types, read in Python.

        Every packet block is a frame, as libpcap and Wireshark count them; the
        first `skip` are the ones libpcap already read.
        """
        number = 0
        try:
            with (gzip.open(self.path, "rb") if self.kind == "gzip" else open(self.path, "rb")) as f:
                for time, linktype, data in _pcapng_packets(f):
                    number += 1
                    if number <= skip:
                        continue
                    self.read = number
                    if linktype not in linklayer.SUPPORTED:
                        raise _Broken(f"interface of {unsupported(linktype)}")
                    if self.times is not None:
                        self.times.append(time)
                    admits = self._program(linktype)
                    if admits is not None and not admits.filter(data):
                        continue
                    self.delivered += 1
                    yield Frame(number, time, linktype, data, len(data))
        except _Broken as err:
            self.damage = Damage(self.name, str(err))
        except (OSError, EOFError, zlib.error) as err:
            self.damage = Damage(self.name, getattr(err, "strerror", None) or str(err))


class _Scans:
    running = 0  # big-file children reading now


_MIXED_LINKTYPES = "different from the type of the first interface"  # libpcap 1.x, sf-pcapng.c
_PCAPNG_MAX_BLOCK = 16 * 1024 * 1024 + 4096  # libpcap's largest block
_DLT_OF_LINKTYPE = {101: pcapy.DLT_RAW}  # what libpcap's datalink() says for LINKTYPE_RAW


class _Broken(Exception):
    """A damaged pcapng block; the message says which way."""


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
            if len(value) < 8:
                raise _Broken("pcapng if_tsoffset option runs past its block")
            offset = struct.unpack(endian + "q", value[:8])[0]
        pos += 4 + size + (-size % 4)
    return units, offset


def _link(pid: int, fd: str) -> str:
    try:
        return os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        return ""


def _open(path: str):
    """Open a capture with libpcap, checking the file first so errors read well.

    Returns the reader, the decompressing child (gzip and streams) and the kind of
    input. A stream (standard input, a pipe, a FIFO, `<(…)`) is opened once and read
    once by the child: reading its magic here would lose those bytes.
    """
    if path == "-":
        return (*_pumped(sys.stdin.fileno(), "<stdin>"), "stream")
    try:
        st = os.stat(path)
    except OSError as err:
        raise CaptureError(f"{path}: {err.strerror or err}") from None
    if stat.S_ISDIR(st.st_mode):
        raise CaptureError(f"{path}: is a directory, not a capture file")
    if not stat.S_ISREG(st.st_mode):
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as err:
            raise CaptureError(f"{path}: {err.strerror or err}") from None
        try:
            return (*_pumped(fd, path), "stream")
        finally:
            os.close(fd)
    head = _check_file(path)
    if head.startswith(_GZIP_MAGIC):
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as err:
            raise CaptureError(f"{path}: {err.strerror or err}") from None
        try:
            return (*_pumped(fd, path), "gzip")
        finally:
            os.close(fd)
    if head[:4] in _CAPTURE_MAGICS:
        return _libpcap(path, path), None, "file"
    raise CaptureError(f"{path}: not a pcap or pcapng capture file")


def _check_file(path: str) -> bytes:
    try:
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


def _pumped(fd: int, name: str):
    """libpcap reading what a decompressing child copies from `fd` into a pipe."""
    try:
        out, child = _PUMPS.pipe(fd)
    except OSError as err:
        raise CaptureError(f"{name}: {err.strerror or err}") from None
    try:
        return _libpcap(name, f"/dev/fd/{out}"), child
    except CaptureError as err:
        raise CaptureError(str(err).replace(f"/dev/fd/{out}: ", "")) from None
    finally:
        os.close(out)  # libpcap has its own descriptor now (or failed)


# Copies each input it is handed (a descriptor pair over a Unix socket) to its pipe,
# gunzipping what starts with gzip's magic, in a thread per input: one child serves
# many inputs (issue 20: 300 .gz inputs once started 300 children). A child, not a
# thread: pcapy holds the GIL while libpcap blocks on a pipe. Each read returns what
# has arrived, so a stream is handed on as it comes (issue 14).
_PUMP = r"""
import os, socket, sys, threading, zlib

def put(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]

def pump(src, dst):
    try:
        data = b""
        while len(data) < 2:
            more = os.read(src, 2 - len(data))
            if not more:
                break
            data += more
        inflate = zlib.decompressobj(31) if data == b"\x1f\x8b" else None
        while data:
            while inflate is not None and data:
                put(dst, inflate.decompress(data, 1 << 18))
                data = inflate.unconsumed_tail
                if inflate.eof:
                    data, inflate = data + inflate.unused_data, zlib.decompressobj(31)
            if inflate is None:
                put(dst, data)
            data = os.read(src, 1 << 16)
    except Exception:
        pass
    finally:
        os.close(src)
        os.close(dst)

control = socket.socket(fileno=int(sys.argv[1]))
while True:
    _, fds, _, _ = socket.recv_fds(control, 1, 2)
    if len(fds) != 2:
        break
    threading.Thread(target=pump, args=fds, daemon=True).start()
os._exit(0)  # the reading process has gone: nothing still copying is wanted (a stalled FIFO writer included)
"""


class _Pumps:
    """At most _MAX_PUMPS decompressing children, each handed inputs in turn."""

    def __init__(self):
        self.children: list[tuple[subprocess.Popen, socket.socket]] = []
        self.turn = 0

    def pipe(self, fd: int) -> tuple[int, subprocess.Popen]:
        """The read end of a pipe a child fills from `fd`, and the child; OSError if none can be had."""
        out, into = os.pipe()
        try:
            fcntl.fcntl(out, _F_SETPIPE_SZ, _PIPE_SIZE)
        except OSError:
            pass
        try:
            for _ in range(2):  # (a child that died since its last input is replaced once)
                child, control = self._next()
                try:
                    socket.send_fds(control, [b"p"], [fd, into])
                    return out, child
                except OSError:
                    child.kill()
                    child.wait()
            raise OSError("the decompressing process does not answer")
        except OSError:
            os.close(out)
            raise
        finally:
            os.close(into)

    def _next(self) -> tuple[subprocess.Popen, socket.socket]:
        self.children = [c for c in self.children if c[0].poll() is None]
        if len(self.children) < _MAX_PUMPS:
            ours, theirs = socket.socketpair()
            with theirs:
                child = subprocess.Popen([sys.executable, "-c", _PUMP, str(theirs.fileno())],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, pass_fds=(theirs.fileno(),))
            self.children.append((child, ours))
        self.turn += 1
        return self.children[self.turn % len(self.children)]


_PUMPS = _Pumps()


def open_sources(paths: list[str], user_filter: str | None) -> list[FileSource]:
    """Open every file up front, so a bad one fails before any output."""
    sources = []
    for path in paths:
        source = FileSource(path, user_filter)
        source.open()
        sources.append(source)
    return sources


def frames(sources: list[FileSource]) -> Iterator[Frame]:
    """The frames of all sources, merged by timestamp while streaming.

    One file: numbered as in the file. Several: numbered as in the capture
    `mergecap -w merged.pcapng FILE...` writes (frames in time order, ties to the
    earlier file on the command line), which Wireshark opens by that number. A
    frame's number there is its number in its file plus, for each other file, how
    many of its frames come first; each source keeps every frame's time to count
    them (8 bytes a frame, dropped as the merge passes them; files in time order).
    """
    if len(sources) == 1:
        yield from sources[0].packets()
        return
    for source in sources:
        source.times, source.passed = array("d"), 0
    streams = [_tagged(s.packets(), i) for i, s in enumerate(sources)]
    last = 0
    for (time, index), frame in heapq.merge(*streams, key=lambda item: item[0]):
        number = frame.number
        for j, source in enumerate(sources):
            if j != index:
                times = source.times
                before = bisect_left(times, time) if j > index else bisect_right(times, time)
                number += source.passed + before
                if before > 65536:
                    del times[:before]
                    source.passed += before
        # A file out of time order has no exact count here; its numbers still only grow.
        last = max(number, last + 1)
        yield frame._replace(number=last)


def _extend_times(times: array, meta: bytes) -> None:
    """Append the time of every next_batch record, computed as Frame.time is, without a Python loop."""
    fields = array("I")
    fields.frombytes(meta)
    times.extend(map(add, fields[0::4], map(truediv, fields[1::4], repeat(1e6))))


def _tagged(frames_: Iterator[Frame], index: int) -> Iterator[tuple[tuple[float, int], Frame]]:
    for frame in frames_:
        yield (frame.time, index), frame
