"""The post-mortem report: a scripted scenario rendered as plain text (golden) and rich tables."""

from __future__ import annotations

import io
import re

from rich.console import Console
from rich.text import Text

from carpscope.election.events import Event, Snapshot
from carpscope.election.tracker import Tracker
from carpscope.model import Finding, Severity
from carpscope.views import report
from test_tracker import A, B, C, Script, merge

T = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


def scenario():
    """CARP vhid 1: A master, A dies, B takes over, A comes back with a bad signature (split
    brain) and leaves again; VRRP vrid 1 on the same segment the whole time."""
    s = Script()
    records = merge(
        s.every(A, T + 0, T + 6, 1, hmac="ok"),
        s.every(B, T + 9.5, T + 30, 1.390625, advskew=100, hmac="ok"),
        s.every(A, T + 14.0, T + 24, 1, hmac="bad", hint="no VIP set verifies"),
        s.vrrp_every(C, T + 0.25, T + 30, 1, vrid=1, priority=150),
    )
    tracker = Tracker()
    out = []
    for r in records:
        out += tracker.observe(r, r.time)
    out += tracker.finish(records[-1].time)
    events = [x for x in out if isinstance(x, Event)]
    # As carpscope.pipeline hands them over: (first finding, how many times seen).
    findings = [(f, 1) for f in out if isinstance(f, Finding)]
    findings.append((Finding("bad-ttl", Severity.WARNING, "TTL 64, receivers drop it", 7, T + 3.0, "carp", 1), 3))
    findings.append((Finding("truncated-capture", Severity.WARNING, "x.pcap: cut short; everything before it "
                             "was analysed", None, T + 29.25), 1))
    return tracker.snapshot(), events, findings, records[0].time, records[-1].time


GOLDEN = """\
carpscope report: 2023-11-14 22:13:20.000000 to 2023-11-14 22:13:49.250000 UTC (29.25s); 2 groups, 6 events, findings: 3 critical, 2 warning, 0 info

Groups (2), * = master
  group        family  VIPs                 master     member       mac                parameters                 adverts  signature  passphrase  first    last      stack (evidence)
  CARP vhid 1  IPv4    192.0.2.50 (given)   192.0.2.2  192.0.2.1    00:00:5e:00:00:01  advbase 1 advskew 0        16       mixed      1           +0.000s  +23.000s  ucarp (source MAC 00:00:5e:00:00:01)
                                                       192.0.2.2 *  00:00:5e:00:00:01  advbase 1 advskew 100      15       ok         1           +9.500s  +28.969s  ucarp (source MAC 00:00:5e:00:00:01)
  VRRP vrid 1  IPv4    192.0.2.60 (advert)  192.0.2.3  192.0.2.3 *  00:00:5e:00:01:01  priority 150 adver_int 1s  30       n/a        n/a         +0.250s  +29.250s  keepalived/VRRP (VRRPv2)

Timeline (6 events)
  time (UTC)                  since start  frame  group        event                from       to         cause          gap    expected  detail
  2023-11-14 22:13:20.000000  +0.000s      1      CARP vhid 1  master-elected       -          192.0.2.1  -              -      -         192.0.2.1 advertises (advbase 1 advskew 0)
  2023-11-14 22:13:20.250000  +0.250s      2      VRRP vrid 1  master-elected       -          192.0.2.3  -              -      -         192.0.2.3 advertises (priority 150 adver_int 1s)
  2023-11-14 22:13:28.000000  +8.000s      11     CARP vhid 1  master-down          192.0.2.1  -          -              -      3.00s     192.0.2.1 silent for 3.00s and no backup took over
  2023-11-14 22:13:29.500000  +9.500s      17     CARP vhid 1  master-changed       192.0.2.1  192.0.2.2  master-silent  4.50s  3.39s     192.0.2.1 stopped; 192.0.2.2 took over 4.50s after its last advert
  2023-11-14 22:13:34.000000  +14.000s     25     CARP vhid 1  split-brain-started  192.0.2.2  192.0.2.1  -              -      3.39s     192.0.2.2 and 192.0.2.1 both advertise as master for more than 3.39s
  2023-11-14 22:13:43.000000  +23.000s     49     CARP vhid 1  split-brain-ended    192.0.2.1  192.0.2.2  -              -      -         192.0.2.1 stopped advertising; 192.0.2.2 remains master

  Masters (a column is 0.45s)
  CARP vhid 1  AAAAAAAAAAA...........CCCCCCCCC#####################CCCCCCCCCCCCC
  VRRP vrid 1  BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB
               +0s                   +10s                  +20s
  A 192.0.2.1  B 192.0.2.3  C 192.0.2.2  . no master  # split brain

Findings (5), most severe first
  CRITICAL vrrp-collision  VRRP vrid 1  frame 2, 2023-11-14 22:13:20.250000 UTC (+0.250s)
    VRRP vrid 1 and CARP vhid 1 advertise on the same segment: IPv4 VRRP's virtual MAC 00:00:5e:00:01:01 is also CARP vhid 1's (RFC 3768 §7.3): where both use it, switches move it between the two masters; both share 224.0.0.18 and protocol 112 and each side drops the other's adverts (keepalived logs them as too short); give one group another id
  CRITICAL hmac-failed  CARP vhid 1  frame 25, 2023-11-14 22:13:34.000000 UTC (+14.000s)
    adverts from 192.0.2.1 do not verify with any passphrase and VIP set tried (no VIP set verifies): a node with another key or VIP set ignores its peers' adverts and becomes master as well; check the pass (19 characters at most) and the VIPs of vhid 1 on 192.0.2.1
  CRITICAL split-brain  CARP vhid 1  frame 25, 2023-11-14 22:13:34.000000 UTC (+14.000s)
    192.0.2.2 and 192.0.2.1 both advertise CARP vhid 1 as master for more than the 3.39s master-down time: their signatures do not verify across the members, so each drops the other's adverts: the passphrases or the VIP sets differ; compare pass and the VIPs on both
  WARNING bad-ttl (x3)  CARP vhid 1  frame 7, 2023-11-14 22:13:23.000000 UTC (+3.000s)
    TTL 64, receivers drop it
  WARNING truncated-capture  -  2023-11-14 22:13:49.250000 UTC (+29.250s)
    x.pcap: cut short; everything before it was analysed
"""


