"""The filter pass over a big capture file, in a child process on the other core.

On a big capture in which protocol 112 is a small share, reading the file and
filtering it takes as long as tcpdump's whole run; done here, in a child, it
overlaps with the analysis in the parent (issue 6). Threads cannot do this: pcapy
takes the GIL back for every packet it reads.

The child reads every frame (libpcap's own filter would hide how many it skipped,
and frames are numbered as in the file, issue 14). On Ethernet without a -f it
reads the file twice, side by side: once through libpcap's own filter, in C, and
once whole, only to number what passed (`_paired`): running the BPF program from
Python on each frame cost twice as much as both passes (issue 19). Otherwise it
runs the BPF program on each frame (`_filtered`).
Per batch: (frames read, meta length, data length) as three native 32-bit
integers, then one META record per admitted frame (its number in the file, sec,
usec, offset, caplen) and their bytes; (0, 0, 0) at the end. A child that stops
without it hit damage (or died): the parent walks the file itself from the last
whole batch, which also finds the reason. With "times" (a merge), each batch
ends with its next_batch records unchanged, so the parent has every frame's time.

Both sides live here: `spawn` and `batches` in the parent (capture/files.py),
`main` in the child.

Usage (by capture.files only): python -m carpscope.capture.scan FILE [FILTER [times]]
"""

from __future__ import annotations

import struct
import subprocess
import sys
from collections.abc import Iterator

import pcapy

from carpscope.capture.batch import META as _RECORD
from carpscope.capture.batch import admitted
from carpscope.capture.bpf import capture_filter, program
from carpscope.capture.streams import widen_pipe

HEAD = struct.Struct("=III")
END = HEAD.pack(0, 0, 0)
META = struct.Struct("=IIIII")  # number, sec, usec, offset, caplen
BATCH = 2048
_TIME = struct.Struct("=II")  # a next_batch record's first 8 bytes: sec, usec
DLT_EN10MB = 1


class Cut(Exception):
    """The child stopped without its end mark: damage, or a child that died."""


def spawn(path: str, user_filter: str | None, times: bool) -> subprocess.Popen | None:
    """A child filtering `path` into its stdout; None if none can be started."""
    command = [sys.executable, "-m", "carpscope.capture.scan", path, user_filter or "", "times" if times else ""]
    try:
        child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL)
    except OSError:
        return None
    assert child.stdout is not None  # stdout=PIPE
    widen_pipe(child.stdout.fileno())  # fewer wake-ups of the child
    return child


def batches(child: subprocess.Popen, times: bool) -> Iterator[tuple[int, bytes, bytes, bytes]]:
    """(frames read, META records, their bytes, every next_batch record if `times`) per batch.

    Cut if the stream ends without the end mark.
    """
    assert child.stdout is not None  # a child from spawn(): stdout=PIPE
    read = child.stdout.read
    while (head := read(HEAD.size)) != END:
        if len(head) != HEAD.size:
            raise Cut
        records, meta_len, buf_len = HEAD.unpack(head)
        meta, buf = read(meta_len), read(buf_len)
        expected = records * _RECORD.size if times else 0
        every = read(expected) if expected else b""
        if len(meta) != meta_len or len(buf) != buf_len or len(every) != expected:
            raise Cut
        yield records, meta, buf, every


def main(path: str, user_filter: str | None, times: bool = False) -> None:
    out = sys.stdout.buffer
    try:
        reader = pcapy.open_offline(path)
        linktype = reader.datalink()
        if linktype == DLT_EN10MB and user_filter is None:
            passed = pcapy.open_offline(path)
            passed.setfilter(capture_filter(None))
            batches = _paired(reader, passed)
        else:
            batches = _filtered(reader, _admit(linktype, user_filter))
        for records, head, body, meta in batches:
            out.write(HEAD.pack(records, len(head), len(body)))
            out.write(head)
            out.write(body)
            if times:
                out.write(meta)  # every frame's time, for a merge's numbers
        out.write(END)
        out.flush()
    except (pcapy.PcapError, BrokenPipeError, KeyboardInterrupt):
        pass  # damage (the parent finds it), or the parent stopped reading (-c, Ctrl-C)
    except Exception:  # noqa: BLE001 (a bad -f or link type: the parent, reading itself, says which)
        pass


def _admit(linktype: int, user_filter: str | None):
    """The BPF program run from Python on each frame (len: every frame, the decoder decides)."""
    admits = program(linktype, user_filter)
    return admits.filter if admits is not None else len


