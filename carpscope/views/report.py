"""The post-mortem at the end of `read` (and of `live`): groups, timeline, findings.

Pure: takes a tracker snapshot, the events, the findings and the capture's first and
last timestamps, returns text (piped output, golden tests) or rich renderables (a
terminal). Both are built from the same rows, so they never disagree. Passphrases
never appear, only their 1-based positions (DESIGN.md).
"""

from __future__ import annotations

from collections.abc import Iterable

from carpscope.model import Finding, Severity
from carpscope.views.text import HMAC_STYLE, SEVERITY_STYLE, escape, group_name, seconds, utc, where

_EVENT_STYLE = {"master-down": "bold red", "split-brain-started": "bold red", "split-brain-ended": "green",
                "master-changed": "magenta", "master-elected": "green", "parameters-changed": "cyan"}

GROUP_COLUMNS = ("group", "family", "VIPs", "master", "member", "mac", "parameters", "adverts", "signature",
                 "passphrase", "first", "last", "stack (evidence)")
EVENT_COLUMNS = ("time (UTC)", "since start", "frame", "group", "event", "from", "to", "cause", "gap",
                 "expected", "detail")
FINDING_COLUMNS = ("severity", "kind", "group", "frame", "time (UTC)", "since start", "detail")


# -- rows shared by both renderings ----------------------------------------------------

def _relative(time: float | None, first: float | None) -> str:
    if time is None or first is None:
        return "-"
    return f"{time - first:+.3f}s"


def _position(p: int | None) -> str:
    return "-" if p is None else ("empty" if p == 0 else str(p))


def _parameters(m, proto: str) -> str:
    if proto == "carp":
        text = f"advbase {m.advbase} advskew {m.advskew}"
        return text + (f" demote {m.demote}" if m.demote else "")
    unit = "cs" if m.version == 3 else "s"
    return f"priority {m.priority} adver_int {m.advbase}{unit}"


def _stack(m) -> str:
    """Which stack the member's adverts point to, and why (election/stack.py)."""
    return f"{m.stack} ({m.stack_evidence})" if m.stack_evidence else m.stack


def group_rows(snapshot, first: float | None) -> list[tuple[str, ...]]:
    """One row per member; the group's own columns only on its first row."""
    rows: list[tuple[str, ...]] = []
    for g in snapshot.groups:
        vips = ", ".join(g.vips) if g.vips else "?"
        if g.vips and g.vips_from:
            vips += f" ({g.vips_from})"
        head = (group_name(g.key.proto, g.key.id), where(g.key.family, g.key.vlan), vips, g.master or "none")
        for i, m in enumerate(g.members):
            member = m.addr + (" *" if m.addr == g.master else "")
            rows.append((*(head if i == 0 else ("",) * len(head)), member, m.mac or "?",
                         _parameters(m, g.key.proto), str(m.adverts), m.hmac,
                         _position(m.passphrase) if g.key.proto == "carp" else "n/a",
                         _relative(m.first, first), _relative(m.last, first), _stack(m)))
        if not g.members:
            rows.append((*head, *("-",) * (len(GROUP_COLUMNS) - len(head))))
    return rows


def event_rows(events: Iterable, first: float | None) -> list[tuple[str, ...]]:
    """Events in time order (a change concluded later still sits where the wire showed it)."""
    rows = []
    for e in sorted(events, key=lambda e: e.time):
        rows.append((utc(e.time), _relative(e.time, first), "-" if e.frame is None else str(e.frame),
                     group_name(e.proto, e.id, e.family, e.vlan),
                     e.kind, e.from_ or "-", e.to or "-", e.cause or "-", seconds(e.gap), seconds(e.expected),
                     escape(getattr(e, "detail", "") or "")))
    return rows


def _tallied(findings: Iterable) -> list[tuple[Finding, int]]:
    """Findings, or (finding, count) pairs as the pipeline keeps them; most severe first."""
    pairs = [(f, 1) if isinstance(f, Finding) else (f[0], f[1]) for f in findings]
    return sorted(pairs, key=lambda p: (-p[0].severity.rank, p[0].time is None, p[0].time or 0.0))


