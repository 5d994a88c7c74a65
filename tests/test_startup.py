"""Start-up of the common read (issue 19): `read -q` of one plain file imports only what it uses.

Every module imported costs the run its loading (and a dataclass its generated code)
before the first frame; what a quiet text report of one file never needs is
imported where it is needed instead. Each listed module is checked after a real run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FAILOVER = ROOT / "captures" / "failover.pcap"
ONEWAY = [ROOT / "captures" / "oneway-fw1.pcap", ROOT / "captures" / "oneway-fw2.pcap"]

# Not needed by `read -q FILE`, text: the vantage merger (several files, Linux `any`), the JSON
# encoder (-T json), the -w writer, the pcapng walker and gzip (mixed link types, .gz) and
# the big-file scanner.
NOT_AT_START = {"carpscope.multipoint", "carpscope.vantage", "statistics", "json", "carpscope.capture.writer",
                "carpscope.capture.pcapng", "gzip", "carpscope.capture.scan"}

PROBE = ("import atexit, sys\n"
         "atexit.register(lambda: print(' '.join(sys.modules), file=sys.stderr))\n"
         "from carpscope.cli import main\n"
         "sys.argv = ['carpscope', *sys.argv[1:]]\n"
         "main()\n")


def imported(*args: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env,
                          timeout=60)
    return done, set(done.stderr.split())


def test_a_quiet_read_of_one_file_imports_none_of_what_it_does_not_use():
    done, modules = imported("read", "-q", "--pass", "s3cret", str(FAILOVER))
    assert done.returncode == 0 and "master-changed" in done.stdout
    assert "carpscope.pipeline" in modules  # (the probe sees the run's modules)
    assert not modules & NOT_AT_START, sorted(modules & NOT_AT_START)


@pytest.mark.parametrize("args, needed", [
    (["-T", "json"], {"json"}),
    (["-w", "{tmp}/out.pcap"], {"carpscope.capture.writer"}),
    ([*map(str, ONEWAY)], {"carpscope.multipoint", "carpscope.vantage"}),
])
def test_what_an_option_needs_is_imported_when_it_is_given(tmp_path, args, needed):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    files = [] if any(a.endswith("oneway-fw2.pcap") for a in args) else [str(FAILOVER)]
    done, modules = imported("read", "-q", "--pass", "s3cret", *args, *files)
    assert done.returncode == 0, done.stderr[-500:]
    assert needed <= modules


def test_the_advert_base_generates_none_of_the_methods_its_records_define():
    """Advert is only a base: CarpAdvert and VrrpAdvert generate their own methods, so it compiles none."""
    from carpscope.model import Advert, CarpAdvert, VrrpAdvert

    for name in ("__init__", "__repr__", "__eq__", "__hash__"):
        assert name not in Advert.__dict__
        assert name in CarpAdvert.__dict__ and name in VrrpAdvert.__dict__
    fields = {"frame": 1, "time": 2.0, "family": 4, "src": "192.0.2.1", "dst": "224.0.0.18", "src_mac": None,
              "dst_mac": None, "vlan": (), "ttl": 255, "length": 36, "caplen": 36, "why": "shape", "vhid": 1}
    one, two = CarpAdvert(**fields), CarpAdvert(**fields)
    assert one == two and hash(one) == hash(two) and one is not two
    assert repr(one).startswith("CarpAdvert(frame=1, time=2.0, family=4, ") and "vhid=1" in repr(one)
