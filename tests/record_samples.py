"""Record the sample captures shipped in captures/, with real ucarp/keepalived peers.

    python tests/record_samples.py OUTDIR [--readme] [--only NAME ...]

Each scenario runs on a fresh lab (tests/lab.py), captures on the bridge with
the default filter and prints what the peers themselves logged, relative to
the first frame of the file, so the README can state the ground truth that
carpscope's conclusions are later compared with.  ``--readme`` also writes
OUTDIR/README.md (its "carpscope concludes" column is left as TBD).

Needs root, ucarp, keepalived and tcpdump (the lab checks).
"""

from __future__ import annotations

import argparse
import itertools
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lab import Lab, Peer, carp_adverts, frame_times, unavailable_reason

PASS = "s3cret"


@dataclass
class Journal:
    """What a scenario did and which peers to report, with wall-clock times."""

    peers: dict[str, Peer] = field(default_factory=dict)
    actions: list[tuple[float, str]] = field(default_factory=list)

    def watch(self, label: str, peer: Peer) -> Peer:
        self.peers[label] = peer
        return peer

    def note(self, text: str, when: float | None = None) -> None:
        self.actions.append((time.time() if when is None else when, text))

    def events(self) -> list[tuple[float, str]]:
        """Actions plus every state change the peers logged, in time order."""
        changes = [(t, f"{label} {state}") for label, peer in self.peers.items()
                   for t, state in peer.transitions()]
        return sorted(self.actions + changes)


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    passphrases: str
    vips: str
    hosts: str
    run: Callable[[Lab, Journal], None]


def sleep_until(when: float) -> None:
    time.sleep(max(0.0, when - time.time()))


def must(when: float | None, what: str, peer: Peer) -> float:
    """A transition the scenario depends on; abort with the peer's log if it never came."""
    if when is None:
        raise RuntimeError(f"{what} did not happen:\n{peer.text()}")
    return when


def start_pair(lab: Lab, j: Journal, vhid: int, vip: str, pass_b: str = PASS,
               preempt_a: bool = False) -> tuple[Peer, Peer, float]:
    """ucarp A (advskew 0) then B (advskew 100); returns both and A's MASTER time."""
    a, b = lab.host("a", "192.0.2.1"), lab.host("b", "192.0.2.2")
    pa = j.watch("A", lab.ucarp(a, vhid, PASS, vip, preempt=preempt_a))
    must(pa.wait_for("BACKUP", 3), "A BACKUP", pa)
    time.sleep(0.5)
    pb = j.watch("B", lab.ucarp(b, vhid, pass_b, vip, advskew=100))
    return pa, pb, must(pa.wait_for("MASTER", 6), "A MASTER", pa)


# -- scenarios ------------------------------------------------------------


def failover(lab: Lab, j: Journal) -> None:
    pa, pb, master = start_pair(lab, j, 1, "192.0.2.50")
    sleep_until(master + 8)
    j.note("A killed (SIGKILL)", pa.kill())
    sleep_until(must(pb.wait_for("MASTER", 8), "B MASTER", pb) + 5)


def preemption(lab: Lab, j: Journal) -> None:
    pa, pb, master = start_pair(lab, j, 1, "192.0.2.50", preempt_a=True)
    sleep_until(master + 6)
    j.note("A killed (SIGKILL)", pa.kill())
    took_over = must(pb.wait_for("MASTER", 8), "B MASTER", pb)
    sleep_until(took_over + 4)
    j.note("A restarted (advskew 0, --preempt)")
    pa2 = j.watch("A'", lab.ucarp(lab.hosts["a"], 1, PASS, "192.0.2.50", preempt=True))
    sleep_until(must(pa2.wait_for("MASTER", 6), "A' MASTER", pa2) + 5)


def passphrase_mismatch(lab: Lab, j: Journal) -> None:
    _pa, pb, master = start_pair(lab, j, 1, "192.0.2.50", pass_b="wr0ng-pass")
    must(pb.wait_for("MASTER", 8), "B MASTER", pb)
    sleep_until(master + 14)


