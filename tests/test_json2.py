"""JSON schema 2 (issue 14): counter as digits, -q without packets, findings with members, and the
fields the manual documents are the fields the output has, by the same names."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import stacks

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "captures"
MANUAL = ROOT / "man" / "carpscope.1"


def carpscope(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "carpscope", *args], capture_output=True, env=env, timeout=60)
    assert result.returncode in (0, 1), result.stderr
    return result


def document(*args) -> dict:
    return json.loads(carpscope("read", *args, "-T", "json").stdout)


def lines(*args) -> list[dict]:
    return [json.loads(line) for line in carpscope("read", *args, "-T", "jsonl").stdout.splitlines()]


def test_schema_2_and_the_counter_as_decimal_digits():
    doc = document(str(CAPTURES / "failover.pcap"), "-p", "s3cret")
    assert doc["schema"] == 2
    text = carpscope("read", str(CAPTURES / "failover.pcap"), "-p", "s3cret").stdout.decode()
    counters = [p["counter"] for p in doc["packets"]]
    assert all(isinstance(c, str) and c.isdigit() for c in counters)
    # Exactly the 64-bit values the text shows, beyond what a double holds (jq 1.6 would round them).
    assert counters == re.findall(r" counter (\d+) ", text)
    assert any(int(c) > 2**53 for c in counters)


@pytest.mark.parametrize("capture", ["passphrase-mismatch.pcap", "several-groups.pcap"])
def test_quiet_leaves_the_packets_out(capture):
    path = str(CAPTURES / capture)
    full, quiet = document(path, "-p", "s3cret"), document(path, "-p", "s3cret", "-q")
    assert full["packets"] and "packets" not in quiet
    assert {k: v for k, v in full.items() if k != "packets"} == quiet
    full_lines, quiet_lines = lines(path, "-p", "s3cret"), lines(path, "-p", "s3cret", "-q")
    assert any(o["type"] == "packet" for o in full_lines)
    assert [o for o in full_lines if o["type"] != "packet"] == quiet_lines


def test_findings_name_their_members():
    path = str(CAPTURES / "passphrase-mismatch.pcap")
    doc = document(path, "-p", "s3cret")
    members = {f["kind"]: f["members"] for f in doc["findings"]}
    assert members == {"hmac-failed": ["192.0.2.2"], "split-brain": ["192.0.2.1", "192.0.2.2"]}
    streamed = {o["kind"]: o["members"] for o in lines(path, "-p", "s3cret") if o["type"] == "finding"}
    assert streamed == members


# -- the manual's fields are the output's -------------------------------------------------

def _json_section() -> str:
    text = MANUAL.read_text()
    return text.split(".Ss JSON\n", 1)[1].split("\n.Sh ", 1)[0]


def _names(text: str) -> set[str]:
    """Field names on `.It Li a , b` and `.Li a ,` lines."""
    out = set()
    for line in text.splitlines():
        if line.startswith((".It Li ", ".Li ")):
            out |= {w for w in re.findall(r"[a-z_]+", line.split("Li ", 1)[1]) if w not in ("null",)}
    return out


def documented() -> dict[str, set[str]]:
    """{"packets" | "groups" | "members" | "events" | "findings": field names the manual lists}."""
    section = _json_section()
    # The top-level items, in order (a packet's own `.It Li findings` sits inside `packets`).
    at = [section.index("\n.It Li packets\n"), section.index("\n.It Li groups\n"),
          section.index("\n.It Li events\n"), section.rindex("\n.It Li findings\n"), len(section)]
    items = {name: section[at[i]:at[i + 1]].split("\n", 2)[2]
             for i, name in enumerate(("packets", "groups", "events", "findings"))}
    packets = {n for line in items["packets"].splitlines() if line.startswith(".It Li ")
               for n in re.findall(r"[a-z_]+", line[7:])}
    groups_part = items["groups"]
    groups = {n for line in groups_part.splitlines() if line.startswith(".It Li ")
              for n in re.findall(r"[a-z_]+", line[7:])}
    member_text = groups_part.split(".It Li members", 1)[1].split(".El", 1)[0]
    members = {n for n in _names(member_text) if "_" in n or n.isalpha()} - {"carp", "vrrp"}
    events = _names(items["events"].split(".El", 1)[0])
    findings = _names(items["findings"].split(".El", 1)[0].split(".Li members\nlists", 1)[0])
    return {"packets": packets, "groups": groups, "members": members, "events": events, "findings": findings}


def every_kind_of_packet(tmp_path) -> Path:
    """A capture with CARP (verified), VRRPv2 with a simple-text password, VRRPv2 behind AH, and VRRPv3."""
    frames = []
    for i in range(3):
        frames.append((stacks.T0 + i, stacks.ip_frame("02:00:00:00:00:07", "192.0.2.7", "224.0.0.18", 112,
                                                        stacks.vrrp2(7, 100, ["192.0.2.70"], auth_type=1,
                                                                     auth_data=b"secret"))))
        frames.append((stacks.T0 + i + 0.5, stacks.ip_frame(
            "02:00:00:00:00:08", "192.0.2.8", "224.0.0.18", 112,
            stacks.vrrp3(8, 100, ["192.0.2.80"], "192.0.2.8", "224.0.0.18"))))
        frames.append((stacks.T0 + i + 0.7, stacks.keepalived_advert("192.0.2.9", 9, 100, ["192.0.2.90"], ah_seq=i)))
    return stacks.write_pcap(tmp_path / "kinds.pcap", frames)


def test_every_documented_field_is_in_the_output_by_its_name(tmp_path):
    doc = documented()
    outputs = [document(str(CAPTURES / "failover.pcap"), "-p", "s3cret"),
               document(str(CAPTURES / "passphrase-mismatch.pcap"), "-p", "s3cret"),
               document(str(CAPTURES / "several-groups.pcap")),
               document(str(every_kind_of_packet(tmp_path))),
               document(f"fw1={CAPTURES / 'oneway-fw1.pcap'}", f"fw2={CAPTURES / 'oneway-fw2.pcap'}", "-p", "s3cret")]
    seen = {"packets": set(), "groups": set(), "members": set(), "events": set(), "findings": set()}
    for out in outputs:
        for part in ("packets", "groups", "events", "findings"):
            for obj in out[part]:
                seen[part] |= set(obj)
        for g in out["groups"]:
            for m in g["members"]:
                seen["members"] |= set(m)
    seen["findings"].add("count")  # (every document finding has it; checked below)
    for part in seen:
        assert doc[part] == seen[part], (part, "documented only:", doc[part] - seen[part],
                                         "output only:", seen[part] - doc[part])
    assert all("count" in f for out in outputs for f in out["findings"])
