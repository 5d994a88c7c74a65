"""The pipeline behind several vantage points: copies folded, records stamped, reach counted.

Wraps a pipeline.Pipeline with the same face (feed, advance, finish, ...), so the
shell drives it unchanged (issue 15). The single-file read never comes here: its
hot path stays the Pipeline's own. Pure: no I/O, no clock.
"""

from __future__ import annotations

from carpscope import findings as kinds
from carpscope.election.reach import Reach
from carpscope.model import (
    AddressClaim,
    CarpAdvert,
    Copier,
    Finding,
    Frame,
    Severity,
    VrrpAdvert,
)
from carpscope.vantage import Merger

_STAMP = {cls: Copier(cls, ("vantage", "seen_at")) for cls in (CarpAdvert, VrrpAdvert)}
_STAMPS_MAX = 65536  # frames whose records may still come (held behind a failed advert)
_CAUSE = " master-down time: "


def several(points: list) -> bool:
    """More than one named vantage point: every advert's record is needed (reach counts
    where each was seen), so the pipeline behind them cannot be lean."""
    return len([p for p in points if p is not None]) > 1


class MultiPoint:
    """A Pipeline fed through a Merger; one-way loss from a Reach."""

    def __init__(self, pipeline, merger: Merger, points: list[str], named: bool = True):
        self.pipeline = pipeline
        self.merger = merger
        self.reach = Reach([p for p in points if p is not None])
        self.multi = several(points)
        self._stamps: dict[int, tuple] = {}
        self.named = named  # False: plain files, shown as points only once they share a frame
        self.fed: list[Frame] = []  # the frames the last call fed to the pipeline that gave a record
        assert not (self.multi and pipeline.lean), "build the pipeline with lean=False: see several()"

    def __getattr__(self, name):
        return getattr(self.pipeline, name)

    def feed(self, frame: Frame) -> list:
        point = frame[5] if len(frame) > 5 else None
        self.fed = []
        out = []
        for ready in self.merger.push(frame, point):
            out += self._one(ready)
        return out

    def advance(self, now: float) -> list:
        self.fed = []
        out = []
        for ready in self.merger.push_time(now):
            out += self._one(ready)
        waiting = self.merger.earliest()  # timeouts may not pass a frame still waiting for its copies
        return out + self.pipeline.advance(now if waiting is None else min(now, waiting))

    def next_deadline(self) -> float | None:
        """The pipeline's next deadline, or the release of a frame waiting for its copies."""
        ours, theirs = self.merger.next_release(), self.pipeline.next_deadline()
        return theirs if ours is None else ours if theirs is None else min(ours, theirs)

    def flush(self) -> list:
        """The end of the frames: those still waiting for their copies go through (see `fed`)."""
        self.fed = []
        out = []
        for ready in self.merger.flush():
            out += self._one(ready)
        return out

    def finish(self) -> list:
        out = self.flush()
        out += self.pipeline.finish()
        self._explain_all()
        return out

    def _one(self, frame: Frame) -> list:
        """One frame, copies folded: through the pipeline, its records stamped, reach counted."""
        if len(self._stamps) >= _STAMPS_MAX:
            self._stamps.clear()
        self._stamps[frame.number] = (frame.vantage, frame.seen_at)
        out = []
        if self.multi:
            for point in frame.seen_at:
                out += self._found(self.reach.saw(point, frame.time))
        records = self.pipeline.records
        happened = self.pipeline.feed(frame)
        if self.pipeline.records != records:
            self.fed.append(frame)  # -w saves it (shell._steps)
        for i, item in enumerate(happened):
            if isinstance(item, (CarpAdvert, VrrpAdvert)):
                stamp = self._stamps.pop(item.frame, None)
                if stamp is not None and stamp[0] is not None:
                    item = happened[i] = _STAMP[type(item)](item, stamp)
                if self.multi and item.seen_at:
                    happened += self._found(self.reach.observe(item))
                    if self.reach.losses:  # a loss's wording may change as the way back is heard
                        self._found(self.reach.refresh())
            elif isinstance(item, Finding) and item.kind == kinds.SPLIT_BRAIN and self.multi:
                happened[i] = self._explain(item)
            elif isinstance(item, AddressClaim):
                self._stamps.pop(item.frame, None)
        return out + happened

    def _found(self, found: list[Finding]) -> list[Finding]:
        """Reach's findings, tallied in the report (a later word on a loss replaces the first)."""
        out = []
        for f in found:
            key = (f.kind, f.proto, f.id, f.family, f.vlan)
            tally = self.pipeline.report.findings.get(key)
            if tally is not None and tally.first.members == f.members and tally.first.vantage == f.vantage:
                f = tally.first = _keep_severity(f, tally.first)
            else:
                self.pipeline.report.tally((f,))
            out.append(f)
        return out

    def _explain(self, split: Finding) -> Finding:
        """A split brain that a one-way loss explains: that is its cause, and the loss is critical."""
        loss = self.reach.explains(split)
        if loss is None or _CAUSE not in split.detail:
            return split
        head = split.detail.split(_CAUSE, 1)[0]
        better = Finding(split.kind, split.severity, f"{head}{_CAUSE}{loss.detail} (see one-way-loss)",
                         split.frame, split.time, split.proto, split.id, split.family, split.vlan,
                         split.members, loss.vantage)
        findings = self.pipeline.report.findings
        tally = findings.get((split.kind, split.proto, split.id, split.family, split.vlan))
        if tally is not None and tally.first == split:
            tally.first = better
        lkey = (loss.kind, loss.proto, loss.id, loss.family, loss.vlan)
        if lkey in findings:
            findings[lkey].first = _critical(findings[lkey].first)
        return better

    def _explain_all(self) -> None:
        """At the end: split brains that a loss found later explains."""
        if not self.multi:
            return
        self._found(self.reach.refresh())
        for key, tally in list(self.pipeline.report.findings.items()):
            if key[0] == kinds.SPLIT_BRAIN:
                self._explain(tally.first)

    def summary(self):
        """The pipeline's summary with the points, their clock offsets and who heard whom."""
        import dataclasses

        if not self.named and not self.merger.folded:  # rotated files of one capture: no points to show
            return self.pipeline.summary()
        shown = self.merger.offsets.shown()
        points = tuple((p, *shown.get(p, (0.0, 0))) for p in self.reach.points)
        hearing = tuple((key, addr, tuple(where)) for key, addr, where in self.reach.hearing())
        return dataclasses.replace(self.pipeline.summary(), points=points, hearing=hearing)


def _critical(f: Finding) -> Finding:
    return Finding(f.kind, Severity.CRITICAL, f.detail, f.frame, f.time, f.proto, f.id, f.family, f.vlan,
                   f.members, f.vantage)


def _keep_severity(new: Finding, old: Finding) -> Finding:
    return _critical(new) if old.severity == Severity.CRITICAL else new
