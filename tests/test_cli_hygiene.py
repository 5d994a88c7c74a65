"""Odd names and hostile arguments on the command line (issue 20): one escaped line, the right
exit code, never a traceback; a broken pipe keeps the status the run earned."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "captures"
FAILOVER = CAPTURES / "failover.pcap"
MISMATCH = CAPTURES / "passphrase-mismatch.pcap"
HOSTILE = "\x1b]0;owned\x07\x1b[2J\r\u202e"  # OSC title, clear screen, CR, right-to-left override


def carpscope(*args, cwd=None, stdout=subprocess.PIPE) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "carpscope", *args], stdout=stdout, stderr=subprocess.PIPE,
                          cwd=cwd, env=env, timeout=60)


def one_line(result) -> str:
    err = result.stderr.decode("utf-8", "strict")  # escaped: valid UTF-8 whatever the names were
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or c == "\u202e" for c in line), repr(line)
    return line


def test_a_file_name_that_is_not_utf8_is_read(tmp_path):
    shutil.copy(FAILOVER, os.fsdecode(bytes(tmp_path) + b"/x\xff.pcap"))
    result = carpscope("read", b"x\xff.pcap", "-q", "-p", "s3cret", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert b"Traceback" not in result.stderr
    assert b"1 group, 3 events" in result.stdout


def test_a_missing_file_with_hostile_bytes_in_its_name(tmp_path):
    result = carpscope("read", os.fsencode("y" + HOSTILE) + b"\xff.pcap", cwd=tmp_path)
    assert result.returncode == 3
    assert one_line(result) == "carpscope: y\\x1b]0;owned\\x07\\x1b[2J\\x0d\\u202e\\xff.pcap: No such file or directory"


def test_a_truncated_file_names_itself_escaped(tmp_path):
    name = "cut" + HOSTILE + ".pcap"
    (tmp_path / name).write_bytes(FAILOVER.read_bytes()[:900])
    result = carpscope("read", name, cwd=tmp_path)
    assert result.returncode == 3
    assert "cut\\x1b]0;owned" in one_line(result)
    assert b"\x1b" not in result.stdout and b"cut\\x1b]0;owned" in result.stdout


def test_an_interface_name_that_is_not_utf8():
    result = carpscope("live", b"eth\xff\x1b[2J")
    assert result.returncode == 4
    assert one_line(result).startswith("carpscope: eth\\xff\\x1b[2J: no such interface")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e308", "0", "-5"])
def test_duration_must_be_finite_and_bounded(value):
    result = carpscope("live", "lo", "--duration", value)
    assert result.returncode == 2
    assert one_line(result).startswith(f"carpscope: --duration {float(value)}")


def test_write_refuses_standard_output():
    result = carpscope("read", str(FAILOVER), "-q", "-w", "/dev/stdout")
    assert result.returncode == 2
    assert "standard output" in one_line(result)
    assert result.stdout == b""


def test_write_refuses_a_terminal():
    master, slave = pty.openpty()
    try:
        result = carpscope("read", str(FAILOVER), "-q", "-w", os.ttyname(slave))
    finally:
        os.close(master)
        os.close(slave)
    assert result.returncode == 2
    assert "is a terminal" in one_line(result)


def test_write_to_dev_null_is_still_fine():
    result = carpscope("read", str(FAILOVER), "-q", "-w", "/dev/null", stdout=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("where", ["dir", "missing"])
def test_an_unusable_pass_file_is_one_line(tmp_path, where):
    path = tmp_path / ("d" if where == "dir" else "pass" + HOSTILE)
    if where == "dir":
        path.mkdir()
    result = carpscope("read", str(FAILOVER), "-q", "--pass-file", str(path))
    assert result.returncode == 2
    line = one_line(result)
    assert line.startswith("carpscope: --pass-file ") and "Usage" not in line


def test_hostile_vip_and_write_path_are_escaped(tmp_path):
    result = carpscope("read", str(FAILOVER), "--vip", "1=" + HOSTILE)
    assert result.returncode == 2 and "\\x1b]0;owned" in one_line(result)
    result = carpscope("read", str(FAILOVER), "-q", "-w", str(tmp_path / "none" / ("o" + HOSTILE)))
    assert result.returncode == 3 and "o\\x1b]0;owned\\x07" in one_line(result)


def _into_closed_pipe(*args) -> int:
    """Run with standard output a pipe whose reader has already gone (as `| head` does)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = carpscope(*args, stdout=write_end)
    finally:
        os.close(write_end)
    assert b"Traceback" not in result.stderr and b"BrokenPipe" not in result.stderr, result.stderr
    return result.returncode


def test_a_broken_pipe_keeps_the_fail_on_status():
    assert _into_closed_pipe("read", "--fail-on", "critical", str(MISMATCH), "-p", "s3cret") == 1


def test_a_broken_pipe_keeps_the_damage_status(tmp_path):
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(FAILOVER.read_bytes()[:900])
    assert _into_closed_pipe("read", str(cut)) == 3
    assert _into_closed_pipe("read", str(cut), "-T", "jsonl") == 3