def finding_rows(findings: Iterable, first: float | None) -> list[tuple[str, ...]]:
    rows = []
    for f, count in _tallied(findings):
        rows.append((f.severity.value, f.kind + (f" (x{count})" if count > 1 else ""),
                     group_name(f.proto, f.id, f.family, f.vlan),
                     "-" if f.frame is None else str(f.frame), "-" if f.time is None else utc(f.time),
                     _relative(f.time, first), escape(f.detail)))
    return rows


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def summary(snapshot, events, findings, first: float | None, last: float | None) -> str:
    """The report's first line: the capture span and what was found."""
    if first is None:
        return "carpscope report: no protocol-112 packets"
    span = f"{utc(first)} to {utc(last if last is not None else first)} UTC ({seconds((last or first) - first)})"
    counts = {s: 0 for s in (Severity.CRITICAL, Severity.WARNING, Severity.INFO)}
    for f, _ in _tallied(findings):
        counts[f.severity] += 1
    found = ", ".join(f"{n} {s.value}" for s, n in counts.items())
    groups, events = len(snapshot.groups), len(list(events))
    return (f"carpscope report: {span}; {_count(groups, 'group')}, {_count(events, 'event')}, "
            f"findings: {found}")


# -- plain text ---------------------------------------------------------------------------

def _columns(headers: tuple[str, ...], rows: list[tuple[str, ...]], indent: str = "  ") -> list[str]:
    """Left-aligned columns two spaces apart, no trailing blanks: stable for golden files."""
    widths = [max(map(len, column)) for column in zip(headers, *rows)]
    # One format string for every row: thousands of timeline rows are formatted in C.
    line = indent + "  ".join(f"{{:<{w}}}" for w in widths)
    return [line.format(*row).rstrip() for row in (headers, *rows)]


def text_report(snapshot, events, findings, first_time: float | None, last_time: float | None) -> str:
    """The post-mortem as plain text, for pipes, files and golden tests."""
    events, findings = list(events), list(findings)
    out = [summary(snapshot, events, findings, first_time, last_time), ""]
    out.append(f"Groups ({len(snapshot.groups)}), * = master")
    rows = group_rows(snapshot, first_time)
    out += _columns(GROUP_COLUMNS, rows) if rows else ["  none"]
    out += ["", f"Timeline ({len(events)} events)"]
    rows = event_rows(events, first_time)
    out += _columns(EVENT_COLUMNS, rows) if rows else ["  none"]
    out += ["", f"Findings ({len(findings)}), most severe first"]
    tallied = finding_rows(findings, first_time)
    if not tallied:
        out.append("  none")
    for severity, kind, group, frame, time, rel, detail in tallied:
        where = ([f"frame {frame}"] if frame != "-" else []) + ([f"{time} UTC ({rel})"] if time != "-" else [])
        out.append(f"  {severity.upper()} {kind}  {group}" + (f"  {', '.join(where)}" if where else ""))
        out.append(f"    {detail}")
    return "\n".join(out) + "\n"


# -- rich ---------------------------------------------------------------------------------

def _table(title: str, headers: tuple[str, ...], no_wrap: tuple[str, ...] = ()):
    from rich.table import Table  # rich only for a terminal: plain text starts faster without it

    table = Table(title=title, title_justify="left", title_style="bold", expand=False)
    for h in headers:
        table.add_column(h, no_wrap=h in no_wrap, overflow="fold")
    return table


def rich_report(snapshot, events, findings, first_time: float | None, last_time: float | None) -> list:
    """The post-mortem as rich renderables (a terminal): header, groups, timeline, findings."""
    from rich.text import Text

    events, findings = list(events), list(findings)
    header = Text(summary(snapshot, events, findings, first_time, last_time), style="bold")

    groups = _table("Groups (* = master)", GROUP_COLUMNS, ("group", "member", "mac", "first", "last"))
    for row in group_rows(snapshot, first_time):
        cells = [Text(c) for c in row]
        cells[3].stylize("bold" if row[3] not in ("none", "") else "red")
        cells[8].stylize(HMAC_STYLE.get(row[8], ""))
        groups.add_row(*cells)

    timeline = _table("Timeline", EVENT_COLUMNS, ("time (UTC)", "since start", "frame", "event"))
    for row in event_rows(events, first_time):
        cells = [Text(c) for c in row]
        cells[4].stylize(_EVENT_STYLE.get(row[4], ""))
        timeline.add_row(*cells)

    found = _table("Findings (most severe first)", FINDING_COLUMNS, ("severity", "kind", "frame"))
    for row in finding_rows(findings, first_time):
        cells = [Text(c) for c in row]
        cells[0].stylize(SEVERITY_STYLE.get(row[0], ""))
        cells[1].stylize(SEVERITY_STYLE.get(row[0], ""))
        found.add_row(*cells)
    return [header, groups, timeline, found]
