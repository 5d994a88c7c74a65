"""Where rendered output goes: text (plain or coloured), a JSON document, JSON lines.

The views render; these sinks only write, so the same views serve `read` and `live`.
"""

from __future__ import annotations

import json
from typing import TextIO

from carpscope.model import AddressClaim, CarpAdvert, Damaged, Finding, VrrpAdvert
from carpscope.views import jsonout, lines, report, tree


def _dumps(obj: dict) -> str:
    # ensure_ascii: every byte that came from a packet reaches the terminal escaped.
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":"))


class TextSink:
    """Per-packet lines (or trees with -V), events inline, then the report."""

    def __init__(self, out: TextIO, console=None, verbose: bool = False, quiet: bool = False):
        self.out, self.console, self.verbose, self.quiet = out, console, verbose, quiet

    @property
    def wants_records(self) -> bool:
        """-q prints only the report: the pipeline may skip building per-packet records."""
        return not self.quiet

    def emit(self, item: object) -> None:
        if self.quiet:
            return
        if isinstance(item, (CarpAdvert, VrrpAdvert, AddressClaim, Damaged)):
            if self.verbose:
                self._write_plain("\n".join(tree.record(item)) + "\n\n")
                return
            segments = lines.record(item)
        elif isinstance(item, Finding):
            segments = lines.finding(item)
        else:
            segments = lines.event(item)
        if self.console is not None:
            from rich.text import Text

            self.console.print(Text.assemble(*segments), soft_wrap=True, highlight=False)
        else:
            self.out.write(lines.plain(segments) + "\n")

    def _write_plain(self, text: str) -> None:
        if self.console is not None:
            from rich.text import Text

            self.console.print(Text(text.rstrip("\n") + "\n"), soft_wrap=True, highlight=False)
        else:
            self.out.write(text)

    def close(self, pipeline, snapshot) -> None:
        first, last = pipeline.first_time, pipeline.last_time
        findings = [(t.first, t.count) for t in pipeline.tallies()]
        if self.console is not None:
            for renderable in report.rich_report(snapshot, pipeline.events, findings, first, last):
                self.console.print(renderable)
        else:
            if not self.quiet:
                self.out.write("\n")
            self.out.write(report.text_report(snapshot, pipeline.events, findings, first, last))
        self.out.flush()


class JsonLinesSink:
    """One object per line, in the order things happen, groups last; flushed per line."""

    wants_records = True

    def __init__(self, out: TextIO):
        self.out = out
        self.streamed: set[Finding] = set()  # findings already written on a line of their own

    def _line(self, obj: dict) -> None:
        self.out.write(_dumps(obj) + "\n")
        self.out.flush()

    def emit(self, item: object) -> None:
        if isinstance(item, (CarpAdvert, VrrpAdvert)):
            self._line({"type": "packet", **jsonout.packet(item)})
        elif isinstance(item, Finding):
            self.streamed.add(item)
            self._line({"type": "finding", **jsonout.finding(item)})
        elif not isinstance(item, (AddressClaim, Damaged)):
            self._line({"type": "event", **jsonout.event(item)})

    def close(self, pipeline, snapshot) -> None:
        """Every finding of the report, with its count, unless it was written once as it came.

        Packet findings were only inside their packet lines, and the CLI notes some
        (truncated-capture, capture-lost) when the capture ends: both are written here.
        """
        for t in pipeline.tallies():
            if t.count > 1 or t.first not in self.streamed:
                self._line({"type": "finding", **jsonout.finding(t.first, t.count)})
        for group in jsonout.groups(snapshot):
            self._line({"type": "group", **group})


class JsonDocumentSink:
    """One document; packets are streamed into it so memory stays flat."""

    wants_records = True

    def __init__(self, out: TextIO):
        self.out = out
        self.first = True
        out.write('{"schema":%d,"packets":[' % jsonout.SCHEMA)

    def emit(self, item: object) -> None:
        if isinstance(item, (CarpAdvert, VrrpAdvert)):
            self.out.write(("\n" if self.first else ",\n") + _dumps(jsonout.packet(item)))
            self.first = False

    def close(self, pipeline, snapshot) -> None:
        events = [jsonout.event(e) for e in pipeline.events]
        findings = [jsonout.finding(t.first, t.count) for t in pipeline.tallies()]
        groups = jsonout.groups(snapshot)
        self.out.write('\n],\n"groups":' + _dumps_list(groups) + ',\n"events":' + _dumps_list(events)
                       + ',\n"findings":' + _dumps_list(findings) + "}\n")
        self.out.flush()


def _dumps_list(items: list[dict]) -> str:
    return "[" + ",\n".join(_dumps(i) for i in items) + "]"
