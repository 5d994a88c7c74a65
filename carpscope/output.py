"""Where rendered output goes: text (plain or coloured), a JSON document, JSON lines.

The views render; these sinks only write, so the same views serve `read` and `live`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from carpscope.model import AddressClaim, CarpAdvert, Damaged, Finding, VrrpAdvert
from carpscope.summary import Summary
from carpscope.views import jsonout, layout, lines, report, tree


def _encoder() -> Callable[[object], str]:
    """What json.dumps(obj, ensure_ascii=True, separators=(",", ":")) gives, one encoder for the run.

    ensure_ascii: every byte that came from a packet reaches the terminal escaped. json
    is imported by the JSON sinks only: the text report starts without it (issue 19).
    """
    import json

    return json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode


PIPE_WIDTH = 80  # the report's width when stdout is no terminal (README's tour, files, less)


class TextSink:
    """Per-packet lines (or trees with -V), events inline, then the report.

    `width` is what the report is laid out to; `wrap` also folds packet lines at
    their spaces (a terminal: no word cut by the screen's edge). A pipe keeps one
    line per packet for grep. `console`, when given, only adds colour: the text,
    and so the layout, is the same with and without it (issue 14).
    """

    def __init__(self, out: TextIO, console=None, verbose: bool = False, quiet: bool = False,
                 width: int | None = PIPE_WIDTH, wrap: bool = False):
        self.out, self.console, self.verbose, self.quiet = out, console, verbose, quiet
        self.width, self.wrap = width, wrap

    @property
    def wants_records(self) -> bool:
        """-q prints only the report: the pipeline may skip building per-packet records."""
        return not self.quiet

    def emit(self, item: object) -> None:
        if self.quiet:
            return
        if isinstance(item, (CarpAdvert, VrrpAdvert, AddressClaim, Damaged)):
            if self.verbose:
                self._lines([[(line, "")] for line in tree.record(item)] + [[]])
                return
            segments = lines.record(item)
        elif isinstance(item, Finding):
            segments = lines.finding(item)
        else:
            segments = lines.event(item)
        if self.console is None and not self.wrap:
            self.out.write(lines.plain(segments) + "\n")  # the common case, kept fast
        else:
            self._lines([segments])

    def _lines(self, styled: list[layout.Line]) -> None:
        """Lines as they are, or folded to the terminal (under the time, or under their indent)."""
        if self.wrap:
            styled = [part for line in styled for part in layout.wrap(line, self.width, _hang(line))]
        if self.console is None:
            self.out.write("".join(layout.text(line) + "\n" for line in styled))
            return
        from rich.text import Text

        for line in styled:
            self.console.print(Text.assemble(*line), soft_wrap=True, highlight=False, markup=False,
                               emoji=False)

    def follow_dashboard(self, width: int | None) -> None:
        """The report follows live's dashboard (which kept packet lines off the screen), at `width`."""
        self.quiet = False
        self.width = width or self.width

    def close(self, summary: Summary, snapshot) -> None:
        findings = list(summary.findings)
        styled = report.report_lines(snapshot, summary.events, findings, summary.first_time, summary.last_time,
                                     self.width, blocks=self.console is not None)
        if summary.points:  # named captures: after the header, their clocks and who heard whom
            at = styled.index([]) if [] in styled else len(styled)
            styled[at:at] = [[]] + report.vantage_lines(summary.points, summary.hearing, self.width)
        if self.console is None:
            if not self.quiet:
                self.out.write("\n")
            self.out.write("".join(layout.text(line) + "\n" for line in styled))
        else:
            self._lines(([[]] if not self.quiet else []) + styled)
        self.out.flush()


def _hang(line: layout.Line) -> int:
    """Continuation lines start under the time of a packet line, or 4 past a line's indent."""
    t = layout.text(line)
    indent = len(t) - len(t.lstrip(" "))
    return 7 if t[:7].strip().isdigit() or not t[:7].strip() else indent + 4


class JsonLinesSink:
    """One object per line, in the order things happen, groups last; flushed per line.

    With -q no packet lines: only events, findings and groups (schema 2).
    """

    def __init__(self, out: TextIO, quiet: bool = False):
        self.out, self.quiet = out, quiet
        self.streamed: set[Finding] = set()  # findings already written on a line of their own
        self._dumps = _encoder()

    @property
    def wants_records(self) -> bool:
        return not self.quiet

    def _line(self, obj: dict) -> None:
        self.out.write(self._dumps(obj) + "\n")
        self.out.flush()

    def emit(self, item: object) -> None:
        if isinstance(item, (CarpAdvert, VrrpAdvert)):
            if not self.quiet:
                self._line({"type": "packet", **jsonout.packet(item)})
        elif isinstance(item, Finding):
            self.streamed.add(item)
            self._line({"type": "finding", **jsonout.finding(item)})
        elif not isinstance(item, (AddressClaim, Damaged)):
            self._line({"type": "event", **jsonout.event(item)})

    def close(self, summary: Summary, snapshot) -> None:
        """Every finding of the report, with its count, unless it was written once as it came.

        Packet findings were only inside their packet lines, and the CLI notes some
        (truncated-capture, capture-lost) when the capture ends: both are written here.
        """
        for first, count in summary.findings:
            if count > 1 or first not in self.streamed:
                self._line({"type": "finding", **jsonout.finding(first, count)})
        for group in jsonout.groups(snapshot):
            self._line({"type": "group", **group})
        for point in jsonout.vantages(summary) if summary.points else ():
            self._line({"type": "vantage", **point})


class JsonDocumentSink:
    """One document; packets are streamed into it so memory stays flat (none with -q)."""

    def __init__(self, out: TextIO, quiet: bool = False):
        self.out, self.quiet = out, quiet
        self.first = True
        self._dumps = _encoder()
        out.write('{"schema":%d' % jsonout.SCHEMA + (',\n' if quiet else ',"packets":['))

    @property
    def wants_records(self) -> bool:
        return not self.quiet

    def emit(self, item: object) -> None:
        if isinstance(item, (CarpAdvert, VrrpAdvert)) and not self.quiet:
            self.out.write(("\n" if self.first else ",\n") + self._dumps(jsonout.packet(item)))
            self.first = False

    def close(self, summary: Summary, snapshot) -> None:
        events = [jsonout.event(e) for e in summary.events]
        findings = [jsonout.finding(first, count) for first, count in summary.findings]
        groups = jsonout.groups(snapshot)
        points = ',\n"vantages":' + self._list(jsonout.vantages(summary)) if summary.points else ""
        self.out.write(("" if self.quiet else "\n],\n") + '"groups":' + self._list(groups) + ',\n"events":'
                       + self._list(events) + ',\n"findings":' + self._list(findings) + points + "}\n")
        self.out.flush()

    def _list(self, items: list[dict]) -> str:
        return "[" + ",\n".join(map(self._dumps, items)) + "]"
