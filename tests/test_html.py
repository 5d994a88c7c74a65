"""--html and the timeline pictures (issue 17).

Each capture in captures/ is rendered to HTML by the CLI and opened in a real headless
browser (Debian's chromium): its screenshot goes where a reviewer can open it
($CARPSCOPE_ARTIFACTS, else tests/artifacts/), and the DOM the browser dumps is checked
against the events of the same run (JSON): one lane per group, a master bar per
mastership that starts and ends where the events say (to the pixel), the gap and
split-brain marks where the report has them, markers that link to their table rows. A
hostile capture and file name give a page with nothing to execute. The terminal strip
is checked at 80 columns and in colour.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

import stacks
from carpscope.election.events import Event, GroupState, Member, Snapshot
from carpscope.model import Finding, GroupKey, Severity
from carpscope.views import html as html_view
from carpscope.views import periods, report, strip
from carpscope.views.text import escape

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = sorted((ROOT / "captures").glob("*.pcap"))
ARTIFACTS = Path(os.environ.get("CARPSCOPE_ARTIFACTS") or ROOT / "tests" / "artifacts")
PASSES = ["-p", "s3cret", "-p", "hunter2"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
OPENS = ("master-elected", "master-changed", "split-brain-started")


def carpscope(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "carpscope", *map(str, args)], capture_output=True, text=True,
                          env=ENV, timeout=120, check=False, **kwargs)


def browse(page: Path, png: Path, profile: Path) -> str:
    """The DOM chromium builds from the page (and its screenshot, in the same launch)."""
    chromium = shutil.which("chromium")
    assert chromium, "chromium is not installed (tests/bootstrap installs it)"
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    done = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           f"--user-data-dir={profile}", f"--screenshot={png}", "--dump-dom",
                           "--window-size=1400,900", page.as_uri()],
                          capture_output=True, text=True, timeout=180, env={**os.environ, "HOME": str(profile)},
                          check=False)
    assert done.returncode == 0 and "<svg" in done.stdout, done.stderr[-2000:]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return done.stdout


class Dom(HTMLParser):
    """Every element of the dumped DOM with its attributes, parent chain and text."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[dict] = []
        self.stack: list[dict] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        el = {"tag": tag, "attrs": dict(attrs), "parents": list(self.stack), "text": ""}
        self.elements.append(el)
        if tag not in ("meta", "br", "img", "input", "link", "path", "line") and not tag.endswith("/"):
            self.stack.append(el)

    def handle_startendtag(self, tag, attrs):
        self.elements.append({"tag": tag, "attrs": dict(attrs), "parents": list(self.stack), "text": ""})

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i]["tag"] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        for el in self.stack:
            el["text"] += data

    def find(self, tag: str | None = None, cls: str | None = None) -> list[dict]:
        return [e for e in self.elements if (tag is None or e["tag"] == tag)
                and (cls is None or cls in e["attrs"].get("class", "").split())]


def scale_of(svg: dict):
    """The page's time → pixel map, from the spans it declares on the <svg>."""
    spans = json.loads(svg["attrs"]["data-scale"])

    def x(t: float) -> float:
        for t0, t1, x0, x1, _ in spans:
            if t <= t1:
                return x0 if t <= t0 else x0 + (x1 - x0) * (t - t0) / ((t1 - t0) or 1)
        return spans[-1][3]

    busy = [(x1 - x0) / (t1 - t0) for t0, t1, x0, x1, quiet in spans if not quiet and t1 > t0]
    return x, 1 / max(busy)  # seconds a pixel at the finest


def group_label(e: dict) -> str:
    return report.group_name(e["proto"], e["id"], e["family"], tuple(e["vlan"]))