def multicast_loss(lab: Lab, j: Journal) -> None:
    _pa, pb, master = start_pair(lab, j, 1, "192.0.2.50")
    sleep_until(master + 6)
    lab.multicast_flood_off(lab.hosts["b"])
    j.note("bridge stops flooding multicast to B")
    split = must(pb.wait_for("MASTER", 8), "B MASTER", pb)
    sleep_until(split + 8)
    lab.multicast_flood_on(lab.hosts["b"])
    healed = time.time()
    j.note("multicast to B restored", healed)
    sleep_until(must(pb.wait_for("BACKUP", 4, since=healed), "B BACKUP again", pb) + 4)


def vrrp_collision(lab: Lab, j: Journal) -> None:
    c, d = lab.host("c", "192.0.2.3"), lab.host("d", "192.0.2.4")
    kc = j.watch("C", lab.keepalived(c, 5, 150, "192.0.2.65/32"))
    j.watch("D", lab.keepalived(d, 5, 100, "192.0.2.65/32"))
    _pa, _pb, master = start_pair(lab, j, 5, "192.0.2.55")
    must(kc.wait_for("MASTER", 6), "C MASTER", kc)
    sleep_until(master + 24)


def several_groups(lab: Lab, j: Journal) -> None:
    a, b = lab.host("a", "192.0.2.1"), lab.host("b", "192.0.2.2")
    c, d = lab.host("c", "192.0.2.3"), lab.host("d", "192.0.2.4")
    a1 = j.watch("A/1", lab.ucarp(a, 1, PASS, "192.0.2.50"))
    b2 = j.watch("B/2", lab.ucarp(b, 2, "hunter2", "192.0.2.51"))
    kc = j.watch("C/10", lab.keepalived(c, 10, 200, "192.0.2.60/32"))
    time.sleep(0.5)
    j.watch("B/1", lab.ucarp(b, 1, PASS, "192.0.2.50", advskew=100))
    a2 = j.watch("A/2", lab.ucarp(a, 2, "hunter2", "192.0.2.51", advskew=50))
    j.watch("D/10", lab.keepalived(d, 10, 100, "192.0.2.60/32"))
    for peer, label in ((a1, "A/1"), (b2, "B/2"), (kc, "C/10")):
        must(peer.wait_for("MASTER", 6), f"{label} MASTER", peer)
    sleep_until(time.time() + 8)
    j.note("B/2 killed (SIGKILL)", b2.kill())
    sleep_until(must(a2.wait_for("MASTER", 8), "A/2 MASTER", a2) + 5)


AB = "A 192.0.2.1, B 192.0.2.2"
CD = "C 192.0.2.3, D 192.0.2.4"
SCENARIOS = [
    Scenario("failover", "ucarp vhid 1, A advskew 0, B advskew 100, advbase 1, no preempt; "
             "A is SIGKILLed ~8 s after it became MASTER; B takes over",
             "`s3cret` (both)", "192.0.2.50", AB, failover),
    Scenario("preemption", "as failover, but A runs with --preempt; after B took over, "
             "A is started again and preempts B",
             "`s3cret` (both)", "192.0.2.50", AB, preemption),
    Scenario("passphrase-mismatch", "ucarp vhid 1, A advskew 0, B advskew 100; B's passphrase "
             "differs, so each drops the other's adverts ('Bad digest') → split brain",
             "A `s3cret`, B `wr0ng-pass`", "192.0.2.50", AB, passphrase_mismatch),
    Scenario("multicast-loss", "ucarp vhid 1, same passphrase; ~6 s after A became MASTER the "
             "bridge stops flooding multicast to B (`mcast_flood off` on B's port: one-way loss) "
             "→ split brain though every advert verifies; flooding restored ~8 s later",
             "`s3cret` (both)", "192.0.2.50", AB, multicast_loss),
    Scenario("vrrp-collision", "ucarp vhid 5 pair (A advskew 0, B advskew 100) and keepalived "
             "VRRPv2 vrid 5 pair (C priority 150, D priority 100) on one segment, "
             "both on 224.0.0.18",
             "ucarp `s3cret`; VRRP no auth", "CARP 192.0.2.55, VRRP 192.0.2.65",
             f"{AB}, {CD}", vrrp_collision),
    Scenario("several-groups", "ucarp vhid 1 (A advskew 0, B 100) and vhid 2 (B advskew 0, "
             "A 50) on the same two hosts, keepalived VRRPv2 vrid 10 (C priority 200, D 100); "
             "B's vhid-2 ucarp is SIGKILLed ~8 s in, A takes vhid 2 over",
             "vhid 1 `s3cret`, vhid 2 `hunter2`; VRRP no auth",
             "vhid 1 192.0.2.50, vhid 2 192.0.2.51, vrid 10 192.0.2.60", f"{AB}, {CD}",
             several_groups),
]


