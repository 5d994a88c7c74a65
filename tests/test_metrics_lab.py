"""`carpscope live --metrics` scraped by a real Prometheus, and `carpscope check -i`, in the lab.

ucarp peers in namespaces (tests/lab.py); carpscope captures on the lab's bridge and serves
its metrics on an address of the bridge (192.0.2.254, inside the bridge namespace); Debian's
prometheus runs in the same namespace with a temporary config and database, the shipped
rules and a 1 s evaluation interval, listening on the namespace's own loopback. Every query
goes through Prometheus's HTTP API from inside the namespace: nothing binds or sends outside.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from lab import Lab, require_lab, run

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "contrib" / "prometheus" / "carpscope.rules.yml"
PASS, WRONG, VIP = "lab-s3cret", "wr0ng-pass", "192.0.2.50"
A, B, PROBE = "192.0.2.1", "192.0.2.2", "192.0.2.254"
METRICS, WEB = f"{PROBE}:9812", "127.0.0.1:9090"

CONFIG = """\
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ['{rules}']
scrape_configs:
  - job_name: carpscope
    static_configs:
      - targets: ['{target}']
"""

_QUERY = f"""\
import json, sys, urllib.parse, urllib.request
path = sys.argv[1]
with urllib.request.urlopen('http://{WEB}' + path, timeout=5) as r:
    sys.stdout.write(r.read().decode())
"""


class Prometheus:
    """Prometheus's HTTP API, asked from inside the namespace."""

    def __init__(self, netns: str):
        self.netns = netns

    def get(self, path: str) -> dict | None:
        result = subprocess.run(["ip", "netns", "exec", self.netns, sys.executable, "-c", _QUERY, path],
                                capture_output=True, text=True, timeout=15)
        return json.loads(result.stdout) if result.returncode == 0 and result.stdout else None

    def query(self, expr: str) -> list:
        from urllib.parse import quote

        doc = self.get("/api/v1/query?query=" + quote(expr))
        return doc["data"]["result"] if doc and doc.get("status") == "success" else []

    def firing(self) -> set[str]:
        doc = self.get("/api/v1/alerts")
        alerts = doc["data"]["alerts"] if doc else []
        return {a["labels"]["alertname"] for a in alerts if a["state"] == "firing"}

    def wait(self, what, timeout: float):
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = what()
            if got:
                return got
            time.sleep(0.5)
        return None


def master(prom: Prometheus) -> set[str]:
    return {r["metric"]["member"] for r in prom.query('carpscope_group_master{proto="carp",id="1"} == 1')}


def start(netns: str, *argv: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(["ip", "netns", "exec", netns, *argv], cwd=ROOT, stdin=subprocess.DEVNULL, **kwargs)


def check(netns: str, duration: float) -> subprocess.Popen:
    return start(netns, sys.executable, "-m", "carpscope", "check", "-i", "br0", "--duration", str(duration),
                 "-p", PASS, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def packet_sockets(netns: str) -> int:
    """Packet sockets open in the namespace (/proc/net/packet): one per running capture."""
    return len(run("ip", "netns", "exec", netns, "cat", "/proc/net/packet").splitlines()) - 1


def wait_capturing(netns: str, count: int, timeout: float = 20) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if packet_sockets(netns) >= count:
            return True
        time.sleep(0.1)
    return False


def test_prometheus_follows_a_failover_and_alerts_on_a_split_brain(tmp_path):
    require_lab()
    prometheus = shutil.which("prometheus")
    assert prometheus, "prometheus (Debian package, tests/bootstrap installs it) is missing"
    started: list[subprocess.Popen] = []
    with Lab() as lab:
        try:
            ns = lab.bridge_ns
            run("ip", "-n", ns, "addr", "add", f"{PROBE}/24", "dev", "br0")
            a, b = lab.host("a", A), lab.host("b", B)
            pa = lab.ucarp(a, vhid=1, password=PASS, vip=VIP)
            assert pa.wait_for("MASTER", timeout=8), pa.text()
            lab.ucarp(b, vhid=1, password=PASS, vip=VIP, advskew=100)

            # The children write their logs until the lab ends: no `with` around the files.
            log = open(tmp_path / "carpscope.out", "w")  # noqa: SIM115
            started.append(start(ns, sys.executable, "-m", "carpscope", "live", "br0", "-q", "-p", PASS,
                                 "--metrics", METRICS, stdout=log, stderr=subprocess.STDOUT))
            (tmp_path / "prometheus.yml").write_text(CONFIG.format(rules=RULES, target=METRICS))
            prom_log = open(tmp_path / "prometheus.out", "w")  # noqa: SIM115
            started.append(start(ns, prometheus, f"--config.file={tmp_path / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address={WEB}",
                                 stdout=prom_log, stderr=subprocess.STDOUT))
            prom = Prometheus(ns)
            assert prom.wait(lambda: master(prom) == {A}, 30), (tmp_path / "prometheus.out").read_text()[-2000:]
            assert prom.query('up{job="carpscope"} == 1')
            assert prom.query('carpscope_frames_received_total{interface="br0"} > 0')  # libpcap's stats
            assert prom.query('carpscope_member_signatures_total{member="%s",verdict="ok"} > 0' % A)

            # The port is taken: a second probe cannot serve there, and says so in one line (exit 4),
            # before its JSON document starts.
            taken = start(ns, sys.executable, "-m", "carpscope", "live", "br0", "-T", "json", "--metrics", METRICS,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            out, err = taken.communicate(timeout=20)
            assert (taken.returncode, out) == (4, ""), (out, err)
            assert err.startswith(f"carpscope: --metrics {METRICS}: ") and err.count("\n") == 1, err

            # A failover: the master metric follows it; a check window around it says OK.
            probes = packet_sockets(ns)  # the probe's
            during = check(ns, 12)
            assert wait_capturing(ns, probes + 1)  # the check captures (python starts slowly on a busy CI)
            time.sleep(1.5)  # and hears A
            pa.kill()
            assert prom.wait(lambda: master(prom) == {B}, 20), prom.query("carpscope_group_master")
            gap = prom.query('carpscope_group_failover_gap_seconds{id="1"}')
            assert gap and 3 < float(gap[0]["value"][1]) < 8, gap
            out, err = during.communicate(timeout=20)
            assert during.returncode == 0, (out, err)
            assert out.startswith("CARPSCOPE OK - ") and "failovers=1;" in out, out

            # A comes back with a wrong passphrase: both advertise, the split-brain alert fires.
            pa2 = lab.ucarp(a, vhid=1, password=WRONG, vip=VIP)
            assert pa2.wait_for("MASTER", timeout=10), pa2.text()
            assert prom.wait(lambda: "CarpSplitBrain" in prom.firing(), 20), prom.get("/api/v1/alerts")
            assert "CarpSignatureFailures" in prom.firing()
            assert master(prom) == {A, B} or prom.query("carpscope_group_advertising_masters >= 2")
            split = check(ns, 6)
            out, err = split.communicate(timeout=20)
            assert split.returncode == 2, (out, err)
            # Both advertise; A's adverts fail: critical whichever of the two findings heads the line.
            assert out.startswith("CARPSCOPE CRITICAL - ") and "masters=2;" in out, out
            assert "split brain on CARP vhid 1" in out or f"hmac failed on CARP vhid 1 ({A})" in out, out
        finally:
            for proc in started:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(10)
    text = (tmp_path / "carpscope.out").read_text()
    assert PASS not in text and WRONG not in text