@pytest.mark.parametrize("capture", CAPTURES, ids=[c.name for c in CAPTURES])
def test_each_capture_in_a_browser(capture, tmp_path):
    page = tmp_path / f"{capture.stem}.html"
    run = carpscope("read", "-q", capture, *PASSES, "--html", page)
    assert run.returncode in (0, 1, 3), run.stderr
    doc = json.loads(carpscope("read", "-q", "-T", "json", capture, *PASSES).stdout)
    dom = Dom(browse(page, ARTIFACTS / f"{capture.stem}.png", tmp_path / "profile"))
    assert not dom.find("script")
    svg = dom.find("svg", None)[0]
    x, pixel = scale_of(svg)
    slack = 1.01 * pixel  # a pixel's worth of time

    lanes = dom.find("g", "lane")
    assert [lane["attrs"]["data-group"] for lane in lanes] == \
        [report.group_name(g["proto"], g["id"], g["family"], tuple(g["vlan"])) for g in doc["groups"]]
    for lane, group in zip(lanes, doc["groups"]):
        name = lane["attrs"]["data-group"]
        events = [e for e in doc["events"] if group_label(e) == name]
        inside = [el for el in dom.elements if lane in el["parents"]]
        bars = [(b["attrs"]["data-member"], float(b["attrs"]["data-start"]), float(b["attrs"]["data-end"]),
                 float(b["attrs"]["x"]), float(b["attrs"]["width"])) for b in inside if b["tag"] == "rect"
                and "bar" in b["attrs"].get("class", "")]
        # A bar per mastership: one per event that made a member master, starting at its time.
        opened = sorted((e["to"], e["time"]) for e in events if e["kind"] in OPENS)
        got = sorted((m, s) for m, s, *_ in bars)
        assert [m for m, _ in got] == [m for m, _ in opened], name
        assert all(abs(a[1] - b[1]) < 1e-6 for a, b in zip(got, opened)), (got, opened)
        # ... ending where the events say the member stopped advertising.
        for e in events:
            if e["kind"] == "master-changed" and e["gap"] is not None:
                ends = [b for b in bars if b[0] == e["from"] and abs(b[2] - (e["time"] - e["gap"])) < slack]
                assert ends, (name, e)
            if e["kind"] == "master-down":
                assert [b for b in bars if b[0] == e["from"] and abs(b[2] - (e["time"] - e["expected"])) < slack]
            if e["kind"] == "split-brain-ended":
                assert [b for b in bars if b[0] == e["from"] and abs(b[2] - e["time"]) < slack]
        # A member still master at the end is drawn to the end of the capture.
        if group["master"]:
            last = max(m["last"] for m in group["members"] if m["addr"] == group["master"])
            assert any(b[0] == group["master"] and b[2] >= last - 1e-6 for b in bars)
        # To the pixel: where each bar is drawn is where its times fall on the page's scale.
        for _member, start, end, bx, width in bars:
            assert abs(bx - x(start)) < 0.51 and abs(bx + width - max(x(end), x(start) + 2)) < 0.51

        gaps = [(float(g["attrs"]["data-start"]), float(g["attrs"]["data-end"])) for g in inside
                if g["tag"] == "g" and "gap" in g["attrs"].get("class", "").split()]
        splits = [(float(g["attrs"]["data-start"]), float(g["attrs"]["data-end"])) for g in inside
                  if g["tag"] == "g" and "split" in g["attrs"].get("class", "").split()]
        timed = [e for e in events if e["kind"] == "master-changed" and (e["gap"] or 0) >= periods.MIN_GAP]
        for e in timed:  # the no-master gap of every takeover that took time, end to end
            assert any(abs(a - (e["time"] - e["gap"])) < slack and abs(b - e["time"]) < 1e-6 for a, b in gaps), e
        for e in (e for e in events if e["kind"] == "master-down"):
            assert any(a - slack <= e["time"] <= b + slack for a, b in gaps), e
        assert len(gaps) == len(timed) + sum(1 for e in events if e["kind"] == "master-down"
                                             and not any(t["from"] == e["from"] and t["time"] > e["time"]
                                                         for t in timed))
        for e in events:
            if e["kind"] == "split-brain-started":
                assert any(abs(a - e["time"]) < 1e-6 for a, _ in splits), e
            if e["kind"] == "split-brain-ended":
                assert any(abs(b - e["time"]) < 1e-6 for _, b in splits), e
        assert len(splits) == sum(1 for e in events if e["kind"] == "split-brain-started")
        if not splits:
            assert all(b[2] <= c[1] + 1e-9 or c[2] <= b[1] + 1e-9 for b in bars for c in bars
                       if b is not c and b[0] != c[0])

    # Markers: one per event and per timed finding, each a link to its row, its frame in its hover text.
    ids = {e["attrs"]["id"] for e in dom.elements if "id" in e["attrs"]}
    markers = dom.find("a", "event")
    assert len(markers) == len(doc["events"])
    for a in markers:
        assert a["attrs"]["href"].lstrip("#") in ids
        title = next(el for el in dom.elements if el["tag"] == "title" and a in el["parents"])
        if a["attrs"]["data-frame"]:
            assert f"frame {a['attrs']['data-frame']}" in title["text"]
    timed_findings = [f for f in doc["findings"] if f.get("time") is not None]
    assert len(dom.find("a", "finding")) == len(timed_findings)
    assert all(a["attrs"]["href"].lstrip("#") in ids for a in dom.find("a", "finding"))
    assert len(dom.find("tr")) >= len(doc["events"]) + len(doc["findings"])


