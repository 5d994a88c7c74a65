"""The capture layer against hostile frames and odd inputs (issue 20), frame numbers as the file's (issue 14).

Every run is a real process with a deadline: the failures these tests guard against
are hangs (libpcap's protochain loop, a FIFO opened twice, a pipe read 64 KiB at a time).
"""

from __future__ import annotations

import gzip
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stacks

ROOT = Path(__file__).resolve().parents[1]
FAILOVER = ROOT / "captures" / "failover.pcap"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
DEADLINE = 20  # seconds; a run that has not ended by then hangs
QUICK = 3.0  # "under a second" of work, plus the interpreter's start on a shared, loaded machine


def carpscope(*args: str, stdin=None, input: bytes | None = None, shell: str | None = None):
    """Run carpscope in its own process; (result, seconds)."""
    command = shell or [sys.executable, "-m", "carpscope", *args]
    start = time.monotonic()
    result = subprocess.run(command, stdin=stdin, input=input, capture_output=True, env=ENV, timeout=DEADLINE,
                            shell=bool(shell), executable="/bin/bash" if shell else None, cwd=ROOT)
    return result, time.monotonic() - start


def pcap_frames(path: Path) -> list[tuple[float, bytes]]:
    data, out, pos = path.read_bytes(), [], 24
    while pos + 16 <= len(data):
        sec, usec, caplen, _ = struct.unpack_from("<IIII", data, pos)
        out.append((sec + usec / 1e6, data[pos + 16 : pos + 16 + caplen]))
        pos += 16 + caplen
    return out


