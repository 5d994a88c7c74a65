"""Big files are filtered by libpcap in a child process (capture/scan.py): the same frames as in-process."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from carpscope.capture import files

CAPTURES = sorted((Path(__file__).resolve().parents[1] / "captures").glob("*.pcap"))


def read(path: Path, in_child: bool, user_filter: str | None = None):
    source = files.FileSource(str(path), user_filter, scan_in_child=in_child)
    source.open()
    frames = list(files.frames([source]))
    return frames, source.damage.reason if source.damage else None


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_child_gives_the_frames_read_in_process(path):
    in_process, child = read(path, False), read(path, True)
    assert child == in_process and in_process[0]


def test_child_applies_the_user_filter():
    path = next(p for p in CAPTURES if p.name == "several-groups.pcap")
    all_frames, _ = read(path, True)
    some, _ = read(path, True, "src host 192.0.2.1")
    assert some == read(path, False, "src host 192.0.2.1")[0]
    assert 0 < len(some) < len(all_frames)


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.95])
def test_damage_found_by_the_child_is_salvaged_like_in_process(tmp_path, cut):
    original = next(p for p in CAPTURES if p.name == "ucarp_failover.pcap")
    damaged = tmp_path / "damaged.pcap"
    shutil.copy(original, damaged)
    data = damaged.read_bytes()
    damaged.write_bytes(data[: int(len(data) * cut)])
    (frames, damage), (child_frames, child_damage) = read(damaged, False), read(damaged, True)
    assert (child_frames, child_damage) == (frames, damage)
    assert damage and 0 < len(frames) < len(read(original, False)[0])


def test_reading_only_the_start_stops_the_child():
    path = next(p for p in CAPTURES if p.name == "several-groups.pcap")
    source = files.FileSource(str(path), None, scan_in_child=True)
    source.open()
    stream = files.frames([source])
    next(stream)
    child = source._scanner
    stream.close()  # what -c does
    assert child.poll() is not None