class _Kept:
    """One batch as the parent reads it: a META record per admitted frame, and their bytes."""

    __slots__ = ("records", "parts", "size")

    def __init__(self) -> None:
        self.records: list[bytes] = []
        self.parts: list[bytes] = []
        self.size = 0

    def add(self, number: int, sec: int, usec: int, data: bytes) -> None:
        self.records.append(META.pack(number, sec, usec, self.size, len(data)))
        self.parts.append(data)
        self.size += len(data)

    def admit(self, buf: bytes, meta: bytes, first: int, number: int, admit) -> None:
        """The records from index `first` on that `admit` passes; `number`: frames before the batch."""
        rest = meta[first * _RECORD.size :]
        for index in admitted(buf, rest, admit):
            sec, usec, offset, caplen = _RECORD.unpack_from(rest, index * _RECORD.size)
            self.add(number + first + index + 1, sec, usec, buf[offset : offset + caplen])

    def batch(self, meta: bytes) -> tuple[int, bytes, bytes, bytes]:
        """(frames read, META records, their bytes, next_batch records)."""
        return len(meta) // _RECORD.size, b"".join(self.records), b"".join(self.parts), meta


def _filtered(reader, admit) -> Iterator[tuple[int, bytes, bytes, bytes]]:
    """The batches (`_Kept.batch`), `admit` run on each frame."""
    number = 0
    while True:
        buf, meta = reader.next_batch(BATCH)
        if not meta:
            return
        kept = _Kept()
        kept.admit(buf, meta, 0, number, admit)
        number += len(meta) // _RECORD.size
        yield kept.batch(meta)


def _passed(passed) -> Iterator[tuple[bytes, int, bytes]]:
    """The frames libpcap's filter passed, in order: (sec and usec as packed, caplen, bytes)."""
    while True:
        buf, meta = passed.next_batch(BATCH)
        if not meta:
            return
        for sec, usec, offset, caplen in _RECORD.iter_unpack(meta):
            yield _TIME.pack(sec, usec), caplen, buf[offset : offset + caplen]


def _paired(every, passed) -> Iterator[tuple[int, bytes, bytes, bytes]]:
    """As `_filtered`, each passed frame numbered by finding it among every frame's records.

    A passed frame is the first record, after the last one found, with its time, length
    and bytes (a frame with the same bytes passes the same filter, so no other can come
    first). Its time is searched for in the batch's records with bytes.find, in C; the
    search only moves forward, so no record is looked at twice. Damage that libpcap's
    filtered pass meets first (it reads ahead) ends the pairing: the rest is filtered
    frame by frame, as `_filtered` does, and the whole pass finds the damage in turn.
    """
    frames = _passed(passed)
    admit = None  # the BPF program from Python, once the filtered pass failed
    try:
        wanted = next(frames, None)
    except pcapy.PcapError:  # (damage within the first batch of passed frames)
        wanted, admit = None, _admit(DLT_EN10MB, None)
    number = 0
    while True:
        buf, meta = every.next_batch(BATCH)
        if not meta:
            if wanted is not None:
                raise RuntimeError("a frame libpcap's filter passed is not in the file")  # (never: stop, no END)
            return
        kept, at = _Kept(), 0
        while admit is None and wanted is not None:
            index = _find(buf, meta, wanted, at)
            if index is None:
                break  # in a later batch
            time, _, data = wanted
            sec, usec = _TIME.unpack(time)
            kept.add(number + index + 1, sec, usec, data)
            at = index + 1
            try:
                wanted = next(frames, None)
            except pcapy.PcapError:
                wanted, admit = None, _admit(DLT_EN10MB, None)
        if admit is not None:  # the rest of the batch, frame by frame
            kept.admit(buf, meta, at, number, admit)
        number += len(meta) // _RECORD.size
        yield kept.batch(meta)


def _find(buf: bytes, meta: bytes, wanted: tuple[bytes, int, bytes], at: int) -> int | None:
    """The index of the first record from `at` on that holds the wanted frame, or None."""
    time, caplen, data = wanted
    size = _RECORD.size
    found = meta.find(time, at * size)
    while found != -1:
        if found % size == 0:
            _, _, offset, length = _RECORD.unpack_from(meta, found)
            if length == caplen and buf[offset : offset + length] == data:
                return found // size
        found = meta.find(time, found + 1)
    return None


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else None, sys.argv[3:4] == ["times"])
