"""Real peers, recorded fresh: carpscope decodes and verifies what ucarp and keepalived send.

One recording per test module (a ucarp pair with a passphrase and VIP chosen at
random for this run, a keepalived VRRPv2 pair and a VRRPv3 pair); tcpdump is the
independent decoder the fields are compared with.
"""

from __future__ import annotations

import json
import os
import random
import re
import secrets
import string
import subprocess
import sys
import time

import pytest

from lab import Lab, require_lab, run

TCPDUMP_CARP = re.compile(r"^(?P<time>\d+\.\d+) IP (?P<src>\S+) > \S+: CARPv2-advertise 36: vhid=(?P<vhid>\d+) "
                          r"advbase=(?P<advbase>\d+) advskew=(?P<advskew>\d+) authlen=7 counter=(?P<counter>\d+)")
TCPDUMP_VRRP = re.compile(r"^(?P<time>\d+\.\d+) IP (?P<src>\S+) > \S+: VRRPv(?P<version>\d), Advertisement, "
                          r"vrid (?P<vrid>\d+), prio (?P<prio>\d+), (?:authtype \w+, )?intvl (?P<intvl>\d+)(?:s|cs)")


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """A 7-second capture of three groups on one segment."""
    require_lab()
    rnd = random.Random(secrets.randbits(64))
    password = "".join(rnd.choice(string.ascii_letters + string.digits) for _ in range(rnd.randint(6, 19)))
    vip = f"192.0.2.{rnd.randint(100, 199)}"
    vhid = rnd.randint(1, 60)
    path = tmp_path_factory.mktemp("peers") / "peers.pcap"
    with Lab() as lab:
        a, b = lab.host("a", "192.0.2.1"), lab.host("b", "192.0.2.2")
        c, d = lab.host("c", "192.0.2.3"), lab.host("d", "192.0.2.4")
        capture = lab.capture(path)
        lab.ucarp(a, vhid, password, vip, advskew=0)
        lab.ucarp(b, vhid, password, vip, advskew=100)
        lab.keepalived(c, 70, 150, "192.0.2.70", version=2)
        lab.keepalived(d, 70, 100, "192.0.2.70", version=2)
        lab.keepalived(c, 80, 200, "192.0.2.80", version=3)
        lab.keepalived(d, 80, 120, "192.0.2.80", version=3)
        time.sleep(7)
        capture.stop()
    return {"path": path, "password": password, "vip": vip, "vhid": vhid}


def carpscope_json(*args: str) -> dict:
    result = subprocess.run([sys.executable, "-m", "carpscope", "read", "-T", "json", *args],
                            capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    return json.loads(result.stdout)


def by_time(packets: list[dict]) -> dict[str, dict]:
    return {f"{p['time']:.6f}": p for p in packets}


def test_carp_fields_equal_tcpdump_t_carp(recording):
    expected = [m for line in run("tcpdump", "-n", "-tt", "-T", "carp", "-r", str(recording["path"])).splitlines()
                if (m := TCPDUMP_CARP.match(line))]
    ours = by_time(p for p in carpscope_json(str(recording["path"]))["packets"] if p["proto"] == "carp")
    assert len(expected) >= 5 and len(ours) == len(expected)
    for m in expected:
        p = ours[m["time"]]
        assert (p["src"], p["vhid"], p["advbase"], p["advskew"], p["counter"]) == (
            m["src"], int(m["vhid"]), int(m["advbase"]), int(m["advskew"]), m["counter"])  # schema 2: digits
        assert p["checksum"] == "ok"


def test_vrrp_fields_equal_tcpdump_default(recording):
    lines = run("tcpdump", "-n", "-tt", "-r", str(recording["path"])).splitlines()
    packets = carpscope_json(str(recording["path"]))["packets"]
    carp_times = set(by_time(p for p in packets if p["proto"] == "carp"))
    # tcpdump prints CARP as VRRPv2 too (docs/protocol.md §6.1): compare the real VRRP only.
    expected = [m for line in lines if (m := TCPDUMP_VRRP.match(line)) and m["time"] not in carp_times]
    ours = by_time(p for p in packets if p["proto"] == "vrrp")
    assert {int(m["version"]) for m in expected} == {2, 3}
    assert len(ours) == len(expected)
    for m in expected:
        p = ours[m["time"]]
        assert (p["src"], p["version"], p["vrid"], p["priority"], p["adver_int"]) == (
            m["src"], int(m["version"]), int(m["vrid"]), int(m["prio"]), int(m["intvl"]))
        assert p["checksum"] == "ok"


def test_every_advert_verifies_with_only_the_passphrase(recording):
    doc = carpscope_json(str(recording["path"]), "-p", recording["password"])
    carp = [p for p in doc["packets"] if p["proto"] == "carp"]
    assert carp and all(p["hmac"] == "ok" for p in carp)
    group = next(g for g in doc["groups"] if g["proto"] == "carp")
    assert group["id"] == recording["vhid"]
    assert group["vips"] == [recording["vip"]] and group["vips_from"] in ("inferred", "searched")
    assert group["passphrase"] == 1


def test_the_passphrase_never_appears_in_any_output(recording):
    secret = recording["password"].encode()
    for fmt in ("text", "json", "jsonl"):
        for extra in ((), ("-V",), ("-q",)):
            result = subprocess.run([sys.executable, "-m", "carpscope", "read", str(recording["path"]), "-T", fmt,
                                     "-p", "decoy-one", "-p", recording["password"], *extra],
                                    capture_output=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
            assert result.returncode == 0
            assert secret not in result.stdout and secret not in result.stderr
            assert b"decoy-one" not in result.stdout + result.stderr
