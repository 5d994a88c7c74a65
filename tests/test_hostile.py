"""Hostile and broken input: nothing crashes, nothing leaks, nothing readable is lost."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner

import stacks
from carpscope.cli import main

ROOT = Path(__file__).resolve().parents[1]
FAILOVER = ROOT / "captures" / "ucarp_failover.pcap"
PCAP_HEADER = stacks.pcap_header(snaplen=65535)


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
    """A VRRPv2 advert with simple-text auth carrying `password` (8 bytes); IPv4 checksum left 0."""
    vrrp = stacks.vrrp2(9, 100, ["192.0.2.9"], auth_type=1, auth_data=password)
    packet = stacks.ipv4_header("192.0.2.9", "224.0.0.18", 112, len(vrrp), checksum=False) + vrrp
    return stacks.ethernet("00:00:5e:00:01:09", "01:00:5e:00:00:12", 0x0800, packet)


def pcap_of(*frames: bytes, snaplen: int = 65535) -> bytes:
    return stacks.pcap_bytes(((1700000000 + i, frame) for i, frame in enumerate(frames)), snaplen=snaplen)


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
    (PCAP_HEADER + stacks.pcap_record(1, 0, b"xx", 0x7FFFFFFF, 0x7FFFFFFF), 3, ""),
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



# -- issue 8: several interfaces, pass files, -w failures, disorderly timestamps ------------

PASS = "correct horse"
LINUX_SLL, LINKTYPE_RAW = 113, 101


def pcap_records(data: bytes) -> list[tuple[int, int, bytes]]:
    """(seconds, microseconds, frame) of each record of a little-endian pcap."""
    out, pos = [], 24
    while pos + 16 <= len(data):
        sec, usec, caplen, _ = struct.unpack_from("<IIII", data, pos)
        out.append((sec, usec, data[pos + 16 : pos + 16 + caplen]))
        pos += 16 + caplen
    return out


def reencapsulate(frame: bytes, linktype: int) -> bytes:
    """An Ethernet frame as Linux cooked (SLL: packet type, ARPHRD_ETHER, address) or raw IP."""
    if linktype == LINUX_SLL:
        return struct.pack("!HHH", 0, 1, 6) + frame[6:12] + b"\0\0" + frame[12:14] + frame[14:]
    assert linktype == LINKTYPE_RAW
    return frame[14:]


def multi_interface_pcapng(second: int) -> bytes:
    return b"".join(multi_interface_blocks(second))


def multi_interface_blocks(second: int) -> list[bytes]:
    """SHB; IDB 0 Ethernet, IDB 1 `second`; EPBs: ucarp_failover's frames, every other
    IPv4 frame on interface 1 (ARP stays on Ethernet: raw IP cannot carry it)."""
    out = [stacks.pcapng_section(), stacks.pcapng_interface(1, snaplen=0)]
    out.append(stacks.pcapng_interface(second, snaplen=0, options=struct.pack("<HHB3xHH", 9, 1, 6, 0, 0)))
    moved = 0
    for sec, usec, frame in pcap_records(FAILOVER.read_bytes()):
        iface = 0
        if frame[12:14] == b"\x08\x00" and moved % 2 == 0:
            frame, iface = reencapsulate(frame, second), 1
        if frame[12:14] == b"\x08\x00" or iface:
            moved += 1
        stamp = sec * 1_000_000 + usec
        out.append(stacks.pcapng_packet(iface, stamp, frame))
    return out


@pytest.mark.parametrize("second", [LINUX_SLL, LINKTYPE_RAW])
@pytest.mark.parametrize("compressed", [False, True])
def test_pcapng_with_interfaces_of_different_link_types(tmp_path, second, compressed):
    import gzip

    data = multi_interface_pcapng(second)
    path = tmp_path / ("multi.pcapng.gz" if compressed else "multi.pcapng")
    path.write_bytes(gzip.compress(data) if compressed else data)
    expected = json.loads(invoke("read", str(FAILOVER), "-T", "json", "-p", PASS).stdout)
    result = invoke("read", str(path), "-T", "json", "-p", PASS)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert len(doc["packets"]) == len(expected["packets"]) == 10
    keys = ("frame", "time", "src", "dst", "family", "vlan", "ttl", "proto", "version", "vhid", "advbase",
            "advskew", "authlen", "demote", "counter", "md", "checksum", "hmac", "findings")
    for got, want in zip(doc["packets"], expected["packets"]):
        assert {k: got[k] for k in keys} == {k: want[k] for k in keys}
        assert got["hmac"] == "ok" and got["checksum"] == "ok" and got["findings"] == []
    raw_frames = [p for p in doc["packets"] if p["src_mac"] is None]
    if second == LINUX_SLL:
        assert not raw_frames  # the SLL header carries the sender's MAC
        assert [p["src_mac"] for p in doc["packets"]] == [p["src_mac"] for p in expected["packets"]]
    else:
        assert len(raw_frames) == 5
    assert [(e["kind"], e["frame"], e["to"]) for e in doc["events"]] == \
        [(e["kind"], e["frame"], e["to"]) for e in expected["events"]]
    assert not any(f["kind"] == "truncated-capture" for f in doc["findings"])


def test_write_says_which_frames_a_one_link_type_pcap_could_not_keep(tmp_path):
    path = tmp_path / "multi.pcapng"
    path.write_bytes(multi_interface_pcapng(LINUX_SLL))
    out = tmp_path / "out.pcap"
    result = invoke("read", str(path), "-q", "-w", str(out))
    assert result.exit_code == 0
    assert result.stderr.strip() == (f"carpscope: note: -w {out}: 5 frame(s) of another link type than the first "
                                     f"file's not saved (a pcap holds one link type)")
    kept = [frame for _, _, frame in pcap_records(out.read_bytes())]
    on_ethernet = [frame for _, _, frame in pcap_records(FAILOVER.read_bytes())]
    assert len(kept) == len(on_ethernet) - 5 and all(frame in on_ethernet for frame in kept)


def test_pcapng_with_an_undescribed_interface_is_damaged_not_a_crash(tmp_path):
    blocks = multi_interface_blocks(LINUX_SLL)
    # A packet on interface 7, which no IDB describes, after the first six packets.
    blocks.insert(9, stacks.pcapng_packet(7, 0, b"abcd"))
    path = tmp_path / "bad.pcapng"
    path.write_bytes(b"".join(blocks))
    result = invoke("read", str(path), "-T", "json")
    assert result.exit_code == 3
    assert len(result.stderr.strip().splitlines()) == 1
    doc = json.loads(result.stdout)
    assert [p["frame"] for p in doc["packets"]] == [2, 3, 4, 6]  # the six frames before the damage
    assert any(f["kind"] == "truncated-capture" for f in doc["findings"])


@pytest.mark.parametrize("mode, warned", [(0o644, True), (0o640, True), (0o600, False)])
def test_a_pass_file_readable_by_others_is_warned_about_and_never_shown(tmp_path, mode, warned):
    pass_file = tmp_path / "carp.pass"
    pass_file.write_bytes(b"not this one\n" + PASS.encode() + b"\r\n")
    os.chmod(pass_file, mode)
    out_file = tmp_path / "out.pcap"
    for fmt in ("text", "json"):
        result = invoke("read", str(FAILOVER), "--pass-file", str(pass_file), "-T", fmt,
                        *(["-V"] if fmt == "text" else []), "-w", str(out_file))  # (-q: no packets, schema 2)
        assert result.exit_code == 0, result.stderr
        assert ("readable by other users" in result.stderr) == warned
        for secret in (PASS, "not this one"):
            assert secret.encode() not in result.stdout_bytes + result.stderr_bytes
            assert secret.encode() not in out_file.read_bytes()
        if fmt == "json":
            doc = json.loads(result.stdout)
            assert {p["hmac"] for p in doc["packets"]} == {"ok"}
            assert {p["passphrase"] for p in doc["packets"]} == {2}


@pytest.mark.parametrize("fmt", ["text", "json", "jsonl"])
def test_a_passphrase_never_reaches_a_written_capture(tmp_path, fmt):
    out_file = tmp_path / "out.pcap"
    secrets = [PASS, "s3cret", "hunter2"]
    args = [a for s in secrets for a in ("-p", s)]
    for capture in ("ucarp_failover.pcap", "passphrase-mismatch.pcap", "several-groups.pcap"):
        result = invoke("read", str(ROOT / "captures" / capture), *args, "-T", fmt, "-w", str(out_file))
        assert result.exit_code == 0
        written = out_file.read_bytes()
        assert written[:4] == b"\xd4\xc3\xb2\xa1" and len(written) > 24
        for secret in secrets:
            assert secret.encode() not in written
            assert secret.encode() not in result.stdout_bytes + result.stderr_bytes
        again = invoke("read", str(out_file), "-T", "json")
        assert again.exit_code == 0


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize("capture", ["ucarp_failover.pcap", "vrrp-collision.pcap"])
def test_writing_to_a_full_device_is_one_line_and_exit_3(fmt, capture):
    # Exit 3: -w names a capture file, and docs/design.md gives 3 to a capture file that
    # cannot be read or written whole; 2 is for a wrong command line (this one is
    # right, the device is full), 4 for live capture and filters.
    result = invoke("read", str(ROOT / "captures" / capture), "-p", PASS, "-T", fmt, "-w", "/dev/full")
    assert result.exit_code == 3
    err = result.stderr.strip().splitlines()
    assert err == ["carpscope: -w /dev/full: No space left on device"]
    assert PASS.encode() not in result.stdout_bytes + result.stderr_bytes


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_writing_to_a_full_device_with_nothing_to_write_is_one_line_and_exit_3():
    result = invoke("read", str(FAILOVER), "-q", "-f", "tcp", "-w", "/dev/full")
    assert result.exit_code == 3
    assert result.stderr.strip().splitlines() == ["carpscope: -w /dev/full: No space left on device"]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
@pytest.mark.parametrize("fmt", ["text", "json", "jsonl"])
def test_writing_to_a_full_device_still_reports_what_was_read(fmt):
    """A write error ends the writing, not the analysis: the whole report, then the error."""
    result = invoke("read", str(FAILOVER), "-T", fmt, "-p", PASS, "-w", "/dev/full")
    assert result.exit_code == 3
    assert result.stderr.strip().splitlines() == ["carpscope: -w /dev/full: No space left on device"]
    assert result.stdout == invoke("read", str(FAILOVER), "-T", fmt, "-p", PASS).stdout
    if fmt == "json":
        assert len(json.loads(result.stdout)["packets"]) == 10


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_write_file_that_cannot_be_created_fails_before_any_output(tmp_path, fmt):
    gone = tmp_path / "gone"
    result = invoke("read", str(FAILOVER), "-T", fmt, "-w", str(gone / "out.pcap"))
    assert result.exit_code == 3
    assert result.stderr.strip().splitlines() == [f"carpscope: -w {gone}/out.pcap: No such file or directory"]
    assert result.stdout == ""


def disorderly(records, how: str) -> list[tuple[int, int, bytes]]:
    if how == "reversed":
        return records[::-1]
    if how == "same-time":
        return [(records[0][0], records[0][1], frame) for _, _, frame in records]
    if how == "each-twice":
        return [r for r in records for _ in (0, 1)]
    if how == "file-twice":
        return records + records
    assert how == "backwards-jumps"
    return [(sec - 60 * (i % 3), usec, frame) for i, (sec, usec, frame) in enumerate(records)]


@pytest.mark.parametrize("how", ["reversed", "same-time", "each-twice", "file-twice", "backwards-jumps"])
@pytest.mark.parametrize("fmt", ["json", "text"])
def test_out_of_order_and_duplicate_timestamps_are_analysed(tmp_path, how, fmt):
    records = disorderly(pcap_records(FAILOVER.read_bytes()), how)
    path = tmp_path / f"{how}.pcap"
    path.write_bytes(PCAP_HEADER + b"".join(stacks.pcap_record(sec, usec, frame)
                                            for sec, usec, frame in records))
    result = invoke("read", str(path), "-T", fmt, "-p", PASS, "-V")
    assert result.exit_code == 0, result.stderr
    if fmt == "text":
        assert "carpscope report" in result.stdout
        return
    doc = json.loads(result.stdout)
    adverts = [(n, sec + usec / 1e6) for n, (sec, usec, frame) in enumerate(records, 1) if frame[23:24] == b"\x70"]
    assert [p["frame"] for p in doc["packets"]] == [n for n, _ in adverts]  # file order, every advert
    assert [p["time"] for p in doc["packets"]] == pytest.approx([t for _, t in adverts], abs=1e-6)
    assert {p["hmac"] for p in doc["packets"]} == {"ok"}
    (group,) = doc["groups"]
    copies = 2 if "twice" in how else 1
    assert sorted((m["addr"], m["adverts"]) for m in group["members"]) == [("192.0.2.1", 7 * copies),
                                                                            ("192.0.2.2", 3 * copies)]
    for event in doc["events"]:
        assert event["gap"] is None or event["gap"] >= 0
    kinds = {f["kind"] for f in doc["findings"]}
    if how == "file-twice":
        assert "replayed-advert" in kinds  # the same counters again
    if how == "each-twice":
        assert "looped-advert" in kinds


def test_the_report_of_an_out_of_order_file_spans_its_earliest_to_latest_time(tmp_path):
    records = pcap_records(FAILOVER.read_bytes())[::-1]
    path = tmp_path / "reversed.pcap"
    path.write_bytes(PCAP_HEADER + b"".join(stacks.pcap_record(sec, usec, frame)
                                            for sec, usec, frame in records))
    result = invoke("read", str(path), "-q")
    assert "(13.94s)" in result.stdout


def test_times_after_2038_are_the_same_through_a_pipe(tmp_path):
    """libpcap sign-extends 32-bit seconds on the one-by-one path; next_batch does not."""
    import gzip

    records = [(0xFFFFFFFF - 20 + i, usec, frame)
               for i, (_, usec, frame) in enumerate(pcap_records(FAILOVER.read_bytes()))]
    data = PCAP_HEADER + b"".join(stacks.pcap_record(sec, usec, frame) for sec, usec, frame in records)
    plain, zipped = tmp_path / "late.pcap", tmp_path / "late.pcap.gz"
    plain.write_bytes(data)
    zipped.write_bytes(gzip.compress(data))
    # The damaged copy is salvaged one packet at a time, too.
    cut = tmp_path / "late-cut.pcap"
    cut.write_bytes(data[:-5])
    times = [[p["time"] for p in json.loads(invoke("read", str(f), "-T", "json").stdout)["packets"]]
             for f in (plain, zipped, cut)]
    assert times[0] == times[1] == times[2]
    assert min(times[0]) > 2**31


def test_record_times_a_pcap_cannot_hold_are_written_clamped(tmp_path):
    """A record whose microseconds overflow past 2^32 s used to crash -w (struct.error)."""
    (_sec, _usec, frame), *_ = [r for r in pcap_records(FAILOVER.read_bytes()) if r[2][23:24] == b"\x70"]
    path = tmp_path / "late.pcap"
    path.write_bytes(PCAP_HEADER + stacks.pcap_record(0xFFFFFFFF, 0xFFFFFFFF, frame))
    out = tmp_path / "out.pcap"
    result = invoke("read", str(path), "-T", "json", "-w", str(out))
    assert result.exit_code == 0
    again = invoke("read", str(out), "-T", "json")
    assert again.exit_code == 0
    assert len(json.loads(again.stdout)["packets"]) == 1


def test_raw_ip_is_written_as_linktype_raw(tmp_path):
    """pcap files hold LINKTYPE_RAW (101); DLT_RAW is 12 on Linux and 14 on OpenBSD."""
    records = pcap_records(FAILOVER.read_bytes())
    path = tmp_path / "raw.pcap"
    path.write_bytes(stacks.pcap_header(65535, LINKTYPE_RAW)
                     + b"".join(stacks.pcap_record(s, u, f[14:])
                                for s, u, f in records if f[12:14] == b"\x08\x00"))
    out = tmp_path / "out.pcap"
    assert invoke("read", str(path), "-q", "-w", str(out)).exit_code == 0
    assert struct.unpack_from("<I", out.read_bytes(), 20)[0] == LINKTYPE_RAW
    again = json.loads(invoke("read", str(out), "-T", "json").stdout)
    assert len(again["packets"]) == 10
