"""The progress bar of `read`: drawn on a terminal only, from the reading process's file offset."""

from __future__ import annotations

import io
import os
import pty
import re
import time
from pathlib import Path

import pytest

from carpscope.capture import files
from carpscope.views import progress

CAPTURE = Path(__file__).resolve().parents[1] / "captures" / "several-groups.pcap"


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("stderr_tty, stdout_tty, quiet, wanted", [
    (True, False, False, True),  # output to a file or pipe: the bar shows how far along it is
    (True, True, True, True),  # -q on a terminal
    (True, True, False, False),  # per-packet lines on the same terminal: no bar across them
    (False, False, True, False),  # standard error not a terminal (CI logs, 2>file)
])
def test_the_bar_is_wanted_only_where_someone_watches(stderr_tty, stdout_tty, quiet, wanted):
    stderr = Tty() if stderr_tty else io.StringIO()
    stdout = Tty() if stdout_tty else io.StringIO()
    assert progress.wanted(stderr, stdout, quiet) is wanted


def read_pty(master: int) -> bytes:
    os.set_blocking(master, False)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except (BlockingIOError, OSError):
            return out
        if not chunk:
            return out
        out += chunk


@pytest.mark.parametrize("in_child", [False, True])
def test_bar_follows_the_file_offset_and_goes_away(monkeypatch, in_child):
    monkeypatch.setattr(progress, "DELAY", 0.0)
    master, slave = pty.openpty()
    try:
        stream = os.fdopen(slave, "w", closefd=False)
        source = files.FileSource(str(CAPTURE), None, scan_in_child=in_child)
        source.open()
        bar = progress.FileProgress([source], stream).start()
        for i, _ in enumerate(files.frames([source])):
            if i == 0:
                time.sleep(1.0)  # let the bar draw while the file is open
        bar.stop()
        stream.flush()
        out = read_pty(master)
    finally:
        os.close(master)
        os.close(slave)
    size = CAPTURE.stat().st_size
    assert b"reading" in out
    drawn = [float(x) for x in re.findall(rb"([0-9.]+)/[0-9.]+ kB", out)]
    assert drawn and max(drawn) * 1000 == pytest.approx(size, abs=100)  # the offset libpcap reached
    assert out.rstrip(b"\r\n").endswith(b"\x1b[2K")  # transient: the line is cleared at the end


def test_position_is_unknown_for_standard_input():
    source = files.FileSource("-", None)
    assert source.size is None and source.position() is None
