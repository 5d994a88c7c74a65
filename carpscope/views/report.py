"""The post-mortem at the end of `read` (and of `live`): groups, timeline, findings.

Pure: takes a tracker snapshot, the events, the findings and the capture's first and
last timestamps, returns styled lines laid out to a width (views/layout.py): a pipe
joins them as plain text, a terminal colours the same text, so the two never differ
but in colour. Passphrases never appear, only their 1-based positions (docs/design.md).
"""

from __future__ import annotations

from collections.abc import Iterable

from carpscope.election import events as ev
from carpscope.model import Finding, Severity
from carpscope.views import layout
from carpscope.views.layout import Line
from carpscope.views.strip import strip_lines
from carpscope.views.text import HMAC_STYLE, SEVERITY_STYLE, escape, group_name, seconds, utc, where

_EVENT_STYLE = {ev.MASTER_DOWN: "bold red", ev.SPLIT_BRAIN_STARTED: "bold red", ev.SPLIT_BRAIN_ENDED: "green",
                ev.MASTER_CHANGED: "magenta", ev.MASTER_ELECTED: "green", ev.PARAMETERS_CHANGED: "cyan"}

GROUP_COLUMNS = ("group", "family", "VIPs", "master", "member", "mac", "parameters", "adverts", "signature",
                 "passphrase", "first", "last", "stack (evidence)")
EVENT_COLUMNS = ("time (UTC)", "since start", "frame", "group", "event", "from", "to", "cause", "gap",
                 "expected", "detail")
FINDING_COLUMNS = ("severity", "kind", "group", "frame", "time (UTC)", "since start", "detail")
_GROUP_HEAD = GROUP_COLUMNS[:4]  # a group's own columns; the rest are its members'


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
    rows: list[tuple[str, ...]] = []
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
    rows: list[tuple[str, ...]] = []
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


# -- layout -------------------------------------------------------------------------------

def _styled(row: tuple[str, ...], styles: dict[int, str]) -> list[tuple[str, str]]:
    return [(cell, styles.get(i, "")) for i, cell in enumerate(row)]


def _group_lines(snapshot, first: float | None, width: int | None) -> list[Line]:
    """One table when it fits; else a line per group over a member table; else a block per member."""
    rows = group_rows(snapshot, first)
    styled = [_styled(r, {3: "bold" if r[3] not in ("none", "") else "bold red", 4: "bold" if r[4].endswith(" *")
                          else "", 8: HMAC_STYLE.get(r[8], "")}) for r in rows]
    if not rows:
        return [[("  none", "")]]
    whole = layout.table(GROUP_COLUMNS, styled, width)
    if whole is not None:
        return whole
    out: list[Line] = []
    head, start = len(_GROUP_HEAD), 0
    for g in snapshot.groups:
        n = max(len(g.members), 1)
        own = styled[start:start + n]
        start += n
        name, family, vips, master = (cell for cell, _ in own[0][:head])
        out += layout.flow([(name, "bold"), (family, ""), ("VIPs " + vips, ""),
                            ("master " + master, own[0][3][1])], width, 2, 6)
        members = [r[head:] for r in own if r[head][0] != "-"]
        sub = layout.table(GROUP_COLUMNS[head:], members, width, indent=4)
        if sub is not None:
            out += sub
            continue
        for r in members:
            member, mac, params, adverts, sig, pos, seen_first, seen_last, stack = r
            out += layout.flow([member, ("mac " + mac[0], ""), params, (_count(int(adverts[0]), "advert"), ""),
                                ("signature " + sig[0], sig[1]), ("passphrase " + pos[0], ""),
                                (f"seen {seen_first[0]} to {seen_last[0]}", ""), ("stack " + stack[0], "")],
                               width, 4, 6)
    return out


