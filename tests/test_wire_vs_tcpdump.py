"""carpscope's decoding equals tcpdump's, frame by frame, on the shipped captures.

The expected outputs beside the captures were produced by tcpdump itself
(tests/data/README.md says how); parsing them keeps this test honest.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from carpscope.capture.files import frames, open_sources
from carpscope.model import CarpAdvert, Damaged, VrrpAdvert
from carpscope.views.text import utc
from carpscope.wire.decode import decode_frame

DATA = Path(__file__).resolve().parent / "data"
PUBLIC = GENERATED = DATA  # public VRRP captures and ucarp recordings, with tcpdump's output


def decoded(path: Path) -> dict[int, object]:
    return {f.number: decode_frame(f) for f in frames(open_sources([str(path)], None))}


def tcpdump_lines(path: Path) -> dict[int, str]:
    """Frame number → tcpdump's text for it (a -v record spans two lines)."""
    out: dict[int, str] = {}
    current = None
    for line in path.read_text().splitlines():
        m = re.match(r"\s+(\d+)  (.*)", line)
        if m:
            current = int(m.group(1))
            out[current] = m.group(2)
        elif current is not None:
            out[current] += " " + line.strip()
    return out


VRRP_RE = re.compile(
    r"(?P<time>\S+ \S+) IP6? (?P<src>\S+) > (?P<dst>\S+): VRRPv(?P<version>\d+), Advertisement, "
    r"vrid (?P<vrid>\d+), prio (?P<prio>\d+), (?:authtype (?P<auth>\w+), )?intvl (?P<intvl>\d+)(?P<unit>s|cs), "
    r"length (?P<length>\d+)"
)


def test_every_vrrp_frame_matches_tcpdump_default_output():
    records = decoded(PUBLIC / "tcpdump-vrrp.pcap")
    expected = tcpdump_lines(PUBLIC / "tcpdump-vrrp.out")
    assert len(records) == len(expected) == 165
    for number, text in expected.items():
        m = VRRP_RE.match(text)
        assert m, text
        r = records[number]
        assert isinstance(r, VrrpAdvert), number
        assert utc(r.time) == m["time"]
        assert (r.src, r.dst) == (m["src"], m["dst"])
        assert (r.version, r.vrid, r.priority, r.adver_int) == (
            int(m["version"]), int(m["vrid"]), int(m["prio"]), int(m["intvl"]))
        assert m["unit"] == ("cs" if r.version == 3 else "s")
        assert r.length == int(m["length"])
        if m["auth"]:
            assert {"none": 0, "simple": 1}[m["auth"]] == r.auth_type
        assert r.checksum == "ok" and r.findings == ()


def test_verbose_fields_match_tcpdump_v():
    """Addresses, the simple-auth password and the TTL, from `tcpdump -v`."""
    records = decoded(PUBLIC / "tcpdump-vrrp.pcap")
    for number, text in tcpdump_lines(PUBLIC / "tcpdump-vrrp-v.out").items():
        r = records[number]
        addrs = re.search(r"addrs(?:\(\d+\))?: (\S+)", text)
        assert addrs, text
        assert ",".join(r.addresses) == addrs.group(1)
        auth = re.search(r'auth "([^"]*)"', text)
        if auth:
            assert r.auth_data.rstrip(b"\0").decode() == auth.group(1)
        ttl = re.search(r"(?:ttl|hlim) (\d+)", text)
        assert ttl and r.ttl == int(ttl.group(1))


def test_vrrpv3_checksum_forms_are_reported():
    records = decoded(PUBLIC / "tcpdump-vrrp.pcap").values()
    v3 = [r for r in records if r.version == 3]
    assert v3 and all(r.checksum == "ok" and r.checksum_form == "pseudo-header" for r in v3)
    v2 = [r for r in records if r.version == 2]
    assert v2 and all(r.checksum_form is None for r in v2)


CARP_RE = re.compile(
    r"(?P<time>\S+ \S+) (?P<smac>\S+) > (?P<dmac>\S+), ethertype IPv[46] .*(?:ttl|hlim) (?P<ttl>\d+).* "
    r"(?P<src>\S+) > (?P<dst>\S+): CARPv2-advertise 36: vhid=(?P<vhid>\d+) advbase=(?P<advbase>\d+) "
    r"advskew=(?P<advskew>\d+) authlen=(?P<authlen>\d+) counter=(?P<counter>\d+)"
)


@pytest.mark.parametrize("name", ["ucarp_v4", "ucarp_failover", "ucarp_badpass", "carp_synth"])
def test_every_carp_frame_matches_tcpdump_t_carp(name):
    records = decoded(GENERATED / f"{name}.pcap")
    expected = tcpdump_lines(GENERATED / f"{name}.tcpdump-4.99.3-T-carp-v.out")
    carp_frames = 0
    for number, text in expected.items():
        r = records[number]
        if "CARPv2" not in text:
            assert not isinstance(r, (CarpAdvert, VrrpAdvert)), text
            continue
        carp_frames += 1
        m = CARP_RE.match(text)
        assert m and isinstance(r, CarpAdvert), text
        assert utc(r.time) == m["time"] and r.src_mac == m["smac"] and r.dst_mac == m["dmac"]
        assert (r.src, r.dst, r.ttl) == (m["src"], m["dst"], int(m["ttl"]))
        assert (r.vhid, r.advbase, r.advskew, r.authlen, r.counter) == (
            int(m["vhid"]), int(m["advbase"]), int(m["advskew"]), int(m["authlen"]), int(m["counter"]))
        assert r.checksum == "ok"
    assert carp_frames > 0


@pytest.mark.parametrize("name", ["tcpdump-vrrp-vrrp_print-oobr", "tcpdump-vrrp-vrrp_print-oobr-2"])
def test_malformed_fuzz_captures_decode_with_findings(name):
    records = decoded(PUBLIC / f"{name}.pcap")
    expected = tcpdump_lines(PUBLIC / f"{name}.out")
    assert set(records) == set(expected)
    for number, text in expected.items():
        r = records[number]
        assert isinstance(r, (VrrpAdvert, Damaged)), (number, text)
        assert r.findings, (number, text)
        if isinstance(r, VrrpAdvert):
            m = re.search(r"VRRPv(\d+), \S+ \S+ (?:\(ttl (\d+)\), )?vrid (\d+), prio (\d+)", text)
            if m:
                assert (r.version, r.vrid, r.priority) == (int(m[1]), int(m[3]), int(m[4]))
                assert m[2] is None or r.ttl == int(m[2])
