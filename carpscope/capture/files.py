"""Capture files in: opened, read batch by batch, and merged by time.

libpcap (pcapy-ng) reads the file; `next_batch` amortises the C/Python boundary
(docs/design.md, principle 8). The BPF program runs per frame from here (a compiled
program's `filter`, capture/bpf.py), not inside libpcap: libpcap's filter hides how
many frames it skipped, and a frame's number is its number in the file, as
Wireshark, `tshark -r` and `editcap -r` count it (issue 14). A gzip file or a stream
is read once by a decompressing child process into a pipe that libpcap reads
(capture/streams.py), so every input takes the same path and gets libpcap's pcapng
support and its error messages (docs/design.md suggests dpkt for .gz; one path is
simpler, and dpkt's readers end silently on a truncated file). A big file is
filtered by a child on the other core (capture/scan.py); a pcapng file with mixed
link types is walked in Python (capture/pcapng.py).
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain, repeat
from typing import TYPE_CHECKING, Any, cast

import pcapy

from carpscope.capture import batch
from carpscope.capture.bpf import program
from carpscope.capture.linktypes import check_linktype, unsupported
from carpscope.capture.opening import open_capture
from carpscope.errors import CaptureError
from carpscope.model import Frame
from carpscope.wire import linklayer

if TYPE_CHECKING:
    import subprocess

_BATCH = 512
# From this size on, libpcap's filter pass runs in a child process (capture/scan.py).
# Below it the pass takes a tenth of a second or less, which is all a child can save,
# and every packet that passes the filter costs a little more through the pipe.
CHILD_MIN = 64 << 20
_MAX_SCANS = 4  # big-file scanning children at once, whatever the number of inputs


class Reading(chain):
    """A file's frames: a chain (its next() is C), which a reader may close like a generator."""

    close: Callable[[], None]


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
    read: int = 0  # frames read from the file, handed on or not: the last frame number
    scan_in_child: bool | None = None  # None: when the file is at least CHILD_MIN bytes
    finished: bool = False
    kind: str = "file"  # "file", "gzip" or "stream" (a pipe, FIFO or terminal: read once)
    times: array | None = None  # merging: the time of every frame read, less the first `passed`
    passed: int = 0
    _reader: Any = field(default=None, repr=False)  # a pcapy Reader (pcapy ships no types)
    _scanner: subprocess.Popen | None = field(default=None, repr=False)  # the child reading the file (None: us)
    _fd: tuple[int, int] | None = field(default=None, repr=False)  # (pid, descriptor) found for it
    _programs: dict = field(default_factory=dict, repr=False)

    def open(self) -> None:
        self._reader, self._scanner, self.kind = open_capture(self.path)
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

    def packets(self) -> Reading:
        """Stream the file's frames that pass the filter, numbered as in the file.

        One chain over the batches' frames (issue 19): each frame comes out of C, with no
        generator between it and the reading loop; `finished` is set once the last is taken.
        """
        parts = self._parts()
        reading = cast(Reading, Reading.from_iterable(parts))
        reading.close = parts.close
        return reading

    def _parts(self) -> Generator[Iterable[Frame], None, None]:
        if self.kind == "stream":
            yield self._one_by_one(self._reader)
        else:
            in_child = self.scan_in_child
            if in_child is None:
                in_child = self.kind == "file" and os.path.getsize(self.path) >= CHILD_MIN
            if _Scans.running >= _MAX_SCANS:
                in_child = False  # few children at once
            # (closed unfinished, by -c or a sample, `yield from` closes _from_child: its child stops)
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

    def _batches(self, reader) -> Iterator[Iterable[Frame]]:
        """The frames of each next_batch, a batch at a time; after damage, the salvaged rest."""
        linktype = reader.datalink()
        while True:
            try:
                buf, meta = reader.next_batch(_BATCH)
            except pcapy.PcapError:
                yield self._salvage()
                return
            if not meta:
                return
            yield self._batch(buf, meta, linktype)

    def _batch(self, buf: bytes, meta: bytes, linktype: int) -> Iterator[Frame]:
        """The frames of one unfiltered next_batch that pass the filter, numbered on in the file.

        Counted in `read` (and `times`) when the batch is taken, before its frames are handed on.
        """
        number = self.read
        self.read += batch.count(meta)
        if self.times is not None:
            batch.extend_times(self.times, meta)
        admits = self._program(linktype)
        return batch.frames(buf, meta, linktype, number, None if admits is None else admits.filter)

    def _salvage(self) -> Iterator[Frame]:
        """next_batch loses the batch that hit damage: reopen, walk up to it one frame at a time."""
        return self._one_by_one(open_capture(self.path)[0], skip=self.read)

    def _from_child(self) -> Iterator[Iterable[Frame]]:
        """The admitted frames of a child reading the file (capture/scan.py), on the other core,
        a batch at a time; a batch is counted in `read` once its frames are all taken."""
        from carpscope.capture import scan  # only big files: not on every start

        child = scan.spawn(self.path, self.user_filter, self.times is not None)
        if child is None:
            yield from self._batches(self._reader)
            return
        self._scanner = child
        _Scans.running += 1
        linktype = self.linktype
        try:
            for records, meta, buf, every in scan.batches(child, self.times is not None):
                if self.times is not None:
                    batch.extend_times(self.times, every)
                yield batch.numbered(buf, meta, linktype)
                self.read += records
        except scan.Cut:
            yield self._salvage()  # no end mark: damage, or a child that died
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
                from carpscope.capture.pcapng import MIXED_LINKTYPES

                if MIXED_LINKTYPES in str(err) and self.kind != "stream":
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
            yield Frame(number, sec + usec / 1e6, linktype, data, len(data))

    def _pcapng(self, skip: int) -> Iterator[Frame]:
        """A pcapng file whose interfaces have different link types, read in Python.

        Every packet block is a frame, as libpcap and Wireshark count them; the
        first `skip` are the ones libpcap already read.
        """
        import gzip
        import zlib

        from carpscope.capture import pcapng  # (imported here: a plain read starts without it)

        number = 0
        try:
            with (gzip.open(self.path, "rb") if self.kind == "gzip" else open(self.path, "rb")) as f:
                for time, linktype, data in pcapng.packets(f):
                    number += 1
                    if number <= skip:
                        continue
                    self.read = number
                    if linktype not in linklayer.SUPPORTED:
                        raise pcapng.Broken(f"interface of {unsupported(linktype)}")
                    if self.times is not None:
                        self.times.append(time)
                    admits = self._program(linktype)
                    if admits is not None and not admits.filter(data):
                        continue
                    yield Frame(number, time, linktype, data, len(data))
        except pcapng.Broken as err:
            self.damage = Damage(self.name, str(err))
        except (OSError, EOFError, zlib.error) as err:
            self.damage = Damage(self.name, getattr(err, "strerror", None) or str(err))