def test_failover_gap_label_and_picture(tmp_path):
    """The failover of captures/failover.pcap: A, a 4.69 s gap labelled against 3.39 s, then B. Its
    screenshot is the README's picture (docs/failover-timeline.png, copied from the artifacts)."""
    page = tmp_path / "failover.html"
    assert carpscope("read", "-q", "captures/failover.pcap", "-p", "s3cret", "--html", page, cwd=ROOT).returncode == 0
    dom = Dom(browse(page, ARTIFACTS / "failover-timeline.png", tmp_path / "profile"))
    labels = [t["text"] for t in dom.find("text", "mark-label")]
    assert labels == ["gap 4.69s, expected 3.39s"]
    assert [b["attrs"]["data-member"] for b in dom.find("rect", "bar")] == ["192.0.2.1", "192.0.2.2"]
    assert [p["text"] for p in dom.find("p", "source")] == ["captures/failover.pcap"]
    assert (ROOT / "docs" / "failover-timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_hostile_capture_and_file_name_execute_nothing(tmp_path):
    """VRRPv2 passwords `<script>` and `&lt;ESC[2J BEL`, a file name with markup, an entity and an
    ESC: the page holds no script and no element from the data, and shows the name as text."""
    name = 'hostile <b>bold &amp; <img src=x onerror="alert(1)"> \x1b[31m.pcap'  # no '/' in a file name
    capture = stacks.write_pcap(tmp_path / name, stacks.hostile_vrrp())
    packets = [json.loads(line) for line in carpscope("read", "-T", "jsonl", capture).stdout.splitlines()]
    assert {p.get("auth") for p in packets if p["type"] == "packet"} == {"<script>", "&lt;\x1b[2J"}
    page = tmp_path / "report.html"
    run = carpscope("read", "-q", capture, "--html", page)
    assert run.returncode == 0, run.stderr
    raw = page.read_text()
    assert "<script" not in raw.lower() and "<b>" not in raw and "<img" not in raw and "\x1b" not in raw
    assert 'http-equiv="Content-Security-Policy"' in raw and "script-src 'none'" in raw
    dom = Dom(browse(page, ARTIFACTS / "hostile.png", tmp_path / "profile"))
    assert not dom.find("script") and not dom.find("b") and not dom.find("img")
    assert not [e for e in dom.elements if any(k.startswith("on") for k in e["attrs"])]
    sources = [e["text"] for e in dom.find("p", "source")]
    assert sources == [escape(str(capture))] and "\\x1b[31m" in sources[0] and "<b>bold &amp;" in sources[0]
    assert dom.find("g", "split")  # the two passwords differ: a split brain, drawn


def test_long_quiet_capture_is_compressed():
    """Three hours of one master and a two-minute failover: the quiet hours are squeezed, the
    failover takes most of the width, and the axis ticks are in seconds around it."""
    s = _pipeline(stacks.long_quiet_failover())
    page = html_view.render(*s)
    dom = Dom(page)
    quiet = dom.find("g", "quiet")
    assert len(quiet) == 2
    gap = next(g for g in dom.find("g", "gap"))
    rect = next(e for e in dom.elements if e["tag"] == "rect" and gap in e["parents"])
    assert float(rect["attrs"]["width"]) > 0.5 * html_view.WIDTH
    ticks = [t["text"] for t in dom.elements if t["tag"] == "text" and any("axis" in p["attrs"].get("class", "")
                                                                            for p in t["parents"])]
    assert "13:07:00" in ticks and "2026-11-18" in ticks  # round times within the incident, and its date
    lines = strip.strip_lines(s[0], s[1], s[3], s[4], 80)
    row = next(report.layout.text(line) for line in lines if "CARP vhid 1" in report.layout.text(line))
    cells = row[len("  CARP vhid 1  "):]
    assert cells.count(".") > 0.5 * len(cells) and cells.startswith("A") and cells.endswith("B")
    assert "~" in report.layout.text(lines[-2]) and "compressed" in report.layout.text(lines[1])


def _pipeline(frames):
    from carpscope.cli import build_pipeline
    from carpscope.model import Frame

    p = build_pipeline(("s3cret",), None, (), None, "auto")
    for i, (t, data) in enumerate(frames, 1):
        p.feed(Frame(i, t, 1, data, len(data)))
    p.finish()
    return p.tracker.snapshot(), p.events, [(t.first, t.count) for t in p.tallies()], p.first_time, p.last_time


# -- the terminal strip ----------------------------------------------------------------------

def test_strip_at_80_columns_plain_and_in_colour():
    """captures/failover.pcap piped: A, a gap, B within 80 columns; in colour, the same columns as blocks."""
    out = carpscope("read", "-q", ROOT / "captures" / "failover.pcap", "-p", "s3cret").stdout
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("  Masters ("))
    assert lines.index("Timeline (3 events)") < at < lines.index("Findings (0), most severe first")
    row = lines[at + 1]
    assert len(row) == 80 and row.startswith("  CARP vhid 1  ")
    cells = row[len("  CARP vhid 1  "):]
    a, rest = cells.split(".", 1)
    assert set(a) == {"A"} and set(rest.strip(".")) == {"B"}
    # The gap's share of the columns is the gap's share of the capture (4.69 s of 15.87 s).
    assert abs(cells.count(".") / len(cells) - 4.69 / 15.87) < 0.03
    assert lines[at + 3].split() == ["A", "192.0.2.1", "B", "192.0.2.2", ".", "no", "master"]
    coloured = carpscope("read", "-q", "--color", "always", ROOT / "captures" / "failover.pcap", "-p", "s3cret").stdout
    assert "\x1b[32m" + "\u2588" * len(a) in coloured and "\u2591" * cells.count(".") in coloured


