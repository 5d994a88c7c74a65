"""Prometheus metrics of `live --metrics` (issue 16): families from a pipeline fed with a
capture, the bounds a months-long probe keeps, the shipped alert rules.

The lab test (real ucarp peers, a real Prometheus scraping carpscope inside the lab's
namespaces) is in test_metrics_lab.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import prometheus_client
import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import stacks
from carpscope import cli, metrics, shell
from carpscope.capture import files
from carpscope.check import Quiet
from carpscope.model import Frame, Tick
from carpscope.serve import parse_listen

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "contrib" / "prometheus" / "carpscope.rules.yml"


def fed(name: str, *passes: str, probe: metrics.Probe | None = None):
    """A pipeline that read captures/NAME the way live feeds one, through the metrics tap."""
    pipeline = cli.build_pipeline(passes, None, (), None, "auto")
    probe = probe or metrics.Probe("eth0")
    shell.run(files.frames(files.open_sources([str(ROOT / "captures" / name)], None)), pipeline,
            metrics.Tap(Quiet(), probe), None, None)
    return pipeline, probe


def samples(families) -> dict[tuple, float]:
    """{(sample name, sorted labels...): value} through the text exposition, as Prometheus reads it."""
    exporter = metrics.Exporter(None)
    exporter._families = families
    registry = CollectorRegistry(auto_describe=False)
    registry.register(exporter)
    text = generate_latest(registry).decode()
    return {(s.name, *sorted(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def group(proto="carp", id_="1", **more):
    return tuple(sorted((("family", "4"), ("id", id_), ("interface", "eth0"), ("proto", proto), ("vlan", ""),
                         *more.items())))


def pick(found: dict, name: str, **labels) -> float:
    (value,) = [v for k, v in found.items() if k[0] == name and all((label, x) in k[1:] for label, x in labels.items())]
    return value


def test_a_failover_master_gauge_gap_and_verdicts():
    pipeline, probe = fed("failover.pcap", "s3cret")
    found = samples(probe.families(pipeline, pipeline.last_time, (20, 1, 2)))
    assert pick(found, "carpscope_group_master", member="192.0.2.1") == 0
    assert pick(found, "carpscope_group_master", member="192.0.2.2") == 1
    assert pick(found, "carpscope_group_advertising_masters") == 1
    assert pick(found, "carpscope_group_split_brain") == 0
    assert pick(found, "carpscope_group_master_changes_total") == 1
    assert pick(found, "carpscope_group_failover_gap_seconds") == pytest.approx(4.6937, abs=1e-3)
    last_change = next(e.time for e in reversed(pipeline.events) if e.kind == "master-changed")
    assert pick(found, "carpscope_group_master_change_age_seconds") == pytest.approx(pipeline.last_time - last_change)
    assert pick(found, "carpscope_member_adverts_total", member="192.0.2.1") == 8
    assert pick(found, "carpscope_member_signatures_total", member="192.0.2.2", verdict="ok") == 4
    assert not [k for k in found if k[0] == "carpscope_findings_total"]
    assert found[("carpscope_adverts_total", ("interface", "eth0"))] == 12
    assert found[("carpscope_frames_received_total", ("interface", "eth0"))] == 20
    assert found[("carpscope_frames_dropped_total", ("interface", "eth0"))] == 3
    assert found[("carpscope_series_dropped", ("interface", "eth0"))] == 0
    assert ("carpscope_group_master", *group(member="192.0.2.2")) in found


def test_a_wrong_passphrase_split_brain_bad_signatures_findings():
    pipeline, probe = fed("passphrase-mismatch.pcap", "s3cret")
    found = samples(probe.families(pipeline, pipeline.last_time))
    assert pick(found, "carpscope_group_split_brain") == 1
    assert pick(found, "carpscope_group_advertising_masters") == 2
    assert pick(found, "carpscope_member_signatures_total", member="192.0.2.2", verdict="bad") > 5
    assert pick(found, "carpscope_member_signatures_total", member="192.0.2.1", verdict="ok") > 5
    assert pick(found, "carpscope_findings_total", kind="split-brain", severity="critical") >= 1
    assert pick(found, "carpscope_findings_total", kind="hmac-failed", severity="critical") >= 1
    assert not [k for k in found if k[0] == "carpscope_frames_received_total"]  # offline: no pcap stats


def test_no_label_carries_a_passphrase_and_nothing_is_registered_globally():
    before = set(prometheus_client.REGISTRY._names_to_collectors)
    pipeline, probe = fed("passphrase-mismatch.pcap", "s3cret", "wr0ng-pass")
    found = samples(probe.families(pipeline, pipeline.last_time))
    assert pick(found, "carpscope_findings_total", kind="passphrase-mismatch", severity="critical") >= 1
    text = repr(found)
    assert "s3cret" not in text and "wr0ng" not in text
    assert set(prometheus_client.REGISTRY._names_to_collectors) == before


def test_caps_bound_groups_and_members_and_count_what_they_leave_out():
    pipeline, probe = fed("several-groups.pcap", "s3cret", "hunter2",
                          probe=metrics.Probe("eth0", max_groups=2, max_members=1))
    found = samples(probe.families(pipeline, pipeline.last_time))
    groups = {dict(k[1:])["id"] for k in found if k[0] == "carpscope_group_advertising_masters"}
    assert groups == {"1", "2"}  # (carp 1, carp 2, vrrp 10): the first two
    members = [k for k in found if k[0] == "carpscope_member_adverts_total"]
    assert len(members) == 2  # one a group
    # vrrp 10 left out, and one member of vhid 2 (B advertised, then A; vhid 1 only ever heard A)
    assert found[("carpscope_series_dropped", ("interface", "eth0"))] == 2
    assert not [k for k in found if dict(k[1:]).get("id") == "10"]


def test_silent_members_and_groups_age_out():
    pipeline, probe = fed("failover.pcap", "s3cret")
    end = pipeline.last_time
    later = samples(probe.families(pipeline, end + metrics.MEMBER_TTL + 1))
    assert {dict(k[1:])["member"] for k in later if k[0] == "carpscope_group_master"} == {"192.0.2.2"}
    # Live, ticks move time on: the silent master is declared down, then the group goes.
    pipeline.advance(end + 30)
    found = samples(probe.families(pipeline, end + 30))
    assert pick(found, "carpscope_group_advertising_masters") == 0  # what CarpNoMaster fires on
    gone = samples(probe.families(pipeline, end + metrics.GROUP_TTL + 1))
    assert not [k for k in gone if k[0].startswith("carpscope_group_")]
    assert probe.verdicts == {}


def test_parse_listen():
    assert parse_listen("9812") == ("0.0.0.0", 9812)
    assert parse_listen("127.0.0.1:9812") == ("127.0.0.1", 9812)
    assert parse_listen("[::1]:9812") == ("::1", 9812)
    for bad in ("", "0", "70000", "x:1", "::1:80", "9812x"):
        with pytest.raises(cli.UsageError):
            parse_listen(bad)


def test_a_bad_metrics_address_is_a_usage_error():
    result = CliRunner().invoke(cli.main, ["live", "lo", "--metrics", "nope:1"])
    assert result.exit_code == 2 and "'nope' is not an IP address" in result.output


# -- the alert rules that ship ----------------------------------------------------------------------


def test_promtool_checks_the_shipped_rules():
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian package prometheus, tests/bootstrap installs it) is missing"
    result = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 7 rules found" in result.stdout


def test_the_rules_cover_what_an_operator_wants():
    rules = {name: {"expr": expr} for name, expr in  # (promtool above checks it is valid YAML)
             re.findall(r"- alert: (\w+)\n\s+expr: (.+)", RULES.read_text())}
    assert set(rules) >= {"CarpSplitBrain", "CarpNoMaster", "CarpFlapping", "CarpSignatureFailures",
                          "CarpscopeProbeDown", "CarpscopeProbeDropping"}
    exported = {f.name for f in fed("passphrase-mismatch.pcap", "s3cret")[1].families(
        fed("passphrase-mismatch.pcap", "s3cret")[0], 0.0, (0, 0, 0))}
    for name, rule in rules.items():
        metric = rule["expr"].split("(")[-1].split("{")[0].split(" ")[0].split("[")[0]
        assert metric == "up" or metric.removesuffix("_total") in exported, (name, metric)


# -- a week on a busy segment: memory stays flat ---------------------------------------------------


def footprint(*roots) -> int:
    """Entries in every container reachable from the roots (dicts, lists, sets, deques, objects)."""
    seen, todo, total = set(), list(roots), 0
    while todo:
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, (str, bytes, int, float, bool, type(None), type)):
            continue
        seen.add(id(obj))
        if isinstance(obj, dict):
            total += len(obj)
            todo += list(obj.keys()) + list(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)) or type(obj).__name__ in ("deque", "OrderedDict"):
            total += len(obj)
            todo += list(obj)
        else:
            slots = [s for c in type(obj).__mro__ for s in getattr(c, "__slots__", ())]
            todo += [getattr(obj, s) for s in slots if hasattr(obj, s)]
            todo += list(getattr(obj, "__dict__", {}).values())
    return total


def probe_state(pipeline, probe, exporter) -> tuple[int, int]:
    """(entries in everything the probe keeps but the verifier's verdict cache, entries in that cache).

    The cache holds two generations of at most 4096 verdicts and swaps them (auth.py): it goes up
    and down within its bound, so it is measured apart; everything else must not move at all.
    """
    verifier = pipeline.verifier
    cache = (verifier._recent, verifier._older)
    rest = [pipeline.tracker, pipeline._templates, pipeline.events, pipeline.findings, pipeline._failing,
            pipeline._bad, probe, exporter]
    rest += [getattr(verifier, name) for name in getattr(type(verifier), "__slots__", ())
             if hasattr(verifier, name) and getattr(verifier, name) not in cache]
    rest += [v for v in vars(verifier).values() if v not in cache] if hasattr(verifier, "__dict__") else []
    return footprint(*rest), max(len(c) for c in cache)


def simulate(groups: int, seconds: int, checkpoints: int):
    """Feed a generated segment through what `live --metrics` runs: the pipeline, the metrics tap,
    a tick when a second's frames are drained, a publish every 15 s. The probe's state at each checkpoint."""
    pipeline = cli.build_pipeline(("s3cret",), None, (), None, "auto")
    probe = metrics.Probe("sim")
    exporter = metrics.Exporter(probe)
    every = seconds // checkpoints
    sizes, published = [], [0.0]

    def stream():
        second = None
        for number, (t, data) in enumerate(stacks.steady_segment(groups, seconds), 1):
            if second is not None and int(t) != second:
                yield Tick(t - 0.5)
            second = int(t)
            yield Frame(number, t, 1, data, len(data))

    def step(item) -> bool:
        if isinstance(item, Tick) and item.now - published[0] >= 15:
            published[0] = item.now
            exporter.publish(pipeline, item.now, (pipeline.adverts, 0, 0))
            if int(item.now - stacks.T0) // every > len(sizes):
                sizes.append(probe_state(pipeline, probe, exporter))
        return False

    shell.run(stream(), pipeline, metrics.Tap(Quiet(), probe), None, None, step)
    return pipeline, exporter, sizes


def test_memory_stays_flat_on_a_busy_segment():
    """50 groups at 1 advert/s. A week (30M adverts) takes minutes, so the test runs 40 minutes of
    it (120,000 adverts), with a checkpoint every 5 minutes: every bound is reached before the first
    (the replay memory of 256 counters a member fills in 256 s), so what grows with time would show
    between any two. bench/probe.py runs longer spans and prints the process's memory."""
    pipeline, exporter, sizes = simulate(50, 2400, 8)
    assert pipeline.adverts >= 50 * 2399 and len(sizes) == 7
    assert len(pipeline.events) == 50 and len(pipeline.tracker.snapshot().groups) == 50
    kept, cache = zip(*sizes)
    assert len(set(kept)) == 1, kept  # not one entry more after 5 minutes than after 35
    assert max(cache) <= 4096, cache
    assert len(list(exporter.collect())) == 13
    assert len(exporter.probe.verdicts) == 50


def test_metrics_and_check_are_pure():
    """No capture library, CLI, clock, socket or thread in what computes metrics and states (principle 1)."""
    import ast

    for path in (ROOT / "carpscope" / "metrics.py", ROOT / "carpscope" / "check.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                names = {(node.module or "").split(".")[0]}
            else:
                continue
            assert not names & {"pcapy", "click", "time", "sys", "socket", "threading", "os"}, (path.name, names)


def test_the_systemd_unit_runs_a_probe_without_root():
    unit = (ROOT / "contrib" / "systemd" / "carpscope-probe.service").read_text()
    settings = dict(line.split("=", 1) for line in unit.splitlines() if "=" in line and not line.startswith("#"))
    assert settings["DynamicUser"] == "yes" and "User" not in settings
    assert set(settings["AmbientCapabilities"].split()) == {"CAP_NET_RAW", "CAP_NET_ADMIN"}
    assert settings["CapabilityBoundingSet"] == settings["AmbientCapabilities"]
    argv = settings["ExecStart"].split()
    assert argv[1:3] == ["live", "${IFACE}"] and "--metrics" in argv and "-q" in argv
    live_options = {o for p in cli.live.params for o in p.opts}
    assert {a for a in argv if a.startswith("-")} <= live_options


def test_a_hostile_segment_cannot_grow_the_series_or_the_probe():
    """300 invented VRRP groups (vrid x VLAN), each from 12 invented routers: the export stays at the
    caps, the rest is counted, and the probe's own state follows what it exports."""
    pipeline = cli.build_pipeline((), None, (), None, "auto")
    probe = metrics.Probe("eth0")
    frames = []
    for n in range(300 * 12):
        vrid, vlan, router = 1 + n % 150, 10 + (n // 150) % 2, n // 300
        src = "10.%d.%d.%d" % (vlan, vrid, 1 + router)
        frames.append(stacks.ip_frame("02:00:00:00:%02x:%02x" % (vrid, router), src, "224.0.0.18", 112,
                                      stacks.vrrp2(vrid, 100 + router, ["198.51.100.1"]), vlan=vlan))
    stream = (Frame(i, stacks.T0 + i * 1e-3, 1, data, len(data)) for i, data in enumerate(frames, 1))
    shell.run(stream, pipeline, metrics.Tap(Quiet(), probe), None, None)
    assert len(pipeline.tracker.snapshot().groups) == 300
    found = samples(probe.families(pipeline, pipeline.last_time))
    groups = [k for k in found if k[0] == "carpscope_group_advertising_masters"]
    members = [k for k in found if k[0] == "carpscope_member_adverts_total"]
    assert len(groups) == metrics.MAX_GROUPS
    assert len(members) == metrics.MAX_GROUPS * metrics.MAX_MEMBERS
    dropped = found[("carpscope_series_dropped", ("interface", "eth0"))]
    assert dropped == (300 - metrics.MAX_GROUPS) + metrics.MAX_GROUPS * (12 - metrics.MAX_MEMBERS)
    assert len(found) < 12 * metrics.MAX_GROUPS * metrics.MAX_MEMBERS
    assert len(probe._history) <= metrics.MAX_GROUPS


@pytest.mark.parametrize("quiet", [False, True])
def test_the_tap_leaves_the_output_as_it_was(quiet):
    """live --metrics shows the same JSON as live without it (the tap only counts)."""
    import io

    from carpscope import output

    def document(tapped: bool) -> str:
        out = io.StringIO()
        sink = output.JsonDocumentSink(out, quiet)
        if tapped:
            sink = metrics.Tap(sink, metrics.Probe("eth0"))
        pipeline = cli.build_pipeline(("s3cret",), None, (), None, "auto")
        shell.run(files.frames(files.open_sources([str(ROOT / "captures" / "passphrase-mismatch.pcap")], None)),
                pipeline, sink, None, None)
        sink.close(pipeline.summary(), pipeline.tracker.snapshot())
        return out.getvalue()

    assert document(True) == document(False)