def _event_lines(events: list, first: float | None, width: int | None) -> list[Line]:
    """A table (detail wrapped in its column) when it fits; else a few lines per event."""
    rows = event_rows(events, first)
    if not rows:
        return [[("  none", "")]]
    styled = [_styled(r, {0: "dim", 4: _EVENT_STYLE.get(r[4], "")}) for r in rows]
    whole = layout.table(EVENT_COLUMNS, styled, width, wrap_last=True)
    if whole is not None:
        return whole
    out: list[Line] = []
    for r in styled:
        (time, _), (rel, _), (frame, _), (group, _), kind, (from_, _), (to, _), (cause, _), (gap, _), \
            (expected, _), (detail, _) = r
        fields = [(time, "dim"), (rel, ""), ("frame " + frame if frame != "-" else "", ""), (group, ""), kind,
                  (f"{from_} -> {to}", ""), ("cause " + cause if cause != "-" else "", ""),
                  ("gap " + gap if gap != "-" else "", ""), ("expected " + expected if expected != "-" else "", "")]
        out += layout.flow(fields, width, 2, 4)
        if detail:
            out += layout.paragraph(detail, width, 4)
    return out


def _finding_lines(findings: list, first: float | None, width: int | None) -> list[Line]:
    """Each finding's head, then its detail wrapped at word boundaries under it."""
    out: list[Line] = []
    for severity, kind, group, frame, time, rel, detail in finding_rows(findings, first):
        style = SEVERITY_STYLE.get(severity, "")
        fields = [(f"{severity.upper()} {kind}", style), (group, "")]
        where = ([f"frame {frame}"] if frame != "-" else []) + ([f"{time} UTC ({rel})"] if time != "-" else [])
        fields.append((", ".join(where), ""))
        out += layout.flow(fields, width, 2, 4)
        out += layout.paragraph(detail, width, 4)
    return out or [[("  none", "")]]


def vantage_lines(points, hearing, width: int | None = None) -> list[Line]:
    """Named captures (issue 15): each point's clock offset, then who heard whom, per member."""
    if not points:
        return []
    reference = points[0][0]
    fields = []
    for i, (name, offset, shared) in enumerate(points):
        if i == 0:
            fields.append((f"{escape(reference)} (reference clock)", ""))
        else:
            source = f" (from {shared} shared frames)" if shared else " (no shared frames)"
            fields.append((f"{escape(name)} {offset:+.3f}s{source}", ""))
    out = [[("Vantage points", "bold")]] + layout.flow(fields, width, 2, 4)
    for (proto, id_, family, vlan), addr, heard_at in hearing:
        heard = ", ".join(f"{escape(p)} {h}/{h + m}" for p, h, m in heard_at)
        out += layout.flow([(group_name(proto, id_, family, vlan), ""), (f"adverts from {addr} heard at {heard}", "")],
                           width, 2, 4)
    return out


def report_lines(snapshot, events, findings, first_time: float | None, last_time: float | None,
                 width: int | None = None, blocks: bool = False) -> list[Line]:
    """The post-mortem as styled lines of at most `width` columns (None: one line per row).

    `blocks`: the timeline strip in coloured block characters (a terminal in colour).
    """
    events, findings = list(events), list(findings)
    parts = summary(snapshot, events, findings, first_time, last_time).split("; ")
    out = layout.flow([(p + ";" * (i < len(parts) - 1), "bold") for i, p in enumerate(parts)], width, 0, 0, " ")
    out.append([])
    out.append([(f"Groups ({len(snapshot.groups)}), * = master", "bold")])
    out += _group_lines(snapshot, first_time, width)
    out += [[], [(f"Timeline ({_count(len(events), 'event')})", "bold")]]
    out += _event_lines(events, first_time, width)
    out += strip_lines(snapshot, events, first_time, last_time, width, blocks)
    out += [[], [(f"Findings ({len(findings)}), most severe first", "bold")]]
    out += _finding_lines(findings, first_time, width)
    return out


def text_report(snapshot, events, findings, first_time: float | None, last_time: float | None,
                width: int | None = None) -> str:
    """The post-mortem as plain text; the same lines a terminal shows in colour."""
    lines = report_lines(snapshot, events, findings, first_time, last_time, width)
    return "\n".join(layout.text(line) for line in lines) + "\n"
