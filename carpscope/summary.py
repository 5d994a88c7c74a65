"""What the report says, accumulated as the pipeline runs: events kept, finding tallies, caps.

The pipeline turns frames into records; a Recorder keeps what the end of the
capture reports, within fixed caps (issue 20). Sinks, views and the dashboard take
its immutable Summary instead of reaching into the pipeline. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from carpscope.election.events import LIMIT_REACHED, limit, limit_cap
from carpscope.model import Finding, Severity

# Caps on memory (issue 20); past one, a limit-reached finding says what was left out.
EVENTS_FIRST = 5000  # events kept for the report: the first ones ...
EVENTS_LAST = 5000  # ... and the latest (those between went out as they happened: lines, jsonl)
FINDINGS_MAX = 4096  # finding tallies (kind and group)
_FINDINGS_FINAL = f"findings of kinds and groups past the {FINDINGS_MAX}th were counted but not kept"


@dataclass
class FindingTally:
    """A finding kind seen on many packets: kept once, with a count (memory stays flat)."""

    first: Finding
    count: int = 1


@dataclass(frozen=True)
class Summary:
    """The report's inputs at one moment: what sinks and the dashboard show."""

    events: tuple  # the first EVENTS_FIRST and latest EVENTS_LAST events
    findings: tuple[tuple[Finding, int], ...]  # (first of its kind and group, count), most severe first
    first_time: float | None  # the span of the capture, earliest to latest frame
    last_time: float | None
    adverts: int  # protocol-112 packets seen (what -c counts)
    points: tuple = ()  # named captures (issue 15): (name, clock offset s, shared frames) each
    hearing: tuple = ()  # (group key, member, ((point, heard, missed), ...)) each

    def worst(self) -> Severity | None:
        """The most severe finding seen, for --fail-on."""
        return self.findings[0][0].severity if self.findings else None


@dataclass
class Recorder:
    """Accumulates the report: events kept, finding tallies, caps reached, the time span."""

    first_time: float | None = None
    last_time: float | None = None
    events: list = field(default_factory=list)  # the first EVENTS_FIRST and latest EVENTS_LAST events
    events_total: int = 0  # every event, kept or not
    findings: dict = field(default_factory=dict)  # (kind, proto, id, family, vlan) -> FindingTally
    _limits: dict = field(default_factory=dict, repr=False)  # cap -> [times, frame, time, final wording]

    def saw(self, time: float) -> None:
        """The span runs from the earliest to the latest time, whatever the frames' order."""
        if self.first_time is None or time < self.first_time:
            self.first_time = time
        if self.last_time is None or time > self.last_time:
            self.last_time = time

    def keep(self, happened: Iterable) -> list:
        """Events and findings as they happen: events kept (first and latest), findings tallied.

        A list comes back as it came, not copied (the tracker's are its own): a flapping
        group makes two events an advert (issue 20).
        """
        if type(happened) is not list:
            happened = list(happened)
        events = self.events
        for item in happened:
            if isinstance(item, Finding):
                self.tally((item,))
            else:
                events.append(item)
                self.events_total += 1
                if len(events) >= EVENTS_FIRST + 2 * EVENTS_LAST:
                    self._trim()
        return happened

    def _trim(self) -> None:
        """Keep the first and the latest events: amortised O(1), memory flat."""
        del self.events[EVENTS_FIRST:len(self.events) - EVENTS_LAST]

    def over(self, cap: str, number: int | None, time: float | None, first: str, final: str) -> list[Finding]:
        """A cap was reached again: count it; the first time, say so at once (limit-reached)."""
        entry = self._limits.get(cap)
        if entry is not None:
            entry[0] += 1
            return []
        self._limits[cap] = [1, number, time, final]
        f = limit(cap, f"{first} from frame {number} on; the end of the report says how often", number, time)
        self.tally((f,))
        return [f]

    def left_out(self, extra: Iterable[Finding] = ()) -> list[Finding]:
        """limit-reached with the final counts: each replaces the first one of its cap."""
        out = [limit(cap, final.format(n) + f", from frame {number} on", number, time)
               for cap, (n, number, time, final) in self._limits.items()]
        out += extra
        if len(self.events) > EVENTS_FIRST + EVENTS_LAST:
            self._trim()
        left = self.events_total - len(self.events)
        if left:
            out.append(limit(f"{EVENTS_FIRST + EVENTS_LAST} events",
                             f"{left} events between the first {EVENTS_FIRST} and the last {EVENTS_LAST} are "
                             f"left out of the report's timeline; the per-packet output (without -q) and -T "
                             f"jsonl carry every event as it happened"))
        self.tally(out)
        return out

    def tally(self, findings: Iterable[Finding]) -> None:
        for f in findings:
            if f.kind == LIMIT_REACHED:
                key: tuple = (f.kind, limit_cap(f))
                tally = self.findings.get(key)
                if tally is None:
                    self.findings[key] = FindingTally(f)
                else:
                    tally.first = f  # the same cap again: the later one has the final count
                continue
            key = (f.kind, f.proto, f.id, f.family, f.vlan)
            tally = self.findings.get(key)
            if tally is None:
                if len(self.findings) >= FINDINGS_MAX:
                    self.over(f"{FINDINGS_MAX} finding tallies", f.frame, f.time,
                              "findings of kinds and groups past the "
                              f"{FINDINGS_MAX}th are counted but not kept", "{} " + _FINDINGS_FINAL)
                    continue
                self.findings[key] = FindingTally(f)
            else:
                tally.count += 1

    def worst(self) -> Severity | None:
        """The most severe finding seen, for --fail-on."""
        ranks = [t.first.severity for t in self.findings.values()]
        return max(ranks, key=lambda s: s.rank) if ranks else None

    def tallies(self) -> list[FindingTally]:
        """Findings, most severe first, then in order of appearance."""
        return sorted(self.findings.values(), key=lambda t: (-t.first.severity.rank, t.first.time or 0.0))

    def summary(self, adverts: int) -> Summary:
        """The immutable report inputs as they stand now."""
        return Summary(tuple(self.events), tuple((t.first, t.count) for t in self.tallies()),
                       self.first_time, self.last_time, adverts)