def test_strip_marks_split_brain_and_each_momentary_master():
    def strip(capture):
        out = carpscope("read", "-q", ROOT / "captures" / capture, "-p", "s3cret").stdout.splitlines()
        at = next(i for i, line in enumerate(out) if line.startswith("  Masters ("))
        return out[at + 1:at + 5]

    split = strip("passphrase-mismatch.pcap")
    assert split[0].startswith("  CARP vhid 1  A") and split[0].endswith("#") and "split brain" in split[2]
    collision = strip("vrrp-collision.pcap")
    vrrp = next(line for line in collision if line.startswith("  VRRP vrid 5"))
    assert vrrp.count("C") == 3  # D's three takeovers, each preempted at once, still show


def _vlans(n: int) -> tuple[list, list]:
    """CARP vhid 1 on VLANs 1..n, one member each, master from its first advert on (as hostile.py's vlans)."""
    groups, events = [], []
    for vid in range(1, n + 1):
        key = GroupKey("carp", 1, 4, (vid,))
        groups.append(GroupState(key, "192.0.2.1", 0.0, (Member("192.0.2.1", None, 1, None, None, 0, 1, "ok",
                                                                0.0, 9.0),), 9.0, None, (), None, None, None, ()))
        events.append(Event(vid / 100, vid, "carp", 1, "master-elected", to="192.0.2.1", family=4, vlan=(vid,)))
    return groups, events


def test_page_of_many_groups_sorts_events_to_lanes_once(monkeypatch):
    """4,096 groups, 10,000 events: each lane walked every event (`Event.key`: 41M GroupKeys, a minute)."""
    from carpscope.election import events as evs
    from counting import Counting

    groups, events = _vlans(200)
    counted = Counting(monkeypatch, evs, "GroupKey")
    dom = Dom(html_view.render(Snapshot(9.0, tuple(groups)), events, [], 0.0, 9.0))
    assert counted.calls["GroupKey"] < 1000  # (200 x 200 before)
    assert len(dom.find("g", "lane")) == 200
    assert len([e for e in dom.elements if "event" in e["attrs"].get("class", "").split()]) >= 200


def test_strip_survives_narrow_and_long_names():
    key = GroupKey("vrrp", 200, 6, (100, 200))
    g = GroupState(key, "fe80::1", 0.0, (Member("fe80::1", None, 1, None, None, 100, 3, "n/a", 0.0, 9.0),),
                   9.0, None, (), None, None, None, ("fe80::1",))
    events = [Event(0.0, 1, "vrrp", 200, "master-elected", to="fe80::1", family=6, vlan=(100, 200))]
    for width in (20, 30, 200):
        lines = strip.strip_lines(Snapshot(9.0, (g,)), events, 0.0, 9.0, width)
        assert all(len(report.layout.text(line)) <= max(width, 14) for line in lines)
        assert any("A" * 5 in report.layout.text(line) for line in lines)