def hostile_capture(tmp_path: Path, inside: bool, container: str) -> Path:
    """The protochain frame alone, or in the middle of a real failover capture."""
    frames = pcap_frames(FAILOVER) if inside else []
    at = frames[len(frames) // 2][0] if frames else stacks.T0
    frames.insert(len(frames) // 2, (at, stacks.protochain_loop_frame()))
    if container == "pcapng":
        return stacks.write_pcapng(tmp_path / "hostile.pcapng", frames)
    path = stacks.write_pcap(tmp_path / "hostile.pcap", frames)
    if container == "gzip":
        gz = tmp_path / "hostile.pcap.gz"
        gz.write_bytes(gzip.compress(path.read_bytes()))
        return gz
    return path


# -- the 84-byte protochain frame --------------------------------------------------------

@pytest.mark.parametrize("inside", [False, True], ids=["alone", "in-a-capture"])
@pytest.mark.parametrize("container", ["pcap", "pcapng", "gzip", "stdin"])
def test_the_protochain_frame_is_malformed_at_once(tmp_path, container, inside):
    path = hostile_capture(tmp_path, inside, "pcap" if container == "stdin" else container)
    if container == "stdin":
        with path.open("rb") as stdin:
            result, seconds = carpscope("read", "-", "-T", "json", stdin=stdin)
    else:
        result, seconds = carpscope("read", str(path), "-T", "json")
    assert result.returncode == 0, result.stderr
    assert seconds < QUICK
    doc = json.loads(result.stdout)
    malformed = [f for f in doc["findings"] if f["kind"] == "malformed"]
    assert len(malformed) == 1 and "IPv6" in malformed[0]["detail"]
    if inside:
        assert malformed[0]["frame"] == len(pcap_frames(FAILOVER)) // 2 + 1
        assert [g["master"] for g in doc["groups"]] == ["192.0.2.2"] and len(doc["events"]) == 3


def test_the_big_file_child_reports_the_protochain_frame(tmp_path):
    path = hostile_capture(tmp_path, True, "pcap")
    code = ("import json, sys; from carpscope.capture import files; from carpscope.wire.decode import decode_frame\n"
            "s = files.FileSource(sys.argv[1], scan_in_child=True); s.open()\n"
            "print(json.dumps([[f.number, type(decode_frame(f)).__name__] for f in files.frames([s])]))")
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, env=ENV,
                            timeout=DEADLINE, text=True)
    assert time.monotonic() - start < QUICK
    got = json.loads(result.stdout)
    assert [len(pcap_frames(FAILOVER)) // 2 + 1, "Damaged"] in got and len(got) == len(pcap_frames(FAILOVER)) + 1


def test_live_reports_the_protochain_frame(tmp_path):
    """On the loopback interface, which captures Ethernet frames sent through a packet socket."""
    proc = subprocess.Popen([sys.executable, "-m", "carpscope", "live", "lo", "--duration", "3", "-T", "jsonl"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, text=True)
    try:
        time.sleep(1.5)  # the capture is open
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as raw:
            raw.bind(("lo", 0))
            raw.send(stacks.protochain_loop_frame())
        out, err = proc.communicate(timeout=DEADLINE)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    kinds = [json.loads(line).get("kind") for line in out.splitlines()]
    assert "malformed" in kinds


def test_ctrl_c_stops_a_read_after_the_protochain_frame():
    """SIGINT to the process alone (the pump child does not hear it): exit 130 at once, with the report."""
    header = stacks.pcap_header()
    frame = stacks.protochain_loop_frame()
    proc = subprocess.Popen([sys.executable, "-m", "carpscope", "read", "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    try:
        proc.stdin.write(header + stacks.pcap_record(int(stacks.T0), 0, frame))
        proc.stdin.flush()  # then silence, the pipe still open
        time.sleep(1.5)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=5)
    finally:
        proc.kill()
        proc.stdin.close()
    assert proc.returncode == 130
    assert b"malformed" in proc.stdout.read() and b"Traceback" not in proc.stderr.read()


# -- odd inputs ----------------------------------------------------------------------------

def test_a_short_if_tsoffset_is_one_line_and_exit_3(tmp_path):
    """A second interface (another link type, so carpscope reads the file itself) whose
    if_tsoffset says 8 bytes where the block has 4."""
    frames = pcap_frames(FAILOVER)
    blocks = [stacks.pcapng_section(), stacks.pcapng_interface(1)]
    for t, data in frames[:3]:
        stamp = int(t * 1e6)
        blocks.append(stacks.pcapng_packet(0, stamp, data))
    blocks.append(stacks.pcapng_interface(113, options=struct.pack("<HH", 14, 8) + bytes(4)))
    path = tmp_path / "tsoffset.pcapng"
    path.write_bytes(b"".join(blocks))
    result, _ = carpscope("read", str(path))
    assert result.returncode == 3
    err = result.stderr.decode().strip().splitlines()
    assert len(err) == 1 and "if_tsoffset" in err[0] and "Traceback" not in result.stderr.decode()


@pytest.mark.parametrize("how", ["process-substitution", "dev-stdin", "fifo", "gzip-fifo"])
def test_streams_are_read_once_like_tcpdump_r(tmp_path, how):
    expected, _ = carpscope("read", str(FAILOVER), "-T", "json")
    if how == "process-substitution":
        result, _ = carpscope(shell=f"{sys.executable} -m carpscope read <(cat {FAILOVER}) -T json")
    elif how == "dev-stdin":
        result, _ = carpscope(shell=f"cat {FAILOVER} | {sys.executable} -m carpscope read /dev/stdin -T json")
    else:
        fifo = tmp_path / "capture.fifo"
        os.mkfifo(fifo)
        data = FAILOVER.read_bytes()
        data = gzip.compress(data) if how == "gzip-fifo" else data
        writer = threading.Thread(target=fifo.write_bytes, args=(data,), daemon=True)
        writer.start()
        result, _ = carpscope("read", str(fifo), "-T", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["packets"] == json.loads(expected.stdout)["packets"]


def test_raw_ip_link_type_14_is_decoded(tmp_path):
    """OpenBSD's DLT_RAW: each frame an IPv4 packet (libpcap alone says "unknown data link type 14")."""
    frames = [(t, data[14:]) for t, data in pcap_frames(FAILOVER) if data[12:14] == b"\x08\x00"]
    path = stacks.write_pcap(tmp_path / "raw14.pcap", frames, linktype=14)
    result, _ = carpscope("read", str(path), "-T", "json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert len(doc["packets"]) == len(frames) and doc["groups"][0]["master"] == "192.0.2.2"


def test_a_link_type_carpscope_cannot_decode_is_named_in_one_line(tmp_path):
    """PPP (DLT 9) used to be skipped in silence: "no protocol-112 packets", exit 0."""
    frames = [(t, b"\xff\x03\x00\x21" + data[14:]) for t, data in pcap_frames(FAILOVER)]
    path = stacks.write_pcap(tmp_path / "ppp.pcap", frames, linktype=9)
    result, _ = carpscope("read", str(path))
    assert result.returncode == 3 and not result.stdout
    err = result.stderr.decode().strip().splitlines()
    assert len(err) == 1 and "link type 9 (PPP)" in err[0] and "not supported" in err[0]


def test_a_pcapng_interface_of_a_link_type_carpscope_cannot_decode_is_named(tmp_path):
    """The second interface is PPP: the frames before it are analysed, then one line and exit 3."""
    frames = pcap_frames(FAILOVER)
    blocks = [stacks.pcapng_section(), stacks.pcapng_interface(1)]
    for t, data in frames[:4]:
        stamp = int(t * 1e6)
        blocks.append(stacks.pcapng_packet(0, stamp, data))
    blocks.append(stacks.pcapng_interface(9))
    ppp = b"\xff\x03\x00\x21" + frames[4][1][14:]
    blocks.append(stacks.pcapng_packet(1, 0, ppp))
    path = tmp_path / "ppp-interface.pcapng"
    path.write_bytes(b"".join(blocks))
    result, _ = carpscope("read", str(path), "-T", "json")
    assert result.returncode == 3
    err = result.stderr.decode().strip().splitlines()
    assert len(err) == 1 and "link type 9 (PPP) is not supported" in err[0]
    assert [p["frame"] for p in json.loads(result.stdout)["packets"]] == [2, 3, 4]


def test_decompressing_children_are_capped(tmp_path):
    """Twelve .gz inputs used to start twelve children at once."""
    gz = tmp_path / "0.pcap.gz"
    gz.write_bytes(gzip.compress(FAILOVER.read_bytes()))
    paths = [gz] + [tmp_path / f"{i}.pcap.gz" for i in range(1, 12)]
    for path in paths[1:]:
        path.write_bytes(gz.read_bytes())
    code = ("import os, sys; from carpscope.capture import files\n"
            "sources = files.open_sources(sys.argv[1:], None)\n"
            "children = open(f'/proc/{os.getpid()}/task/{os.getpid()}/children').read().split()\n"
            "print(len(children), sum(1 for _ in files.frames(sources)))")
    result = subprocess.run([sys.executable, "-c", code, *map(str, paths)], capture_output=True, env=ENV,
                            timeout=DEADLINE, text=True)
    children, frames = map(int, result.stdout.split())
    assert 1 <= children <= 4 and frames == 12 * len(pcap_frames(FAILOVER))


# -- frame numbers as the file's (issue 14) -------------------------------------------------

def mixed_capture(tmp_path: Path, name: str = "mixed.pcap", start: float = stacks.T0, skew: int = 0) -> Path:
    """A CARP failover among IGMP, neighbour solicitations and TCP, as a real segment has."""
    key = stacks.bsd_key(b"s3cret")
    a = stacks.Node("192.0.2.1", 1, key, ["192.0.2.100"], advskew=skew)
    b = stacks.Node("192.0.2.2", 1, key, ["192.0.2.100"], advskew=100, real_mac="02:00:00:00:00:02")
    v6 = stacks.Node("2001:db8::1", 2, key, ["2001:db8::100"], real_mac="02:00:00:00:00:03")
    frames, t = [], start
    for i in range(12):
        others = [stacks.tcp_segment("198.51.100.7", "198.51.100.8", seq=i * 3 + k) for k in range(i % 4)]
        others += [stacks.igmp_report("198.51.100.9", "239.1.2.3")] if i % 3 == 0 else []
        others += [stacks.neighbor_solicitation("fe80::9", "2001:db8::77")] if i % 2 else []
        for frame in others:
            frames.append((t, frame))
            t += 0.01
        frames.append((t, (a if i < 6 else b).advert()))
        if i == 6:
            frames.extend((t + 0.001, claim) for claim in b.claims())
        frames.append((t + 0.002, v6.advert()))
        t += 1.0
    return stacks.write_pcap(tmp_path / name, frames)


def tshark_numbers(path: Path) -> list[int]:
    out = subprocess.run(["tshark", "-r", str(path), "-Y", "ip.proto==112 or ipv6.nxt==112", "-T", "fields",
                          "-e", "frame.number"], capture_output=True, text=True, timeout=DEADLINE, check=True)
    return [int(n) for n in out.stdout.split()]


def carpscope_numbers(*paths: Path) -> list[int]:
    result, _ = carpscope("read", *map(str, paths), "-T", "json")
    assert result.returncode == 0, result.stderr
    return [p["frame"] for p in json.loads(result.stdout)["packets"] if p.get("proto") in ("carp", "vrrp")]


@pytest.mark.parametrize("container", ["pcap", "pcapng", "gzip", "stdin"])
def test_frame_numbers_are_wiresharks(tmp_path, container):
    path = mixed_capture(tmp_path)
    if container == "pcapng":
        subprocess.run(["editcap", "-F", "pcapng", str(path), str(tmp_path / "mixed.pcapng")], check=True)
        path = tmp_path / "mixed.pcapng"
    expected = tshark_numbers(path)
    if container == "gzip":
        gz = tmp_path / "mixed.pcap.gz"
        gz.write_bytes(gzip.compress(path.read_bytes()))
        path = gz
    assert len(expected) == 24 and expected != list(range(1, 25))
    if container == "stdin":
        with path.open("rb") as stdin:
            result, _ = carpscope("read", "-", "-T", "json", stdin=stdin)
        got = [p["frame"] for p in json.loads(result.stdout)["packets"] if p.get("proto") in ("carp", "vrrp")]
        assert got == expected
    else:
        assert carpscope_numbers(path) == expected


def test_frame_numbers_of_a_capture_read_in_the_big_file_child(tmp_path):
    path = mixed_capture(tmp_path)
    code = ("import sys; from carpscope.capture import files; from carpscope.wire.decode import decode_frame\n"
            "s = files.FileSource(sys.argv[1], scan_in_child=True); s.open()\n"
            "print(*[f.number for f in files.frames([s]) if getattr(decode_frame(f), 'proto', None)])")
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, env=ENV,
                            timeout=DEADLINE, text=True)
    assert [int(n) for n in result.stdout.split()] == tshark_numbers(path)


def test_frame_numbers_of_merged_files_are_mergecaps(tmp_path):
    """Several files: numbered as in `mergecap -w merged.pcapng FILE...`, which Wireshark opens."""
    first = mixed_capture(tmp_path, "first.pcap")
    second = mixed_capture(tmp_path, "second.pcap", start=stacks.T0 + 0.5, skew=50)
    merged = tmp_path / "merged.pcapng"
    subprocess.run(["mergecap", "-w", str(merged), str(first), str(second)], check=True)
    assert carpscope_numbers(first, second) == tshark_numbers(merged)


def test_stdin_hands_on_each_frame_as_it_arrives():
    """`tcpdump -U -w - | carpscope read -`: each frame's line before the next frame is written."""
    data = FAILOVER.read_bytes()
    # Unbuffered: select() sees only the pipe, so a buffered reader must not hold a line it read
    # ahead (a frame's line and its event line often arrive in one read).
    proc = subprocess.Popen([sys.executable, "-m", "carpscope", "read", "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, bufsize=0)
    try:
        proc.stdin.write(data[:24])
        pos, seen = 24, []
        for number in range(1, 6):
            caplen = struct.unpack_from("<I", data, pos + 8)[0]
            proc.stdin.write(data[pos : pos + 16 + caplen])
            proc.stdin.flush()
            pos += 16 + caplen
            # Each line must come before the next frame is written; how long it may take is
            # generous (a loaded CI machine once needed over 5 s), the order is what is tested.
            deadline = time.monotonic() + DEADLINE
            while not seen or seen[-1] != str(number):  # (an event line may come first)
                ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
                assert ready, f"no line for frame {number} in time"
                words = proc.stdout.readline().decode().split()
                if words and words[0].isdigit():
                    seen.append(words[0])
        proc.stdin.close()
        proc.wait(timeout=DEADLINE)
    finally:
        proc.kill()
    assert seen == ["1", "2", "3", "4", "5"]
