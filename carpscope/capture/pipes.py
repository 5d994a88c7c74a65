"""Live from pipes: pcap streams on standard input or from commands, one per vantage point.

`carpscope live -` reads `tcpdump -U -w -` from standard input; `live --from
fw1='ssh fw1 tcpdump -U -i em0 -w - "ip proto 112 or arp"'` runs the command and
reads its output (issue 15). Several streams are read side by side with select(),
frame by frame as they arrive: the pcap records are parsed here, in Python,
because pcapy holds the GIL while libpcap blocks on a pipe (capture/streams.py).

A command that ends is reported with the last line of its standard error, and the
other streams go on; the capture ends when every stream has.

Time: the frames carry the capturing host's clock. A Tick claims the stream's
time now: the arrival time plus how far the latest frame's stamp was ahead of its
arrival, less LAG for the frames still on their way (ssh buffers a little).
"""

from __future__ import annotations

import os
import select
import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO

from carpscope.errors import LiveCaptureError
from carpscope.model import Frame, Tick
from carpscope.wire import linklayer

# Seconds a frame may take through a pipe after its stamp: without --immediate-mode,
# Linux tcpdump hands frames over in blocks, up to its 1 s buffer timeout late; then ssh.
LAG = 1.5
_SNAP_MAX = 262144 * 4  # a record longer than this is a broken stream, not a frame
_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6), b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9), b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
_PCAPNG = b"\x0a\x0d\x0d\x0a"


@dataclass
class Pipe:
    """One pcap stream: its name (the vantage point), its descriptor, the command behind it."""

    name: str | None
    fd: int
    process: subprocess.Popen | None = None
    command: str | None = None
    errors: IO[bytes] | None = None  # the command's standard error, kept to say why it ended
    linktype: int | None = None
    skew: float | None = None  # latest frame's stamp minus its arrival time
    ended: str | None = None  # why it ended, once it has
    _buf: bytearray = field(default_factory=bytearray, repr=False)
    _order: tuple | None = field(default=None, repr=False)

    def take(self, data: bytes) -> list[tuple[float, bytes, int]]:
        """The records complete in what arrived: (time, bytes, wire length) each."""
        self._buf += data
        out: list[tuple[float, bytes, int]] = []
        if self._order is None:
            if len(self._buf) < 24:
                return out
            self._header()
        assert self._order is not None  # _header sets it or raises
        endian, unit = self._order
        buf, pos = self._buf, 0
        while len(buf) - pos >= 16:
            sec, frac, caplen, wirelen = struct.unpack_from(endian + "IIII", buf, pos)
            if caplen > _SNAP_MAX:
                raise LiveCaptureError(f"{self.label}: not a pcap stream (a record of {caplen} bytes)")
            if len(buf) - pos < 16 + caplen:
                break
            out.append((sec + frac * unit, bytes(buf[pos + 16 : pos + 16 + caplen]), wirelen))
            pos += 16 + caplen
        del buf[:pos]
        return out

    def _header(self) -> None:
        magic = bytes(self._buf[:4])
        if magic == _PCAPNG:
            raise LiveCaptureError(f"{self.label}: a pcapng stream; give tcpdump -w - (it writes pcap)")
        if magic not in _MAGICS:
            raise LiveCaptureError(f"{self.label}: not a pcap stream")
        self._order = _MAGICS[magic]
        self.linktype = struct.unpack_from(self._order[0] + "I", self._buf, 20)[0] & 0x0FFFFFFF
        if self.linktype not in linklayer.SUPPORTED:
            raise LiveCaptureError(f"{self.label}: link type {self.linktype} is not supported")
        del self._buf[:24]

    @property
    def label(self) -> str:
        return self.name or "<stdin>"


def spawn(name: str, command: str) -> Pipe:
    """Run `command` (through the shell) with its standard output a pipe; LiveCaptureError if it cannot start."""
    import tempfile

    # A file, not a pipe: a chatty command never blocks on it. Open until the command ends (_end).
    errors = tempfile.TemporaryFile()  # noqa: SIM115
    try:
        process = subprocess.Popen(command, shell=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=errors, start_new_session=True)
    except OSError as err:
        errors.close()
        raise LiveCaptureError(f"--from {name}: {err.strerror or err}") from None
    assert process.stdout is not None  # stdout=PIPE
    return Pipe(name, process.stdout.fileno(), process, command, errors)


def stdin(name: str | None = None) -> Pipe:
    return Pipe(name, 0)


def stream(pipes: list[Pipe], on_end: Callable[[Pipe], None], clock=time.time, wait=select.select,
           timeout: Callable[[], float | None] = lambda: 0.25) -> Iterator[Frame | Tick]:
    """Frames of every pipe as they arrive (numbered in arrival order, carrying their pipe's
    name), each wake-up ending with a Tick; `on_end(pipe)` when a pipe ends. Ends when all have."""
    number = 0
    open_ = list(pipes)
    for p in open_:
        os.set_blocking(p.fd, False)
    while open_:
        ready = wait([p.fd for p in open_], [], [], timeout())[0]
        now = clock()
        for p in [p for p in open_ if p.fd in ready]:
            try:
                data = os.read(p.fd, 1 << 16)
            except BlockingIOError:
                continue
            except OSError as err:
                data, p.ended = b"", err.strerror or str(err)
            if not data:
                _end(p)
                open_.remove(p)
                on_end(p)
                continue
            for t, frame, wirelen in p.take(data):
                number += 1
                p.skew = t - now
                yield Frame(number, t, p.linktype or 0, frame, wirelen, p.name)  # (set by the header)
        skews = [p.skew for p in open_ if p.skew is not None]
        if skews:
            yield Tick(now + min(skews) - LAG)


def _end(p: Pipe) -> None:
    """Why the pipe ended: the command's status and the last line of its standard error."""
    if p.process is None:
        p.ended = p.ended or "end of stream"
        return
    _reap(p.process)
    err = ""
    if p.errors is not None:
        p.errors.seek(0)
        err = p.errors.read()[-4096:].decode("utf-8", "replace")
        p.errors.close()
    last = next((line.strip() for line in reversed(err.splitlines()) if line.strip()), "")
    status = p.process.returncode
    p.ended = f"exited with status {status}" + (f": {last}" if last else "")


def _reap(process: subprocess.Popen) -> None:
    """Wait for a command that ends (or was told to), killing it after two seconds."""
    try:
        process.wait(timeout=2)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def close(pipes: list[Pipe]) -> None:
    """End the commands still running (their whole process group: ssh and what it started)."""
    import signal

    for p in pipes:
        if p.process is not None and p.process.poll() is None:
            try:
                os.killpg(p.process.pid, signal.SIGTERM)
            except OSError:
                pass
            _reap(p.process)