def test_strip_of_many_groups_scales_the_time_axis_once(monkeypatch):
    """4,096 groups: every row recomputed each column's times (300,000 calls, a second of the report)."""
    from counting import Counting

    groups, events = _vlans(200)
    counted = Counting(monkeypatch, periods.Scale, "t")
    lines = strip.strip_lines(Snapshot(9.0, tuple(groups)), events, 0.0, 9.0, 80)
    assert counted.calls["t"] <= 2 * 80  # the columns' times, once, and the axis
    texts = [report.layout.text(line) for line in lines]
    assert sum("vhid 1" in t for t in texts) == 200  # each name, its row on the next line
    rows = [t for t in texts if t.startswith("    ") and set(t.strip()) <= {"A"}]
    assert len(rows) == 200 and all(row.endswith("A") for row in rows)


# -- the CLI ---------------------------------------------------------------------------------

def test_html_refusals(tmp_path):
    capture = ROOT / "captures" / "failover.pcap"
    copy = tmp_path / "c.pcap"
    copy.write_bytes(capture.read_bytes())
    run = carpscope("read", copy, "--html", copy)
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "that is the input" in run.stderr
    assert copy.read_bytes() == capture.read_bytes()
    run = carpscope("read", copy, "--html", tmp_path)
    assert run.returncode == 2 and "is a directory" in run.stderr
    run = carpscope("read", copy, "-w", tmp_path / "x", "--html", tmp_path / "x")
    assert run.returncode == 2 and "that is the -w file" in run.stderr
    run = carpscope("read", copy, "--html", tmp_path / "no" / "such" / "x.html")
    assert run.returncode == 3 and run.stdout == "" and run.stderr.count("\n") == 1
    assert "--html" in run.stderr and "No such file or directory" in run.stderr and "Traceback" not in run.stderr
    with open(tmp_path / "out", "w") as out:  # --html onto standard output
        run = subprocess.run([sys.executable, "-m", "carpscope", "read", str(copy), "--html", str(tmp_path / "out")],
                             stdout=out, stderr=subprocess.PIPE, text=True, env=ENV, timeout=60, check=False)
    assert run.returncode == 2 and "that is the standard output" in run.stderr