class _Scans:
    running = 0  # big-file children reading now


def _link(pid: int, fd: str) -> str:
    try:
        return os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        return ""


def open_sources(paths: list[str], user_filter: str | None) -> list[FileSource]:
    """Open every file up front, so a bad one fails before any output."""
    sources = []
    for path in paths:
        source = FileSource(path, user_filter)
        source.open()
        sources.append(source)
    return sources


def frames(sources: list[FileSource], points: list[str] | None = None) -> Iterator[Frame]:
    """The frames of all sources, merged by timestamp while streaming.

    One file: numbered as in the file. Several: numbered as in the capture
    `mergecap -w merged.pcapng FILE...` writes (frames in time order, ties to the
    earlier file on the command line), which Wireshark opens by that number. A
    frame's number there is its number in its file plus, for each other file, how
    many of its frames come first; each source keeps every frame's time to count
    them (8 bytes a frame, dropped as the merge passes them; files in time order).
    `points`: each file's vantage point, carried on its frames (issue 15).
    """
    if len(sources) == 1:
        # One file: its chain as it is, no generator re-yielding each frame (issue 19).
        reading = sources[0].packets()
        return reading if points is None else map(_at_point, reading, repeat(points[0]))
    return _merged(sources, points)


def _merged(sources: list[FileSource], points: list[str] | None) -> Iterator[Frame]:
    """Several files merged by time, renumbered as mergecap numbers them (see frames)."""
    import heapq
    from bisect import bisect_left, bisect_right

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
        yield _at(frame, last, None if points is None else points[index])


def _at_point(frame: Frame, point: str) -> Frame:
    """The frame of a single file at its vantage point, its number as in the file."""
    return Frame(frame[0], frame[1], frame[2], frame[3], frame[4], point)


def _at(frame: Frame, number: int, point: str | None) -> Frame:
    """The frame renumbered, at its vantage point (a frame of a batch is a plain 5-tuple)."""
    return Frame(number, frame[1], frame[2], frame[3], frame[4], point)


def samples(sources: list[FileSource], points: list[str], count: int = 4096) -> dict[str, list]:
    """(identity, time) of the first `count` frames of each file, to estimate the clock offsets
    (vantage.estimate). A stream is read once, so it gives none: its offset is taken as 0."""
    from carpscope.vantage import identity

    out: dict[str, list] = {}
    for source, point in zip(sources, points):
        if source.kind == "stream":
            continue
        again = FileSource(source.path, source.user_filter, scan_in_child=False)
        try:
            again.open()
        except CaptureError:
            continue
        got = out.setdefault(point, [])
        reading = again.packets()
        try:
            for frame in reading:
                key = identity(frame)
                if key is not None:
                    got.append((key, frame[1]))
                if len(got) >= count:
                    break
        finally:
            reading.close()
    return out


def _tagged(frames_: Iterator[Frame], index: int) -> Iterator[tuple[tuple[float, int], Frame]]:
    for frame in frames_:
        yield (frame.time, index), frame
