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

Both sides live here: `spawn` and `batches` in the parent (capture/files.py),
`main` in the child.

Usage (by capture.files only): python -m carpscope.capture.scan FILE [FILTER [times]]
"""

from __future__ import annotations

import struct
import subprocess
import sys
from collections.abc import Iterator

from carpscope.capture.batch import META as _RECORD
from carpscope.capture.batch import admitted
from carpscope.capture.streams import widen_pipe

HEAD = struct.Struct("=III")
END = HEAD.pack(0, 0, 0)
META = struct.Struct("=IIIII")  # number, sec, usec, offset, caplen
BATCH = 2048


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
    import pcapy

    from carpscope.capture.bpf import program

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