def test_text_report_golden():
    assert report.text_report(*scenario()) == GOLDEN


def test_text_report_is_stable_and_has_no_trailing_blanks():
    text = report.text_report(*scenario())
    assert text == report.text_report(*scenario())
    assert all(line == line.rstrip() for line in text.splitlines())


def test_findings_accepted_bare_or_counted():
    snapshot, events, findings, first, last = scenario()
    bare = [f for f, _ in findings]
    text = report.text_report(snapshot, events, bare, first, last)
    assert "bad-ttl (x3)" not in text and "WARNING bad-ttl  CARP vhid 1" in text


def test_empty_capture():
    text = report.text_report(Snapshot(None, ()), [], [], None, None)
    assert text == ("carpscope report: no protocol-112 packets\n\nGroups (0), * = master\n  none\n\n"
                    "Timeline (0 events)\n  none\n\nFindings (0), most severe first\n  none\n")


def test_packet_borne_text_is_escaped():
    f = Finding("hmac-failed", Severity.CRITICAL, "hint \x1b[2J from the wire", 1, T, "carp", 1)
    text = report.text_report(Snapshot(T, ()), [], [f], T, T)
    assert "\x1b" not in text and "\\x1b[2J" in text


def test_colour_only_colours():
    """The styled lines a terminal colours carry exactly the text a pipe gets, at any width."""
    for width in (None, 80, 120, 200):
        lines = report.report_lines(*scenario(), width=width)
        assert "\n".join("".join(t for t, _ in line) for line in lines) + "\n" == \
            report.text_report(*scenario(), width=width)
    console = Console(file=io.StringIO(), width=80, force_terminal=True, color_system="standard")
    for line in report.report_lines(*scenario(), width=80):
        console.print(Text.assemble(*line), soft_wrap=True)
    coloured = console.file.getvalue()
    assert "\x1b[" in coloured
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == report.text_report(*scenario(), width=80)


def test_80_columns_break_no_word():
    """At 80 columns every line fits and every word of every detail is whole, under its finding."""
    text = report.text_report(*scenario(), width=80)
    assert max(map(len, text.splitlines())) <= 80
    words = set(text.split())
    _, events, findings, _, _ = scenario()
    for f, _ in findings:
        assert set(f.detail.split()) <= words, f.kind
    for e in events:
        assert set(e.detail.split()) <= words
    assert "192.0.2.2 *" in text and "vrrp-collision" in text
    findings_part = text.split("Findings (5)")[1]
    assert findings_part.index("CRITICAL hmac-failed") < findings_part.index("adverts from 192.0.2.1") \
        < findings_part.index("CRITICAL split-brain")


def test_wide_terminals_use_the_width():
    wide = report.text_report(*scenario(), width=200).splitlines()
    assert max(map(len, wide)) <= 200 and max(map(len, wide)) > 150
    # the groups as one table, or a member table under each group's line (the stack evidence is wide)
    assert any(line.startswith(("  group ", "    member ")) for line in wide)
