"""The decompressing children: gzip files and streams (pipes, FIFOs, stdin) copied into pipes.

A gzip file or a stream is read once by a child process into a pipe that libpcap
reads, so every input takes the same path as a plain file (capture/files.py says
why). One child serves many inputs, each handed over as a descriptor pair on a Unix
socket and copied by a thread of its own (issue 20: 300 .gz inputs once started
300 children); at most MAX_PUMPS children run. A child, not a thread: pcapy holds
the GIL while libpcap blocks on a pipe. Each read returns what has arrived, so a
stream is handed on as it comes (issue 14).

Both sides live here, on the standard library alone so the child starts fast:
`Pumps` in the parent, `main` in the child.

Usage (by capture.files only): python -m carpscope.capture.streams CONTROL_FD
"""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import sys
import threading
import zlib

MAX_PUMPS = 4  # concurrent decompressing children, whatever the number of inputs
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)  # Linux
_PIPE_SIZE = 1 << 20


def widen_pipe(fd: int) -> None:
    """A bigger pipe buffer: fewer wake-ups of whoever fills it (Linux; elsewhere left as is)."""
    try:
        fcntl.fcntl(fd, _F_SETPIPE_SZ, _PIPE_SIZE)
    except OSError:
        pass


class Pumps:
    """At most MAX_PUMPS decompressing children, each handed inputs in turn."""

    def __init__(self):
        self.children: list[tuple[subprocess.Popen, socket.socket]] = []
        self.turn = 0

    def pipe(self, fd: int) -> tuple[int, subprocess.Popen]:
        """The read end of a pipe a child fills from `fd`, and the child; OSError if none can be had."""
        out, into = os.pipe()
        widen_pipe(out)
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
        if len(self.children) < MAX_PUMPS:
            ours, theirs = socket.socketpair()
            with theirs:
                child = subprocess.Popen([sys.executable, "-m", "carpscope.capture.streams", str(theirs.fileno())],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, pass_fds=(theirs.fileno(),))
            self.children.append((child, ours))
        self.turn += 1
        return self.children[self.turn % len(self.children)]


PUMPS = Pumps()


# The child's side.

def _put(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _pump(src: int, dst: int) -> None:
    """Copy `src` to `dst`, gunzipping it (member after member) if it starts with gzip's magic."""
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
                _put(dst, inflate.decompress(data, 1 << 18))
                data = inflate.unconsumed_tail
                if inflate.eof:
                    data, inflate = data + inflate.unused_data, zlib.decompressobj(31)
            if inflate is None:
                _put(dst, data)
            data = os.read(src, 1 << 16)
    except Exception:  # noqa: BLE001 (the reader sees the pipe end and says what is wrong)
        pass
    finally:
        os.close(src)
        os.close(dst)


def main(control_fd: int) -> None:
    control = socket.socket(fileno=control_fd)
    while True:
        _, fds, _, _ = socket.recv_fds(control, 1, 2)
        if len(fds) != 2:
            break
        threading.Thread(target=_pump, args=fds, daemon=True).start()
    os._exit(0)  # the reading process has gone: nothing still copying is wanted (a stalled FIFO writer included)


if __name__ == "__main__":
    main(int(sys.argv[1]))
