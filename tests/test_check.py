"""`carpscope check`: the Nagios/Icinga plugin's state, line and exit code (issue 16).

The expected state of every capture in captures/ is derived from the findings and the
groups `carpscope read -T json` reports for it, the way the plugin promises to judge
(carpscope/check.py): the worst severity, and a group left without a master.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from carpscope import check, cli

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = sorted((ROOT / "captures").glob("*.pcap"))
PASSES = ("-p", "s3cret", "-p", "hunter2")  # captures/README.md: every passphrase of the captures
LINE = re.compile(r"^CARPSCOPE (OK|WARNING|CRITICAL|UNKNOWN) - [^|\n]+ \| (\S+=\S+ ?)+$")


def invoke(*args: str):
    result = CliRunner().invoke(cli.main, ["check", *args])
    return result.exit_code, result.output


def expected_state(capture: Path) -> int:
    doc = json.loads(CliRunner().invoke(cli.main, ["read", str(capture), "-q", "-T", "json", *PASSES]).output)
    severities = {f["severity"] for f in doc["findings"]}
    if "critical" in severities or any(g["master"] is None for g in doc["groups"]):
        return check.CRITICAL
    if "warning" in severities or not doc["groups"]:
        return check.WARNING
    return check.OK


def test_captures_are_there():
    assert len(CAPTURES) >= 10


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.name)
def test_every_capture_gets_the_state_its_findings_give(capture):
    rc, out = invoke("-r", str(capture), *PASSES)
    assert rc == expected_state(capture)
    assert out.count("\n") == 1 and LINE.match(out.rstrip("\n")), out
    assert out.startswith(f"CARPSCOPE {check.STATES[rc]} - ")
    assert "s3cret" not in out and "hunter2" not in out


@pytest.mark.parametrize("name, state, says", [
    ("failover.pcap", "OK", "1 group: CARP vhid 1 master 192.0.2.2"),
    ("preemption.pcap", "OK", "CARP vhid 1 master 192.0.2.1"),
    ("several-groups.pcap", "OK", "3 groups: CARP vhid 1 master 192.0.2.1, CARP vhid 2 master 192.0.2.1, "
                                  "VRRP vrid 10 master 192.0.2.3"),
    ("passphrase-mismatch.pcap", "CRITICAL", "split brain on CARP vhid 1 (192.0.2.1 and 192.0.2.2)"),
    ("multicast-loss.pcap", "CRITICAL", "split brain on CARP vhid 1 (192.0.2.1 and 192.0.2.2)"),
    ("vrrp-collision.pcap", "CRITICAL", "vrrp collision on VRRP vrid 5"),
])
def test_named_captures(name, state, says):
    rc, out = invoke("-r", str(ROOT / "captures" / name), *PASSES)
    assert (check.STATES[rc], out.split(" - ", 1)[0]) == (state, f"CARPSCOPE {state}")
    assert says in out, out


def test_performance_data_of_a_failover():
    rc, out = invoke("-r", str(ROOT / "captures" / "failover.pcap"), "-p", "s3cret", "--max-gap", "5")
    perf = dict(item.split("=", 1) for item in out.split(" | ", 1)[1].split())
    assert rc == 0
    assert perf["groups"] == "1;;;0" and perf["masters"] == "1;;;0" and perf["failovers"] == "1;;;0"
    assert perf["max_gap"] == "4.694s;5;;0" and perf["adverts"] == "12c;;;0"


def test_a_split_brain_counts_two_masters():
    _, out = invoke("-r", str(ROOT / "captures" / "passphrase-mismatch.pcap"), "-p", "s3cret")
    assert "masters=2;" in out and "split_brains=1;" in out


def test_thresholds_expected_master_and_gap():
    failover = str(ROOT / "captures" / "failover.pcap")
    assert invoke("-r", failover, "--expect-master", "1=192.0.2.2")[0] == check.OK
    rc, out = invoke("-r", failover, "--expect-master", "1=192.0.2.1")
    assert rc == check.WARNING and "CARP vhid 1 master is 192.0.2.2, expected 192.0.2.1" in out
    rc, out = invoke("-r", failover, "--max-gap", "4")
    assert rc == check.WARNING and "failover gap 4.69s on CARP vhid 1 (192.0.2.1 to 192.0.2.2) above 4s" in out
    rc, out = invoke("-r", failover, "--expect-master", "9=192.0.2.1")
    assert rc == check.CRITICAL and "no advertisement for vhid/vrid 9" in out


@pytest.mark.parametrize("args, says", [
    ((), "check needs either -r FILE or -i IFACE"),
    (("--bogus",), "No such option"),
    (("-r",), "requires an argument"),
    (("-r", "x.pcap", "-i", "eth0"), "either -r FILE or -i IFACE"),
    (("-r", "x.pcap", "--max-gap", "-1"), "--max-gap"),
    (("-r", "x.pcap", "--expect-master", "1=nope"), "'nope' is not an IP address"),
    (("-r", "x.pcap", "--expect-master", "300=192.0.2.1"), "VHID 1-255"),
    (("-i", "lo", "--duration", "0"), "--duration"),
])
def test_usage_errors_are_unknown_not_click_s_2(args, says):
    rc, out = invoke(*args)
    assert rc == check.UNKNOWN and out.startswith("CARPSCOPE UNKNOWN - ") and says in out, out
    assert out.count("\n") == 1


def test_unreadable_or_garbage_files_are_unknown(tmp_path):
    rc, out = invoke("-r", str(tmp_path / "missing.pcap"))
    assert rc == check.UNKNOWN and "No such file or directory" in out
    (tmp_path / "junk.pcap").write_bytes(b"not a capture at all")
    rc, out = invoke("-r", str(tmp_path / "junk.pcap"))
    assert rc == check.UNKNOWN and out.startswith("CARPSCOPE UNKNOWN - ")
    rc, out = invoke("-r", str(ROOT / "captures" / "failover.pcap"), "--pass-file", str(tmp_path / "nope"))
    assert rc == check.UNKNOWN and "--pass-file" in out


def test_a_truncated_capture_is_judged_on_what_it_holds(tmp_path):
    cut = tmp_path / "cut.pcap"
    cut.write_bytes((ROOT / "captures" / "failover.pcap").read_bytes()[:700])
    rc, out = invoke("-r", str(cut), "-p", "s3cret")
    assert rc == check.WARNING and "truncated capture" in out and "groups=1;" in out


def test_a_missing_interface_is_unknown():
    rc, out = invoke("-i", "nosuch0", "--duration", "1")
    assert rc == check.UNKNOWN and "nosuch0: no such interface" in out


def test_nothing_advertising_is_a_warning(tmp_path):
    empty = tmp_path / "empty.pcap"
    empty.write_bytes((ROOT / "captures" / "failover.pcap").read_bytes()[:24])  # the file header alone
    rc, out = invoke("-r", str(empty))
    assert rc == check.WARNING and "no CARP or VRRP advertisement seen" in out


def test_the_line_is_one_line_without_a_pipe_or_control_bytes():
    assert check.unknown("bad\nthing | \x1b[31mred") == "CARPSCOPE UNKNOWN - bad thing / \\x1b[31mred"


def test_an_interface_name_that_is_not_utf8_or_hostile_is_unknown_and_escaped():
    import os
    import subprocess
    import sys

    for name in (b"e\xffth0", b"eth0\x1b[2J"):
        result = subprocess.run([sys.executable, "-m", "carpscope", "check", "-i", name, "--duration", "1"],
                                capture_output=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                                timeout=60)
        assert result.returncode == check.UNKNOWN and b"Traceback" not in result.stderr, result.stderr
        assert result.stdout.startswith(b"CARPSCOPE UNKNOWN - ") and b"\x1b" not in result.stdout
        assert b"no such interface" in result.stdout
