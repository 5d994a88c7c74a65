"""libpcap's next_batch records, unpacked for files, the big-file child and live capture.

`next_batch` amortises the C/Python boundary (docs/design.md, principle 8): one call
hands over a buffer of frame bytes and packed META records pointing into it. The
unpacking lives here once, so files and live read a batch the same way, and it runs
in C (array columns, map, zip, compress): no Python code per frame (issue 19).
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Callable, Iterator
from itertools import compress, repeat
from operator import add, truediv

from carpscope.model import Frame

META = struct.Struct("=IIII")  # sec, usec, offset, caplen: next_batch's packed records
_NEW = tuple.__new__


def count(meta: bytes) -> int:
    """How many frames a batch holds (read, whether or not they pass the filter)."""
    return len(meta) // META.size


def frames(buf: bytes, meta: bytes, linktype: int, number: int,
           admit: Callable[[bytes], int] | None = None) -> Iterator[Frame]:
    """The batch's frames (those `admit` passes, if given), numbered on from `number`.

    Each is built as the loop of old built it, `(number, sec + usec / 1e6, linktype,
    data, caplen)` through tuple.__new__ (no Python-level Frame.__new__), but column by
    column in C: the times are the same floats, bit for bit. A batch is sliced and
    filtered when this is called, so `admit` runs before any of its frames is handed on.
    """
    fields = array("I")
    fields.frombytes(meta)
    secs, usecs, offsets, caplens = fields[0::4], fields[1::4], fields[2::4], fields[3::4]
    numbers = range(number + 1, number + 1 + len(offsets))
    datas = map(buf.__getitem__, map(slice, offsets, map(add, offsets, caplens)))
    if admit is not None:
        datas = list(datas)  # type: ignore[assignment]
        verdicts = list(map(admit, datas))
        if not all(verdicts):
            numbers, secs, usecs, datas, caplens = (  # type: ignore[assignment]
                list(compress(column, verdicts)) for column in (numbers, secs, usecs, datas, caplens))
    times = map(add, secs, map(truediv, usecs, repeat(1e6)))
    return map(_NEW, repeat(Frame), zip(numbers, times, repeat(linktype), datas, caplens))


def numbered(buf: bytes, meta: bytes, linktype: int) -> Iterator[Frame]:
    """The frames of the big-file child's records (number, sec, usec, offset, caplen; capture/scan.py),
    built in C as frames() builds them."""
    fields = array("I")
    fields.frombytes(meta)
    offsets, caplens = fields[3::5], fields[4::5]
    times = map(add, fields[1::5], map(truediv, fields[2::5], repeat(1e6)))
    datas = map(buf.__getitem__, map(slice, offsets, map(add, offsets, caplens)))
    return map(_NEW, repeat(Frame), zip(fields[0::5], times, repeat(linktype), datas, caplens))


def extend_times(times: array, meta: bytes) -> None:
    """Append the time of every record, computed as Frame.time is, without a Python loop."""
    fields = array("I")
    fields.frombytes(meta)
    times.extend(map(add, fields[0::4], map(truediv, fields[1::4], repeat(1e6))))


def admitted(buf: bytes, meta: bytes, admit) -> Iterator[int]:
    """Indexes of the next_batch records `admit` passes, without a Python loop over the others.

    Most frames of a big capture are not protocol 112; map() and compress() keep
    their cost in C (three times faster than a loop, measured on bench/gen.py's mixed capture).
    The big-file child (capture/scan.py) sends these on.
    """
    fields = array("I")
    fields.frombytes(meta)
    offsets = fields[2::4]
    ends = map(add, offsets, fields[3::4])
    verdicts = map(admit, map(buf.__getitem__, map(slice, offsets, ends)))
    return compress(range(len(offsets)), verdicts)
