"""Vantage points (issue 15): captures named by where they were taken, copies folded,
who heard whom, one-way loss; `live` from pipes. The first half uses synthetic captures
(tests/stacks.py); the lab half (at the end) runs ucarp and tcpdump in namespaces."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import stacks

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}
VIPS = ("--vip", "192.0.2.50", "--vip", "192.0.2.51", "-p", "s3cret")


def carpscope(*args, stdin=None, timeout=120) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "carpscope", *args], capture_output=True, env=ENV,
                            timeout=timeout, stdin=stdin, text=True)
    assert result.returncode in (0, 1), result.stderr
    return result


def document(*args) -> dict:
    return json.loads(carpscope("read", *args, "-T", "json").stdout)


def hms(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%H:%M:%S")


def kinds(doc: dict) -> list[str]:
    return [f["kind"] for f in doc["findings"]]


def pair(tmp_path: Path, **options) -> tuple[Path, Path]:
    at_a, at_b = stacks.at_two_points(**options)
    return stacks.write_pcap(tmp_path / "a.pcap", at_a), stacks.write_pcap(tmp_path / "b.pcap", at_b)


def test_the_same_advert_at_two_points_is_one_packet(tmp_path):
    """Both captures complete, B's clock 0.3 s ahead and its frames VLAN-tagged: one packet per
    advert, seen at both points, no looped-advert, no one-way-loss; the offset is shown."""
    a, b = pair(tmp_path, lose=None, skew=0.3, tag_second=7)
    alone = document(str(a), *VIPS)
    both = document(f"fw1={a}", f"fw2={b}", *VIPS)
    assert len(both["packets"]) == len(alone["packets"]) == 31
    assert all(p["seen_at"] == ["fw1", "fw2"] and p["vantage"] == "fw1" for p in both["packets"])
    assert [p["time"] for p in both["packets"]] == [p["time"] for p in alone["packets"]]  # fw1's clock
    assert "looped-advert" not in kinds(both) and "one-way-loss" not in kinds(both)
    offset = {v["name"]: v["offset"] for v in both["vantages"]}
    assert abs(offset["fw2"] - 0.3004) < 0.001
    text = carpscope("read", "-q", f"fw1={a}", f"fw2={b}", *VIPS).stdout
    assert "fw2 +0.300s (from" in text


@pytest.mark.parametrize("names", [("fw1", "fw2"), ("left", "right")])
def test_one_way_loss_is_named_with_its_direction_and_start(tmp_path, names):
    """B stops hearing A from +6 s (A's advert of +6 is the first that went missing) and hears it again
    at +19: one-way loss from A's point to B's, the split brain's cause, healed at +19."""
    a, b = pair(tmp_path)
    pa, pb = names
    doc = document(f"{pa}={a}", f"{pb}={b}", *VIPS)
    loss = [f for f in doc["findings"] if f["kind"] == "one-way-loss"]
    assert len(loss) == 1
    f = loss[0]
    assert f["members"] == ["192.0.2.1"] and f["vantage"] == pb and f["severity"] == "critical"
    assert abs(f["time"] - (stacks.T0 + 6)) < 0.01
    assert f"one-way loss from {pa} to {pb}" in f["detail"]
    assert f"{pb}'s own adverts still reach {pa}" in f["detail"]
    assert f"stopped reaching {pb} at {hms(stacks.T0 + 6)};" in f["detail"]
    assert f"again from {hms(stacks.T0 + 19)}" in f["detail"]  # A's first advert B hears again
    split = next(x for x in doc["findings"] if x["kind"] == "split-brain")
    assert f"one-way loss from {pa} to {pb}" in split["detail"]


def test_the_loss_in_the_other_direction_names_the_other_point(tmp_path):
    """The same files with the points swapped on the command line: the loss is still from A's point."""
    a, b = pair(tmp_path)
    doc = document(f"fw2={b}", f"fw1={a}", *VIPS)
    f = next(f for f in doc["findings"] if f["kind"] == "one-way-loss")
    assert f["vantage"] == "fw2" and "one-way loss from fw1 to fw2" in f["detail"]


def test_a_real_loop_at_one_point_is_still_looped(tmp_path):
    """The same advert twice at ONE point, 30 ms apart (a layer-2 loop): looped-advert, named or not."""
    at_a, at_b = stacks.at_two_points(lose=None)
    t, frame = next((t, d) for t, d in at_a if t > stacks.T0 + 3)
    at_a = sorted(at_a + [(t + 0.03, frame)], key=lambda f: f[0])
    a = stacks.write_pcap(tmp_path / "a.pcap", at_a)
    b = stacks.write_pcap(tmp_path / "b.pcap", at_b)
    assert "looped-advert" in kinds(document(f"fw1={a}", f"fw2={b}", *VIPS))


def test_linux_any_copies_on_other_interfaces_are_one_packet(tmp_path):
    """`tcpdump -i any` on a bridge host: each frame on three interfaces (SLL2) a few µs apart."""
    frames = []
    for t, data in stacks.at_two_points(lose=None)[0]:
        frames += [(t + i * 0.00002, stacks.sll2(data, ifindex)) for i, ifindex in enumerate((3, 4, 5))]
    path = stacks.write_pcap(tmp_path / "any.pcap", frames, linktype=276)
    doc = document(str(path), *VIPS)
    assert len(doc["packets"]) == 31
    assert "looped-advert" not in kinds(doc)


def test_linux_any_still_sees_a_loop_on_one_interface(tmp_path):
    frames = [(t, stacks.sll2(d, 3)) for t, d in stacks.at_two_points(lose=None)[0]]
    t, frame = frames[6]
    frames = sorted(frames + [(t + 0.03, frame)], key=lambda f: f[0])
    path = stacks.write_pcap(tmp_path / "any.pcap", frames, linktype=276)
    assert "looped-advert" in kinds(document(str(path), *VIPS))


def test_plain_files_are_named_after_their_file_and_equals_signs_need_a_slash(tmp_path):
    a, b = pair(tmp_path)
    odd = tmp_path / "x=y.pcap"
    odd.write_bytes(b.read_bytes())
    doc = document(str(a), str(odd), *VIPS)
    f = next(f for f in doc["findings"] if f["kind"] == "one-way-loss")
    assert f["vantage"] == "x=y"
    os.chdir(tmp_path)
    doc = document("fw1=a.pcap", "./x=y.pcap", *VIPS)
    assert next(f for f in doc["findings"] if f["kind"] == "one-way-loss")["vantage"] == "x=y"
    result = subprocess.run([sys.executable, "-m", "carpscope", "read", "fw=a.pcap", "fw=b.pcap"],
                            capture_output=True, env=ENV, text=True, timeout=60)
    assert result.returncode == 2 and "named twice" in result.stderr and "Traceback" not in result.stderr
