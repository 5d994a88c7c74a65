"""libpcap's filter pass over a capture file, in a child process on the other core.

On a big capture in which protocol 112 is a small share, reading the file and
running the BPF filter takes as long as tcpdump's whole run; done here, in a
child, it overlaps with the analysis in the parent (issue 6). Threads cannot do
this: pcapy takes the GIL back for every packet it reads.

The child sends next_batch's buffers unchanged. Per batch: (meta length, data
length) as two native 32-bit integers, then the meta and data bytes; (0, 0) at
the end. A child that stops without (0, 0) hit damage (or died): the parent
walks the file itself from there, which also finds the reason.

Usage (by capture.files only): python -m carpscope.capture.scan FILE [FILTER]
"""

from __future__ import annotations

import struct
import sys

HEAD = struct.Struct("=II")
END = HEAD.pack(0, 0)
BATCH = 2048


def main(path: str, user_filter: str | None) -> None:
    import pcapy

    from carpscope.capture.files import set_filter

    out = sys.stdout.buffer
    try:
        reader = pcapy.open_offline(path)
        set_filter(reader, user_filter)
        while True:
            buf, meta = reader.next_batch(BATCH)
            if not meta:
                out.write(END)
                break
            out.write(HEAD.pack(len(meta), len(buf)))
            out.write(meta)
            out.write(buf)
        out.flush()
    except (pcapy.PcapError, BrokenPipeError, KeyboardInterrupt):
        pass  # damage (the parent finds it), or the parent stopped reading (-c, Ctrl-C)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else None)