# -- recording and reporting ----------------------------------------------


def seconds(offset: float) -> str:
    """'+3.4 s'; a log line read a millisecond before its frame is '+0.0 s', not '-0.0 s'."""
    value = round(offset, 1)
    return f"{value + 0.0:+.1f} s" if value else "+0.0 s"


@dataclass
class Result:
    scenario: Scenario
    path: Path
    first: float
    last: float
    frames: int
    events: list[tuple[float, str]]
    notes: dict[str, int]

    @property
    def duration(self) -> float:
        return self.last - self.first

    def relative(self, skip_initial_backup: bool = True) -> list[str]:
        """Events as '+12.3 s B MASTER', relative to the file's first frame."""
        seen: set[str] = set()
        out = []
        for t, text in self.events:
            label, _, state = text.rpartition(" ")
            if skip_initial_backup and state == "BACKUP" and label not in seen:
                seen.add(label)
                continue
            seen.add(label)
            out.append(f"{seconds(t - self.first)} {text}")
        return out


_ROUTINE = ("Switching to state", "Spawning [", "Entering ")


def notable(line: str) -> str | None:
    """A peer's complaint or decision worth reporting, normalised for counting; else None.

    ucarp: its [WARNING]/[ERROR] lines; keepalived: lines about the instance
    ("(VI_5) ...").  State changes are reported separately, so they are skipped.
    """
    if any(key in line for key in _ROUTINE):
        return None
    if "[WARNING]" in line or "[ERROR]" in line:
        text = line.split("] ", 1)[1]
    elif "(VI_" in line:
        text = line[line.index("(VI_"):]
    else:
        return None
    return re.sub(r"\[[0-9a-f.]+\]", "[…]", text)


def notable_lines(journal: Journal) -> dict[str, int]:
    """Counts of notable log lines, keyed 'peer: text'."""
    counts: dict[str, int] = {}
    for label, peer in journal.peers.items():
        for _, line in peer.lines():
            text = notable(line)
            if text:
                key = f"{label}: {text}"
                counts[key] = counts.get(key, 0) + 1
    return counts


def advert_gaps(path: Path) -> list[str]:
    """Per sender of protocol-112 frames: how many, and the longest silence between two."""
    by_src: dict[str, list[float]] = {}
    for advert in carp_adverts(path):
        by_src.setdefault(f"{advert.src} ({advert.mac})", []).append(advert.time)
    out = []
    for src, times in sorted(by_src.items()):
        gap = max((b - a for a, b in itertools.pairwise(times)), default=0.0)
        out.append(f"{src}: {len(times)} adverts, longest gap {gap:.2f} s")
    return out


def write_logs(journal: Journal, logdir: Path, name: str) -> None:
    """Each peer's log, one line per output line, prefixed with the epoch time read."""
    logdir.mkdir(parents=True, exist_ok=True)
    for label, peer in journal.peers.items():
        text = "".join(f"{t:.6f} {line}\n" for t, line in peer.lines())
        (logdir / f"{name}.{label.replace('/', '-')}.{peer.kind}.log").write_text(text)


