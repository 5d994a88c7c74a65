"""Big files are filtered by libpcap in a child process (capture/scan.py): the same frames as in-process."""

from __future__ import annotations

import io
import shutil
import types
from pathlib import Path

import pcapy
import pytest

import stacks
from carpscope.capture import files, scan
from carpscope.capture.bpf import capture_filter, program

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


def _mixed_frames(n: int) -> list[tuple[float, bytes]]:
    """Mostly TCP, with adverts, tagged adverts, ARP, runts, and ties: identical frames
    at one time (some passing, some not), the shapes that pairing by time and bytes must get right."""
    advert = stacks.keepalived_advert("192.0.2.1", 7, 100, ["192.0.2.100"])
    tagged = stacks.ether("02:00:00:00:00:01", "01:00:5e:00:00:12", 0x0800, advert[14:], vlan=20)
    tcp = stacks.tcp_segment("192.0.2.9", "192.0.2.10")
    arp = stacks.garp("192.0.2.100", "02:00:00:00:00:01")
    out = []
    for i in range(n):
        t = stacks.T0 + (i // 7) * 0.001  # seven frames share each time
        kind = i % 97
        frame = (advert if kind < 40 else tagged if kind == 50 else arp if kind == 60
                 else b"\x01\x02\x03" if kind == 80 else tcp)
        out.append((t, frame))
    return out


def _stream(path: Path, paired: bool):
    every = pcapy.open_offline(str(path))
    if paired:
        passed = pcapy.open_offline(str(path))
        passed.setfilter(capture_filter(None))
        batches = scan._paired(every, passed)
    else:
        batches = scan._filtered(every, program(1, None).filter)
    out, damage = [], None
    try:
        out.extend(batches)
    except pcapy.PcapError as err:
        damage = str(err)
    return out, damage


@pytest.mark.parametrize("cut", [None, 0.5, 0.999])
def test_pairing_libpcaps_filter_with_every_frame_numbers_as_the_per_frame_filter(tmp_path, cut):
    path = stacks.write_pcap(tmp_path / "mixed.pcap", _mixed_frames(3 * scan.BATCH + 100))
    if cut is not None:  # damage: libpcap's filtered pass meets it first (it reads ahead),
        # before its first batch (0.5) or after it (0.999: more than BATCH frames pass)
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * cut)])
    paired, filtered = _stream(path, True), _stream(path, False)
    assert paired == filtered
    batches, damage = paired
    assert (damage is None) == (cut is None)
    assert sum(len(head) for _, head, _, _ in batches) // scan.META.size > 500  # adverts, ARP, tagged ones


def test_on_ethernet_without_a_filter_the_child_runs_no_bpf_program_from_python(tmp_path, monkeypatch):
    path = stacks.write_pcap(tmp_path / "mixed.pcap", _mixed_frames(scan.BATCH + 10))
    compiled = []
    monkeypatch.setattr(scan, "program", lambda *args: compiled.append(args))  # (would fail if called)
    out = io.BytesIO()
    monkeypatch.setattr(scan.sys, "stdout", types.SimpleNamespace(buffer=out))
    scan.main(str(path), None)
    assert compiled == [] and out.getvalue().endswith(scan.END)
    assert len(out.getvalue()) > 2 * scan.HEAD.size
