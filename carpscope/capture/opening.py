"""Opening one capture input, so errors read well and each input is read once.

A regular file is checked (magic, emptiness) and opened by libpcap; a gzip file or a
stream (standard input, a pipe, a FIFO, `<(…)`) goes through a decompressing child
(capture/streams.py) that copies it into a pipe libpcap reads as it arrives.
"""

from __future__ import annotations

import os
import stat
import sys

import pcapy

from carpscope.capture.streams import PUMPS
from carpscope.errors import CaptureError

_GZIP_MAGIC = b"\x1f\x8b"
_CAPTURE_MAGICS = (
    b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4",  # pcap, microseconds
    b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d",  # pcap, nanoseconds
    b"\x0a\x0d\x0d\x0a",  # pcapng section header block
)


def open_capture(path: str):
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
        return (*_pump_path(path), "stream")
    head = _check_file(path)
    if head.startswith(_GZIP_MAGIC):
        return (*_pump_path(path), "gzip")
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


def _pump_path(path: str):
    """Open `path` once and hand it to a decompressing child (_pumped), which reads it as it comes."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as err:
        raise CaptureError(f"{path}: {err.strerror or err}") from None
    try:
        return _pumped(fd, path)
    finally:
        os.close(fd)


def _pumped(fd: int, name: str):
    """libpcap reading what a decompressing child copies from `fd` into a pipe."""
    try:
        out, child = PUMPS.pipe(fd)
    except OSError as err:
        raise CaptureError(f"{name}: {err.strerror or err}") from None
    try:
        return _libpcap(name, f"/dev/fd/{out}"), child
    except CaptureError as err:
        raise CaptureError(str(err).replace(f"/dev/fd/{out}: ", "")) from None
    finally:
        os.close(out)  # libpcap has its own descriptor now (or failed)