def record(scenario: Scenario, outdir: Path, logdir: Path | None = None) -> Result:
    path = outdir / f"{scenario.name}.pcap"
    journal = Journal()
    with Lab() as lab:
        capture = lab.capture(path)
        scenario.run(lab, journal)
        capture.stop()
        events = journal.events()
        notes = notable_lines(journal)
        if logdir:
            write_logs(journal, logdir, scenario.name)
    times = frame_times(path)
    return Result(scenario, path, times[0], times[-1], len(times), events, notes)


def happened(r: Result) -> str:
    """Transitions and actions, then the peers' complaints, for one table cell."""
    said = [f"{label.split(': ')[0]} logged {n}× \"{label.split(': ', 1)[1]}\""
            for label, n in sorted(r.notes.items())]
    return "; ".join(r.relative() + said)


def table(results: list[Result]) -> str:
    head = ("| file | scenario | passphrase(s) | VIPs | hosts | what happened (harness actions, "
            "peers' logs; s after first frame) | carpscope concludes |\n"
            "|---|---|---|---|---|---|---|\n")
    rows = [f"| {r.path.name} | {r.scenario.summary} | {r.scenario.passphrases} | "
            f"{r.scenario.vips} | {r.scenario.hosts} | {happened(r)} | TBD |"
            for r in results]
    return head + "\n".join(rows) + "\n"


def details(results: list[Result]) -> str:
    parts = []
    for r in results:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r.first))
        lines = [f"### {r.path.name}", "",
                 f"{r.frames} frames, {r.path.stat().st_size} bytes, {r.duration:.1f} s; "
                 f"first frame {stamp}.{int(r.first % 1 * 1e6):06d} UTC (epoch {r.first:.6f}).", "",
                 "All logged transitions and actions (s after first frame):", ""]
        lines += [f"* {e}" for e in r.relative(skip_initial_backup=False)]
        lines += ["", "Protocol-112 senders on the wire:", ""]
        lines += [f"* {g}" for g in advert_gaps(r.path)]
        if r.notes:
            lines += ["", "Notable log lines (count × peer: text):", ""]
            lines += [f"* {n} × {text}" for text, n in sorted(r.notes.items())]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--readme", action="store_true", help="also write OUTDIR/README.md")
    parser.add_argument("--only", nargs="+", choices=[s.name for s in SCENARIOS])
    parser.add_argument("--logs", type=Path, metavar="DIR", help="write each peer's log to DIR")
    args = parser.parse_args(argv)
    reason = unavailable_reason()
    if reason:
        print(f"cannot record: {reason}", file=sys.stderr)
        return 2
    args.outdir.mkdir(parents=True, exist_ok=True)
    chosen = [s for s in SCENARIOS if not args.only or s.name in args.only]
    results = []
    for scenario in chosen:
        print(f"recording {scenario.name} ...", file=sys.stderr, flush=True)
        results.append(record(scenario, args.outdir, args.logs))
    report = table(results) + "\n" + details(results)
    print(report)
    if args.readme:
        (args.outdir / "README.md").write_text(readme(report, args.outdir))
    return 0


# Files someone else put beside ours (copies of the project's earlier ucarp recordings).
KNOWN_OTHERS = {
    "ucarp_v4.pcap": "one ucarp, vhid 7, pass `correct horse`, VIP 192.0.2.100, 192.0.2.1",
    "ucarp_failover.pcap": "vhid 7 pair 192.0.2.1 (advskew 0) / 192.0.2.2 (advskew 100), "
                           "pass `correct horse`, A killed after 10 s",
    "ucarp_badpass.pcap": "as ucarp_failover but B uses `wrong horse`: split brain",
}


