"""Decode → verify → track: the pure pipeline that `read` and `live` share.

Takes frames and ticks, returns what happened in order (records, events,
findings). No I/O and no clock: the caller says what time it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from carpscope.model import AddressClaim, CarpAdvert, Damaged, Finding, Frame, Severity, VrrpAdvert
from carpscope.wire.decode import decode_frame


@dataclass
class FindingTally:
    """A finding kind seen on many packets: kept once, with a count (memory stays flat)."""

    first: Finding
    count: int = 1


@dataclass
class Pipeline:
    verifier: object
    tracker: object
    decode_as: str | None = None
    adverts: int = 0  # protocol-112 packets seen (what -c counts)
    first_time: float | None = None
    last_time: float | None = None
    events: list = field(default_factory=list)
    findings: dict = field(default_factory=dict)  # (kind, proto, id, detail?) -> FindingTally

    def feed(self, frame: Frame) -> list:
        """Everything one frame causes: timeouts due before it, its record, its events."""
        record = decode_frame(frame, self.decode_as)
        if record is None:
            return []
        out = self.advance(frame.time)
        if self.first_time is None:
            self.first_time = frame.time
        self.last_time = max(frame.time, self.last_time or frame.time)
        if isinstance(record, AddressClaim):
            self.verifier.learn(record)
        else:
            self.adverts += 1
            if isinstance(record, CarpAdvert):
                record = self.verifier.verify(record)
        out.append(record)
        self._tally(record.findings if not isinstance(record, AddressClaim) else ())
        if isinstance(record, (CarpAdvert, VrrpAdvert)):
            out += self._keep(self.tracker.observe(record, frame.time))
        return out

    def advance(self, now: float) -> list:
        """Timeouts that fell due by `now` (a tick in live capture, or the next frame)."""
        deadline = self.tracker.next_deadline()
        if deadline is None or deadline > now:
            return []
        return self._keep(self.tracker.advance(now))

    def finish(self) -> list:
        """End of capture: conclusions that need the whole picture."""
        if self.last_time is None:
            return []
        return self._keep(self.tracker.finish(self.last_time))

    def _keep(self, happened: Iterable) -> list:
        happened = list(happened)
        for item in happened:
            if isinstance(item, Finding):
                self._tally((item,))
            else:
                self.events.append(item)
        return happened

    def note(self, finding: Finding) -> None:
        """A finding from outside the core (a damaged file, a lost interface)."""
        self._tally((finding,))

    def _tally(self, findings: Iterable[Finding]) -> None:
        for f in findings:
            key = (f.kind, f.proto, f.id)
            tally = self.findings.get(key)
            if tally is None:
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


def is_packet(item: object) -> bool:
    return isinstance(item, (CarpAdvert, VrrpAdvert, Damaged))