def test_html_written_after_ctrl_c(tmp_path):
    """read from a pipe, interrupted: the report, the HTML of what was read, exit 130."""
    frames = stacks.long_quiet_failover(hours=1, advbase=1)
    whole = stacks.write_pcap(tmp_path / "x.pcap", frames).read_bytes()
    page = tmp_path / "x.html"
    proc = subprocess.Popen([sys.executable, "-m", "carpscope", "read", "-q", "-", "-p", "s3cret", "--html", str(page)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    proc.stdin.write(whole[:200_000])  # more than the 64 KiB the stdin pump copies at once
    proc.stdin.flush()
    time.sleep(4)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert b"Masters (" in out
    text = page.read_text()
    assert "carpscope report" in text and 'data-group="CARP vhid 1"' in text


def test_live_writes_html_when_it_ends(tmp_path):
    if os.geteuid() != 0:
        pytest.fail("live capture needs root (the suite runs as root)")
    page = tmp_path / "live.html"
    run = carpscope("live", "lo", "--duration", "1", "-q", "--html", page)
    assert run.returncode == 0, run.stderr
    assert "live capture on lo" in page.read_text()


def test_no_passphrase_in_the_page(tmp_path):
    page = tmp_path / "p.html"
    carpscope("read", "-q", ROOT / "captures" / "passphrase-mismatch.pcap", "-p", "s3cret", "-p", "wr0ng-pass",
              "--html", page)
    text = page.read_text()
    assert "s3cret" not in text and "wr0ng-pass" not in text and "passphrase-mismatch" in text


def test_render_escapes_finding_details_and_needs_no_groups():
    f = Finding("hmac-failed", Severity.CRITICAL, 'hint <script>alert("x")</script> \x1b[2J', 1, 5.0, "carp", 1)
    page = html_view.render(Snapshot(5.0, ()), [], [(f, 2)], 5.0, 5.0, ["a<b>.pcap"])
    assert "<script>" not in page and "&lt;script&gt;" in page and "\\x1b[2J" in page and "\\\\x1b" not in page
    assert "\x1b" not in page
    assert "a&lt;b&gt;.pcap" in page and "no group to draw" in page
    assert html_view.render(Snapshot(None, ()), [], [], None, None).count("<svg xmlns") == 0


# -- the axis, the capture row, flapping -------------------------------------------------------

def _steady(span: float, n: int, t0: float = stacks.T0):
    """One master for `span` seconds, with n parameter changes spread evenly (nothing to compress)."""
    key = GroupKey("carp", 1, 4, ())
    events = [Event(t0, 1, "carp", 1, "master-elected", to="192.0.2.1")]
    events += [Event(t0 + span * i / n, i + 1, "carp", 1, "parameters-changed", from_="192.0.2.1")
               for i in range(1, n)]
    member = Member("192.0.2.1", None, 1, 0, 0, None, n, "ok", t0, t0 + span)
    g = GroupState(key, "192.0.2.1", t0, (member,), t0 + span, None, (), None, None, None, ("192.0.2.1",))
    return Snapshot(t0 + span, (g,)), events, [], t0, t0 + span


@pytest.mark.parametrize("span, n, shape", [
    (0.8, 4, r"\d\d:\d\d:\d\d\.\d"),  # tenths of a second
    (40, 8, r"\d\d:\d\d:\d\d"),  # seconds
    (3 * 86400, 36, r"\d\d:\d\d"),  # hours, the date under each new day
    (60 * 86400, 60, r"\d{4}-\d\d-\d\d"),  # days
])
def test_axis_ticks_from_seconds_to_days(span, n, shape):
    import re

    dom = Dom(html_view.render(*_steady(span, n)))
    assert not dom.find("g", "quiet")
    axis = next(g for g in dom.find("g", "axis"))
    labels = [(float(t["attrs"]["x"]), t["text"]) for t in dom.elements if t["tag"] == "text" and axis in t["parents"]
              and not t["attrs"].get("class")]
    assert len(labels) >= 4 and all(re.fullmatch(shape, text) for _, text in labels), labels
    xs = [x for x, _ in labels]
    assert all(b - a >= 89 for a, b in itertools.pairwise(xs))
    days = [t["text"] for t in dom.elements if "day" in t["attrs"].get("class", "")]
    if span < 86400:
        assert days == ["2026-11-18"]
    elif span < 30 * 86400:
        assert len(days) >= 3 and days == sorted(set(days))


def test_a_finding_of_no_group_gets_the_capture_row(tmp_path):
    whole = (ROOT / "captures" / "failover.pcap").read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(whole[:len(whole) - 30])
    page = tmp_path / "cut.html"
    run = carpscope("read", "-q", cut, "-p", "s3cret", "--html", page)
    assert run.returncode == 3 and run.stderr.count("\n") == 1
    dom = Dom(page.read_text())
    marker = next(a for a in dom.find("a", "finding") if a["attrs"]["data-kind"] == "truncated-capture")
    assert not any("lane" in p["attrs"].get("class", "") for p in marker["parents"])
    assert any(t["text"] == "capture" for t in dom.find("text", "lane-name"))


def test_flapping_strip_shows_the_gaps_and_stays_fast():
    """20,000 master changes, each after a half-second gap: every column has a gap, and drawing
    the strip and the page stays linear."""
    key = GroupKey("carp", 1, 4, ())
    events = [Event(0.0, 1, "carp", 1, "master-elected", to="A")]
    for i in range(20000):
        events.append(Event(i + 1.0, i + 2, "carp", 1, "master-changed", "AB"[i % 2], "BA"[i % 2], "master-silent",
                            0.5, expected=0.4))
    members = tuple(Member(a, None, 1, 0, 0, None, 9, "ok", 0.0, 20000.0) for a in "AB")
    g = GroupState(key, "A", 0.0, members, 20000.0, None, (), None, None, None, ("A",))
    started = time.monotonic()
    lines = strip.strip_lines(Snapshot(20000.0, (g,)), events, 0.0, 20000.0, 80)
    page = html_view.render(Snapshot(20000.0, (g,)), events, [], 0.0, 20000.0)
    assert time.monotonic() - started < 30
    row = report.layout.text(next(line for line in lines if "CARP vhid 1" in report.layout.text(line)))
    assert set(row[len("  CARP vhid 1  "):]) == {"."}
    assert page.count('class="bar"') == 20001


def test_a_missing_input_leaves_the_html_file_alone(tmp_path):
    page = tmp_path / "kept.html"
    page.write_text("yesterday's report")
    run = carpscope("read", tmp_path / "missing.pcap", "--html", page)
    assert run.returncode == 3 and page.read_text() == "yesterday's report"
