"""`carpscope read` end to end, as a user runs it: exit codes, formats, inputs, -w."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import stacks

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "captures"
FAILOVER = CAPTURES / "ucarp_failover.pcap"
V4 = CAPTURES / "ucarp_v4.pcap"
PASS = "correct horse"


def carpscope(*args: str, stdin: bytes | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "carpscope", *args], input=stdin, capture_output=True,
                          cwd=cwd, timeout=120, env={**os.environ, "NO_COLOR": "1"})


def one_line_error(result: subprocess.CompletedProcess) -> str:
    err = result.stderr.decode()
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_read_prints_packets_and_report():
    result = carpscope("read", str(FAILOVER), "-p", PASS)
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert out.count("CARPv2-advertise vhid 7") == 10
    assert "hmac ok" in out and "hmac bad" not in out


@pytest.mark.parametrize("path, message", [
    ("/nonexistent/x.pcap", "No such file"),
    ("/", "is a directory"),
])
def test_unreadable_inputs_exit_3(path, message):
    result = carpscope("read", path)
    assert result.returncode == 3
    assert message in one_line_error(result)


def test_not_a_capture_exits_3(tmp_path):
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(os.urandom(4096))
    result = carpscope("read", str(junk))
    assert result.returncode == 3
    assert "not a pcap or pcapng" in one_line_error(result)


def test_truncated_file_reports_what_came_before(tmp_path):
    cut = tmp_path / "cut.pcap"
    data = FAILOVER.read_bytes()
    cut.write_bytes(data[: len(data) - 30])
    result = carpscope("read", str(cut), "-T", "json", "-p", PASS)
    assert result.returncode == 3
    assert "truncated" in one_line_error(result)
    doc = json.loads(result.stdout)
    assert len(doc["packets"]) == 10  # the cut falls in the last frame, an ARP
    assert any(f["kind"] == "truncated-capture" for f in doc["findings"])


def test_bad_filter_exits_4():
    result = carpscope("read", str(FAILOVER), "-f", "this is not bpf")
    assert result.returncode == 4
    assert "bad capture filter" in one_line_error(result)


def test_bad_vip_is_a_usage_error():
    result = carpscope("read", str(FAILOVER), "--vip", "7=not-an-address")
    assert result.returncode == 2
    assert "--vip" in one_line_error(result)


def test_count_stops_after_n_protocol_112_packets():
    result = carpscope("read", str(FAILOVER), "-c", "3", "-T", "json")
    assert result.returncode == 0
    assert [p["frame"] for p in json.loads(result.stdout)["packets"]] == [2, 3, 4]


def test_json_document_schema():
    result = carpscope("read", str(FAILOVER), "-T", "json", "-p", PASS)
    doc = json.loads(result.stdout)
    assert doc["schema"] == 2
    assert {"packets", "groups", "events", "findings"} <= set(doc)
    p = doc["packets"][0]
    assert p["proto"] == "carp" and p["vhid"] == 7 and p["counter"].isdigit()
    assert p["checksum"] == "ok" and p["hmac"] == "ok"
    for key in ("frame", "time", "src", "dst", "src_mac", "family", "vlan", "ttl", "version",
                "advbase", "advskew", "demote", "findings"):
        assert key in p


def test_jsonl_types_in_order_groups_last():
    result = carpscope("read", str(FAILOVER), "-T", "jsonl", "-p", PASS)
    objs = [json.loads(line) for line in result.stdout.decode().splitlines()]
    types = [o["type"] for o in objs]
    assert set(types) <= {"packet", "event", "finding", "group"}
    assert types.count("packet") == 10 and "group" in types
    first_group = types.index("group")
    assert all(t == "group" for t in types[first_group:])


def test_gzip_and_stdin_give_the_same_packets(tmp_path):
    gz = tmp_path / "f.pcap.gz"
    with gzip.open(gz, "wb") as f:
        f.write(FAILOVER.read_bytes())
    plain = json.loads(carpscope("read", str(FAILOVER), "-T", "json").stdout)["packets"]
    zipped = json.loads(carpscope("read", str(gz), "-T", "json").stdout)["packets"]
    piped = json.loads(carpscope("read", "-", "-T", "json", stdin=gz.read_bytes()).stdout)["packets"]
    assert plain == zipped == piped and len(plain) == 10


def test_several_files_are_merged_by_time():
    doc = json.loads(carpscope("read", str(FAILOVER), str(V4), "-T", "json").stdout)
    times = [p["time"] for p in doc["packets"]]
    assert times == sorted(times) and len(times) == 10 + 4


@pytest.mark.skipif(shutil.which("tcpdump") is None and os.environ.get("CI") != "true",
                    reason="tcpdump not installed")
def test_write_gives_a_pcap_tcpdump_reads(tmp_path):
    out = tmp_path / "out.pcap"
    result = carpscope("read", str(FAILOVER), "-q", "-w", str(out))
    assert result.returncode == 0
    listing = subprocess.run(["tcpdump", "-n", "-r", str(out), "-T", "carp"], capture_output=True, text=True)
    assert listing.stdout.count("CARPv2-advertise") == 10


def test_fail_on_sets_exit_status():
    badpass = CAPTURES / "ucarp_badpass.pcap"
    assert carpscope("read", "-q", str(badpass), "-p", PASS).returncode == 0
    assert carpscope("read", "-q", str(badpass), "-p", PASS, "--fail-on", "critical").returncode == 1


def test_version():
    result = carpscope("--version")
    assert result.returncode == 0 and "carpscope" in result.stdout.decode()


# -- -f on VLAN-tagged frames ----------------------------------------------------------------


def carp_frame(src: str, vhid: int, tags: tuple[tuple[int, int], ...] = ()) -> bytes:
    """An Ethernet frame with a CARP advert from `src`, in 802.1Q/802.1ad tags (tpid, vid)."""
    packet = stacks.ipv4_packet(src, "224.0.0.18", 112, stacks.carp_advert(vhid))
    return stacks.ethernet("00:00:5e:00:01:07", "01:00:5e:00:00:12", 0x0800, packet, tags)


def test_a_filter_keeps_vlan_tagged_adverts(tmp_path):
    """-f is checked at every VLAN depth, as in live capture: tagged adverts of the host are kept."""
    frames = [("192.0.2.1", 1, ()), ("192.0.2.2", 2, ()),
              ("192.0.2.1", 3, ((0x8100, 10),)), ("192.0.2.2", 4, ((0x8100, 10),)),
              ("192.0.2.1", 5, ((0x88A8, 20), (0x8100, 30))), ("192.0.2.2", 6, ((0x88A8, 20), (0x8100, 30)))]
    path = tmp_path / "tagged.pcap"
    path.write_bytes(stacks.pcap_bytes(((1700000000 + n, carp_frame(src, vhid, tags))
                                        for n, (src, vhid, tags) in enumerate(frames)), snaplen=1500))
    for source in (path, tmp_path / "tagged.pcap.gz"):  # the batched and the one-by-one readers
        if source.suffix == ".gz":
            source.write_bytes(gzip.compress(path.read_bytes()))
        everything = json.loads(carpscope("read", str(source), "-T", "json").stdout)["packets"]
        assert [p["vhid"] for p in everything] == [1, 2, 3, 4, 5, 6]
        result = carpscope("read", str(source), "-T", "json", "-f", "host 192.0.2.1")
        assert result.returncode == 0, result.stderr
        kept = [(p["src"], p["vhid"], p["vlan"]) for p in json.loads(result.stdout)["packets"]]
        assert kept == [("192.0.2.1", 1, []), ("192.0.2.1", 3, [10]), ("192.0.2.1", 5, [20, 30])]
    # A -f that names the tag itself is applied once, to the outer tag.
    for bpf, vhids in (("vlan 10", [3, 4]), ("vlan 20", [5, 6]), ("vlan 20 and vlan 30 and host 192.0.2.2", [6])):
        result = carpscope("read", str(path), "-T", "json", "-f", bpf)
        assert [p["vhid"] for p in json.loads(result.stdout)["packets"]] == vhids, bpf


# -- -w onto an input ------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["same", "dotted", "symlink", "hardlink", "stdin"])
def test_write_onto_an_input_is_refused_and_leaves_it_alone(tmp_path, spelling):
    (tmp_path / "sub").mkdir()
    capture = tmp_path / "in.pcap"
    shutil.copy(FAILOVER, capture)
    out = {"same": capture, "dotted": tmp_path / "sub" / ".." / "in.pcap", "symlink": tmp_path / "link.pcap",
           "hardlink": tmp_path / "hard.pcap", "stdin": capture}[spelling]
    if spelling == "symlink":
        out.symlink_to(capture)
    elif spelling == "hardlink":
        os.link(capture, out)
    if spelling == "stdin":
        with open(capture, "rb") as stdin:
            result = subprocess.run([sys.executable, "-m", "carpscope", "read", "-", "-w", str(out)], stdin=stdin,
                                    capture_output=True, timeout=120)
        named = "-"
    else:
        result = carpscope("read", str(FAILOVER), str(capture), "-w", str(out), "-T", "json")
        named = str(capture)
    assert result.returncode == 2
    assert one_line_error(result) == f"carpscope: -w {out}: that is the input {named}; it would be overwritten"
    assert result.stdout == b""
    assert capture.read_bytes() == FAILOVER.read_bytes()


@pytest.mark.parametrize("command", ["read", "live"])
def test_write_onto_the_pass_file_is_refused_and_leaves_it_alone(tmp_path, command):
    secret = tmp_path / "pass"
    secret.write_text("s3cret\n")
    secret.chmod(0o600)
    where = [str(FAILOVER)] if command == "read" else ["lo"]
    result = carpscope(command, *where, "--pass-file", str(secret), "-w", str(secret))
    assert result.returncode == 2
    assert one_line_error(result) == f"carpscope: -w {secret}: that is the --pass-file; it would be overwritten"
    assert secret.read_text() == "s3cret\n" and b"s3cret" not in result.stdout + result.stderr


def test_write_to_a_device_or_a_new_file_is_not_an_input(tmp_path):
    assert carpscope("read", str(FAILOVER), "-q", "-w", os.devnull).returncode == 0
    with open(os.devnull, "rb") as stdin:  # stdin and -w are the same device: nothing to clobber
        result = subprocess.run([sys.executable, "-m", "carpscope", "read", "-", "-w", os.devnull], stdin=stdin,
                                capture_output=True, timeout=120)
    assert result.returncode == 3 and b"<stdin>: truncated" in result.stderr  # an empty capture, not a refusal


# -- every finding of the report is a JSON Lines finding -------------------------------------


def report_findings(doc: dict) -> set[tuple]:
    return {(f["kind"], f["proto"], f["id"]) for f in doc["findings"]}


def jsonl_findings(stdout: bytes) -> set[tuple]:
    return {(o["kind"], o["proto"], o["id"]) for o in map(json.loads, stdout.splitlines()) if o["type"] == "finding"}


@pytest.mark.parametrize("capture", sorted(p.name for p in CAPTURES.glob("*.pcap")) + ["cut"])
def test_every_report_finding_is_a_jsonl_finding(tmp_path, capture):
    path = CAPTURES / capture
    if capture == "cut":  # truncated-capture is noted at the end, after the last packet
        path = tmp_path / "cut.pcap"
        path.write_bytes(FAILOVER.read_bytes()[:-30])
    doc = json.loads(carpscope("read", str(path), "-T", "json", "-p", PASS).stdout)
    lines = carpscope("read", str(path), "-T", "jsonl", "-p", PASS).stdout
    assert jsonl_findings(lines) == report_findings(doc)
    assert capture != "cut" or ("truncated-capture", None, None) in report_findings(doc)
