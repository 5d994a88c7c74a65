"""The filter pass over a big capture file, in a child process on the other core.

On a big capture in which protocol 112 is a small share, reading the file and
filtering it takes as long as tcpdump's whole run; done here, in a child, it
overlaps with the analysis in the parent (issue 6). Threads cannot do this: pcapy
takes the GIL back for every packet it reads.

The child reads every frame (libpcap's own filter would hide how many it skipped,
and frames are numbered as in the file, issue 14) and runs the BPF program on each.
Per batch: (frames read, meta length, data length) as three native 32-bit
integers, then one META record per admitted frame (its number in the file, sec,
usec, offset, caplen) and their bytes; (0, 0, 0) at the end. A child that stops
without it hit damage (or died): the parent walks the file itself from the last
whole batch, which also finds the reason. With "times" (a merge), each batch
ends with its next_batch records unchanged, so the parent has every frame's time.

Usage (by capture.files only): python -m carpscope.capture.scan FILE [FILTER [times]]
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Iterator
from itertools import compress
from operator import add

HEAD = struct.Struct("=III")
END = HEAD.pack(0, 0, 0)
META = struct.Struct("=IIIII")  # number, sec, usec, offset, caplen
BATCH = 2048
_RECORD = struct.Struct("=IIII")  # next_batch's: sec, usec, offset, caplen


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


def main(path: str, user_filter: str | None, times: bool = False) -> None:
    import pcapy

    from carpscope.capture.files import program

    out = sys.stdout.buffer
    try:
        reader = pcapy.open_offline(path)
        admits = program(reader.datalink(), user_filter)
        admit = admits.filter if admits is not None else len
        number = 0
        while True:
            buf, meta = reader.next_batch(BATCH)
            if not meta:
                out.write(END)
                break
            kept, parts, size = [], [], 0
            for index in admitted(buf, meta, admit):
                sec, usec, offset, caplen = _RECORD.unpack_from(meta, index * _RECORD.size)
                kept.append(META.pack(number + index + 1, sec, usec, size, caplen))
                parts.append(buf[offset : offset + caplen])
                size += caplen
            number += len(meta) // _RECORD.size
            head, body = b"".join(kept), b"".join(parts)
            out.write(HEAD.pack(len(meta) // _RECORD.size, len(head), len(body)))
            out.write(head)
            out.write(body)
            if times:
                out.write(meta)  # every frame's time, for a merge's numbers
        out.flush()
    except (pcapy.PcapError, BrokenPipeError, KeyboardInterrupt):
        pass  # damage (the parent finds it), or the parent stopped reading (-c, Ctrl-C)
    except Exception:  # noqa: BLE001 (a bad -f or link type: the parent, reading itself, says which)
        pass


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else None, sys.argv[3:4] == ["times"])