def others_section(outdir: Path) -> str:
    """A short list of the other captures in OUTDIR, so the README covers the directory."""
    ours = {f"{s.name}.pcap" for s in SCENARIOS}
    others = sorted(p.name for p in outdir.glob("*.pcap*") if p.name not in ours)
    if not others:
        return ""
    lines = ["", "## Other captures in this directory", "",
             "Not made by `record_samples.py`; the ucarp_* files are the project's earlier "
             "recordings (ucarp built from source, captured on a veth pair; documented in the "
             "reference notes, `tests/data/README.md`).", ""]
    lines += [f"* {name}: {KNOWN_OTHERS.get(name, 'not described here')}" for name in others]
    return "\n".join(lines) + "\n"


def readme(report: str, outdir: Path) -> str:
    return README_HEAD + report + README_TAIL + others_section(outdir)


README_HEAD = """\
# Sample captures from real ucarp and keepalived peers

Recorded with `tests/record_samples.py` (re-record with
`sudo python tests/record_samples.py OUTDIR --readme`) on a throw-away Linux bridge
built from network namespaces by `tests/lab.py`: ucarp 1.5.2 and keepalived 2.2.7
(Debian 12 packages), advbase / advert_int 1 s, up/down scripts `/bin/true` (ucarp never
configures its VIP; keepalived does, inside its namespace).  Captured on the bridge
with `tcpdump -U --immediate-mode`, filter `ip proto 112 or ip6 proto 112 or arp or icmp6`
(IPv6 disabled in the lab, so no icmp6).  Host MACs are 02:00:00:00:00:NN (NN = last
octet); ucarp adverts come from 00:00:5e:00:00:<vhid>, keepalived adverts and all
gratuitous ARPs from the host's real MAC (no `use_vmac`).

"What happened" is taken from the peers' own logs (ucarp "Switching to state: …",
keepalived "Entering … STATE"), stamped with this machine's wall clock when read, and
given in seconds after the first frame of the file (pcap timestamps use the same clock).
Each peer's initial BACKUP is left out of the table (it precedes the first frame); the
per-file sections below list everything.  A peer restarted on the same host is
marked with a prime (A').

"""

README_TAIL = """
## Things worth knowing when reading these files

* ucarp in BACKUP checks its master-down timer only when `poll()` returns, every
  `advbase + advskew/256` s, and it receives adverts through libpcap with a 1 s block
  timeout (its `CAPTURE_TIMEOUT`), so it acts on each advert up to 1 s after it was on
  the wire (its `--debug` log showed a steady 0.98 s in one run).  A takeover therefore
  comes later than the nominal `3·advbase + advskew/256`: 4.2–5.2 s after the master's
  last advert for advskew 100, 3.1–4.1 s for advskew 10.  The same delay shows in
  preemption.pcap: B steps down ~0.8 s after A's first advert.
* ucarp sends all adverts of a vhid from 00:00:5e:00:00:<vhid>, whichever host sends
  them; only the IP source tells A from B.  Its gratuitous ARPs use the real MAC.
* A ucarp master that hears a less preferred master re-sends a gratuitous ARP each time
  ("Non-preferred master advertising"), so split brains with matching passphrases
  (multicast-loss.pcap) come with extra ARP.
* vrrp-collision: ucarp drops keepalived's 20-byte VRRP adverts without logging (they
  are shorter than a CARP header).  keepalived 2.2.7 rejects every CARP advert
  ("vrrp packet too short, length 56 and expect 64"), yet the CARP traffic disturbs its
  timers: the VRRP master sends its adverts irregularly (gaps of several seconds instead
  of 1 s), and in some takes the VRRP backup times out and is MASTER for an instant
  until the master's next advert ("Master received advert … with higher priority").
  How often depends on the phase between the two 1 s clocks; see the file's section
  for what happened in the shipped take.
* keepalived does not use virtual MACs here (no `use_vmac`): its adverts come from the
  host's own MAC, so this file shows the protocol-112 collision, not a MAC collision.
"""


if __name__ == "__main__":
    sys.exit(main())
