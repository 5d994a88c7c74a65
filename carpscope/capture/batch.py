"""libpcap's next_batch records, unpacked for files, the big-file child and live capture.

`next_batch` amortises the C/Python boundary (docs/design.md, principle 8): one call
hands over a buffer of frame bytes and packed META records pointing into it. The
unpacking lives here once, so files and live read a batch the same way.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Iterable, Iterator
from itertools import compress, repeat
from operator import add, truediv

from carpscope.model import Frame

META = struct.Struct("=IIII")  # sec, usec, offset, caplen: next_batch's packed records


def count(meta: bytes) -> int:
    """How many frames a batch holds (read, whether or not they pass the filter)."""
    return len(meta) // META.size


def frames(buf: bytes, meta: bytes, linktype: int, number: int,
           indexes: Iterable[int] | None = None) -> Iterator[Frame]:
    """The batch's frames (or those at `indexes`), numbered on from `number`.

    Built with tuple.__new__, without Frame's Python-level __new__: half the cost per frame.
    """
    new, unpack, size = tuple.__new__, META.unpack_from, META.size
    for index in range(len(meta) // size) if indexes is None else indexes:
        sec, usec, offset, caplen = unpack(meta, index * size)
        yield new(Frame, (number + index + 1, sec + usec / 1e6, linktype, buf[offset : offset + caplen], caplen))


def admitted(buf: bytes, meta: bytes, admit) -> Iterator[int]:
    """Indexes of the next_batch records `admit` passes, without a Python loop over the others.

    Most frames of a big capture are not protocol 112; map() and compress() keep
    their cost in C (three times faster than a loop, measured on bench/gen.py's mixed capture).
    """
    fields = array("I")
    fields.frombytes(meta)
    offsets = fields[2::4]
    ends = map(add, offsets, fields[3::4])
    verdicts = map(admit, map(buf.__getitem__, map(slice, offsets, ends)))
    return compress(range(len(offsets)), verdicts)


def extend_times(times: array, meta: bytes) -> None:
    """Append the time of every record, computed as Frame.time is, without a Python loop."""
    fields = array("I")
    fields.frombytes(meta)
    times.extend(map(add, fields[0::4], map(truediv, fields[1::4], repeat(1e6))))
