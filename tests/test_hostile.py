"""Hostile and broken input: nothing crashes, nothing leaks, nothing readable is lost."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner

from carpscope.cli import main

ROOT = Path(__file__).resolve().parents[1]
FAILOVER = ROOT / "captures" / "ucarp_failover.pcap"
PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)


def invoke(*args: str):
    result = CliRunner().invoke(main, list(args), env={"NO_COLOR": "1"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result


def record_ends(data: bytes) -> list[int]:
    """Offsets where each pcap record ends."""
    ends, pos = [], 24
    while pos + 16 <= len(data):
        caplen = struct.unpack_from("<I", data, pos + 8)[0]
        pos += 16 + caplen
        ends.append(pos)
    return ends


def test_a_capture_cut_at_every_offset(tmp_path):
    data = FAILOVER.read_bytes()
    ends = record_ends(data)
    full = json.loads(invoke("read", str(FAILOVER), "-T", "json").stdout)["packets"]
    cut = tmp_path / "cut.pcap"
    for n in range(len(data)):
        cut.write_bytes(data[:n])
        result = invoke("read", str(cut), "-T", "json")
        whole_records = sum(1 for e in ends if e <= n)
        if n < 24:
            assert result.exit_code == 3, n
            continue
        assert result.exit_code == (0 if n in ends or n == 24 else 3), n
        doc = json.loads(result.stdout)
        frames_kept = [p for p in full if p["frame"] <= whole_records]
        assert doc["packets"] == frames_kept, n
        if result.exit_code == 3:
            assert any(f["kind"] == "truncated-capture" for f in doc["findings"]), n


def vrrp_v2_frame(password: bytes) -> bytes:
    """A VRRPv2 advert with simple-text auth carrying `password` (8 bytes)."""
    vrrp = struct.pack("!BBBBBBH4s8s", 0x21, 9, 100, 1, 1, 1, 0, bytes([192, 0, 2, 9]), password)
    total = sum(struct.unpack("!10H", vrrp))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    vrrp = vrrp[:6] + struct.pack("!H", ~total & 0xFFFF) + vrrp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(vrrp), 0, 0, 255, 112, 0,
                     bytes([192, 0, 2, 9]), bytes([224, 0, 0, 18]))
    return b"\x01\x00\x5e\x00\x00\x12\x00\x00\x5e\x00\x01\x09\x08\x00" + ip + vrrp


def pcap_of(*frames: bytes, snaplen: int = 65535) -> bytes:
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, 1)
    for i, frame in enumerate(frames):
        out += struct.pack("<IIII", 1700000000 + i, 0, len(frame), len(frame)) + frame
    return out


@pytest.mark.parametrize("fmt", ["text", "json", "jsonl"])
@pytest.mark.parametrize("verbose", [(), ("-V",)])
def test_escape_sequences_in_a_vrrp_password_never_reach_the_output(tmp_path, fmt, verbose):
    path = tmp_path / "evil.pcap"
    path.write_bytes(pcap_of(vrrp_v2_frame(b"\x1b[2J\x07\x9b\r\x00\x7f")))
    result = invoke("read", str(path), "-T", fmt, *verbose)
    assert result.exit_code == 0
    out = result.stdout_bytes
    assert b"VRRP" in out or b"vrrp" in out
    assert not [b for b in out if (b < 0x20 and b != 0x0A) or b == 0x7F], out


@pytest.mark.parametrize("content, code, message", [
    (b"", 3, "empty file"),
    (os.urandom(64), 3, "not a pcap"),
    (PCAP_HEADER + b"\x01\x02\x03", 3, "truncated"),
    (PCAP_HEADER + struct.pack("<IIII", 1, 0, 0x7FFFFFFF, 0x7FFFFFFF) + b"xx", 3, ""),
])
def test_broken_files_give_one_line_and_exit_3(tmp_path, content, code, message):
    path = tmp_path / "broken.pcap"
    path.write_bytes(content)
    result = invoke("read", str(path))
    assert result.exit_code == code
    err = result.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("carpscope: ") and message in err[0]


def test_snaplen_shorter_than_the_carp_header(tmp_path):
    data = FAILOVER.read_bytes()
    frames, pos = [], 24
    while pos + 16 <= len(data):
        caplen = struct.unpack_from("<I", data, pos + 8)[0]
        frames.append(data[pos + 16 : pos + 16 + caplen])
        pos += 16 + caplen
    short = tmp_path / "short.pcap"
    short.write_bytes(pcap_of(*(f[:50] for f in frames), snaplen=50))
    result = invoke("read", str(short), "-T", "json")
    assert result.exit_code == 0
    packets = json.loads(result.stdout)["packets"]
    assert len(packets) == 10
    for p in packets:
        assert p["vhid"] == 7 and p["md"] is None
        assert any(f["kind"] == "short-capture" for f in p["findings"])

