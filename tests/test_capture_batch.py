"""Reading a file hands frames on from C (issue 19): the same frames as the per-frame loop it replaced.

capture/batch.py builds a batch's frames column by column (array, map, zip, compress)
and capture/files.py chains the batches: no Python code runs per frame between
libpcap and the reading loop. These tests compare with the old construction, a
Python loop over struct records, bit for bit, and count the Python calls per frame.
"""

from __future__ import annotations

import shutil
import struct
import sys
from itertools import chain
from pathlib import Path

import pcapy
import pytest

from carpscope.capture import batch, files
from carpscope.capture.bpf import program
from carpscope.model import Frame

ROOT = Path(files.__file__).resolve().parents[2]
CAPTURES = sorted((ROOT / "captures").glob("*.pcap"))
SEVERAL = ROOT / "captures" / "several-groups.pcap"


def per_frame(buf: bytes, meta: bytes, linktype: int, number: int, admit=None) -> list[Frame]:
    """The loop batch.frames replaced: one struct record, one float, one slice a frame."""
    out = []
    for index in range(len(meta) // 16):
        sec, usec, offset, caplen = struct.unpack_from("=IIII", meta, index * 16)
        data = buf[offset : offset + caplen]
        if admit is None or admit(data):
            out.append(tuple.__new__(Frame, (number + index + 1, sec + usec / 1e6, linktype, data, caplen)))
    return out


def bits(frames) -> list[tuple]:
    """Every field, and the time's bits and type: equal floats could still differ in their last bit."""
    return [(*f, type(f), type(f[0]), struct.pack("<d", f[1])) for f in frames]


def batches(path: Path, size: int = 7):
    reader = pcapy.open_offline(str(path))
    while True:
        buf, meta = reader.next_batch(size)
        if not meta:
            return
        yield reader.datalink(), buf, meta


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
@pytest.mark.parametrize("user", [None, "src host 192.0.2.1"])
def test_batch_frames_are_the_per_frame_loops(path, user):
    number = 1000
    for linktype, buf, meta in batches(path):
        admit = program(linktype, user).filter
        assert bits(batch.frames(buf, meta, linktype, number)) == bits(per_frame(buf, meta, linktype, number))
        got = bits(batch.frames(buf, meta, linktype, number, admit))
        assert got == bits(per_frame(buf, meta, linktype, number, admit))
        number += batch.count(meta)


def test_batch_times_are_bit_for_bit_at_the_edges():
    """Seconds past 2**31 and microseconds where sec + usec / 1e6 rounds: the same float as the loop."""
    stamps = [(0, 0), (1, 1), (2**31, 999_999), (2**32 - 1, 999_999), (1_795_000_000, 123_457),
              (1_795_000_000, 999_999), (4_000_000_000, 500_001), (12345, 100_000)]
    buf = bytes(range(256)) * 2
    meta = b"".join(struct.pack("=IIII", sec, usec, 3 * i, i) for i, (sec, usec) in enumerate(stamps))
    got = list(batch.frames(buf, meta, 1, 0))
    assert bits(got) == bits(per_frame(buf, meta, 1, 0))
    assert [f.data for f in got] == [buf[3 * i : 4 * i] for i in range(len(stamps))]
    assert [f.number for f in got] == list(range(1, len(stamps) + 1))


def test_a_batch_none_passes_and_an_empty_batch_give_no_frames():
    linktype, buf, meta = next(batches(SEVERAL))
    assert list(batch.frames(buf, meta, linktype, 0, lambda data: 0)) == []
    assert list(batch.frames(b"", b"", linktype, 0, len)) == []


def read(path: Path):
    source = files.FileSource(str(path), scan_in_child=False)
    source.open()
    return source, files.frames([source])


def test_one_file_is_its_chain_with_no_python_call_per_frame(tmp_path):
    """files.frames hands the reading loop the file's chain itself, and the frames come out of C:
    a few Python calls a batch (the next_batch loop), none a frame."""
    big = tmp_path / "big.pcap"
    data = SEVERAL.read_bytes()
    big.write_bytes(data + data[24:] * 40)  # ~2,700 frames, six batches
    source, stream = read(big)
    assert type(stream) is files.Reading and isinstance(stream, chain)
    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        calls += event == "call"

    sys.setprofile(count)
    try:
        got = list(stream)
    finally:
        sys.setprofile(None)
    assert len(got) == source.read > 2000
    assert calls < 10 * (len(got) // 512 + 2), calls  # before: five generator resumptions a frame
    assert got == per_frame_file(big)


def per_frame_file(path: Path) -> list[Frame]:
    out, number = [], 0
    for linktype, buf, meta in batches(path, 512):
        out += per_frame(buf, meta, linktype, number, program(linktype, None).filter)
        number += batch.count(meta)
    return out


def test_read_counts_a_batch_when_it_is_taken_and_finished_comes_last(tmp_path):
    big = tmp_path / "big.pcap"
    data = SEVERAL.read_bytes()
    big.write_bytes(data + data[24:] * 10)
    source, stream = read(big)
    total = len(per_frame_file(big))
    assert source.read == 0 and not source.finished
    next(stream)
    assert source.read == 512 and not source.finished  # the first batch, counted before its frames
    rest = list(stream)
    assert source.finished and source.read == 1 + len(rest) == total


def test_a_damaged_file_still_gives_exactly_the_frames_before_the_damage(tmp_path):
    big = tmp_path / "big.pcap"
    data = SEVERAL.read_bytes()
    whole = data + data[24:] * 40  # ~2,700 frames: the damage is batches in
    big.write_bytes(whole)
    expected = per_frame_file(big)
    cut = tmp_path / "cut.pcap"
    shutil.copy(big, cut)
    with cut.open("r+b") as f:
        f.truncate(len(whole) * 2 // 3)
    whole_records, pos = 0, 24
    while pos + 16 <= len(whole) * 2 // 3:
        pos += 16 + struct.unpack_from("<I", whole, pos + 8)[0]
        whole_records += pos <= len(whole) * 2 // 3
    source, stream = read(cut)
    got = list(stream)
    assert source.damage is not None and source.finished
    # (the frames walked one by one after the damage are full Frames, those of batches 5-tuples)
    assert [f[:5] for f in got] == [f[:5] for f in expected if f.number <= whole_records] and len(got) > 512


def test_closing_the_stream_stops_the_big_file_child():
    source = files.FileSource(str(SEVERAL), scan_in_child=True)
    source.open()
    stream = files.frames([source])
    next(stream)
    child = source._scanner
    stream.close()
    assert child is not None and child.wait(timeout=10) is not None


def test_the_child_records_give_the_frames_of_the_old_loop():
    """capture/scan.py's records (number, sec, usec, offset, caplen) as the per-frame loop built them."""
    stamps = [(7, 2**32 - 1, 999_999), (9, 1_795_000_000, 123_457), (12, 4_000_000_000, 500_001)]
    buf = bytes(range(64))
    meta = b"".join(struct.pack("=IIIII", n, sec, usec, 5 * i, 4 + i) for i, (n, sec, usec) in enumerate(stamps))
    old = [tuple.__new__(Frame, (n, sec + usec / 1e6, 1, buf[off : off + cap], cap))
           for n, sec, usec, off, cap in struct.iter_unpack("=IIIII", meta)]
    assert bits(batch.numbered(buf, meta, 1)) == bits(old)
