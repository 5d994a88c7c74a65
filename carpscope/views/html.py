"""The report as one self-contained HTML file, with the timeline drawn in SVG (issue 17).

Pure: returns a string; the CLI writes it (--html). The file fetches nothing and runs
nothing: a Content-Security-Policy forbids scripts and every other source, hover
details are SVG <title>s, and links to the tables are #anchors that CSS :target
highlights. Everything from packets or from the user (addresses, file names,
finding details) goes through html.escape, after views/text.escape has made its
control bytes visible. Passphrases never appear, only their positions (docs/design.md).
"""

from __future__ import annotations

import datetime as _dt
import html
import json
from collections.abc import Sequence

from carpscope import __version__
from carpscope.views import periods, report
from carpscope.views.text import escape, group_name, utc

CSP = ("default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
       "form-action 'none'")
WIDTH = 1200  # the chart's width in CSS pixels (an SVG unit is a pixel: the tests measure in them)
QUIET = 56  # pixels of a compressed quiet stretch
# Heights: a lane's name and its two rows of markers, a member, gap labels, the axis.
HEAD, ROW, FOOT, AXIS = 34, 20, 16, 40
MEMBER_COLOURS = ("#2f9e44", "#1c7ed6", "#ae3ec9", "#f08c00", "#0ca678", "#7048e8", "#e64980", "#74b816")
EVENT_COLOURS = {"master-elected": "#2f9e44", "master-changed": "#ae3ec9", "master-down": "#c92a2a",
                 "split-brain-started": "#c92a2a", "split-brain-ended": "#2f9e44", "parameters-changed": "#1098ad"}
SEVERITY_COLOURS = {"critical": "#c92a2a", "warning": "#e67700", "info": "#1098ad"}


def _e(value: object) -> str:
    """Packet- or user-borne text for HTML: control bytes shown as \\xNN, then markup escaped."""
    return html.escape(escape(str(value)), quote=True)


def render(snapshot, events, findings, first: float | None, last: float | None,
           sources: Sequence[str] = ()) -> str:
    """The whole page: header, chart, groups, events and findings."""
    events = sorted(events, key=lambda e: e.time)  # the order of report.event_rows: row i is event i
    pairs = report._tallied(findings)
    title = "carpscope report" + (": " + ", ".join(sources) if sources else "")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        '<header><h1>carpscope report</h1>',
        "".join(f'<p class="source">{_e(s)}</p>' for s in sources),
        f'<p class="summary">{_e(report.summary(snapshot, events, pairs, first, last).split(": ", 1)[1])}</p>',
        "</header>",
        '<section id="chart"><h2>Masters</h2>',
        chart(snapshot, events, pairs, first, last),
        LEGEND,
        "</section>",
        _table("groups", f"Groups ({len(snapshot.groups)}), * = master", report.GROUP_COLUMNS,
               report.group_rows(snapshot, first), None),
        _table("events", f"Timeline ({len(events)} events)", report.EVENT_COLUMNS,
               report.event_rows(events, first), "event"),
        _table("findings", f"Findings ({len(pairs)}), most severe first", report.FINDING_COLUMNS,
               report.finding_rows(pairs, first), "finding", severity=True),
        f'<footer>carpscope {_e(__version__)}; times in UTC</footer>',
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def _table(ident: str, heading: str, columns, rows, row_id: str | None, severity: bool = False) -> str:
    out = [f'<section id="{ident}"><h2>{_e(heading)}</h2>']
    if not rows:
        return out[0] + "<p>none</p></section>"
    heads = "".join(f"<th>{_e(c)}</th>" for c in columns)
    out.append(f'<div class="table"><table><thead><tr>{heads}</tr></thead><tbody>')
    for i, row in enumerate(rows, 1):
        attrs = f' id="{row_id}-{i}"' if row_id else ""
        if severity:
            attrs += f' class="{_e(row[0])}"'
        # The report's rows already show packet-borne text escaped (views/text.escape): markup only.
        out.append(f"<tr{attrs}>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>")
    out.append("</tbody></table></div></section>")
    return "".join(out)


# -- the chart --------------------------------------------------------------------------------

def chart(snapshot, events: list, pairs: list, first: float | None, last: float | None) -> str:
    """One lane per group: a row per member with a bar per mastership; gaps, split brains, markers."""
    if first is None or not snapshot.groups:
        return '<p class="empty">no group to draw</p>'
    lanes = periods.masterships(snapshot, events, first, last)
    findings = [f for f, _ in pairs]
    names = [group_name(lane.key.proto, lane.key.id, lane.key.family, lane.key.vlan) for lane in lanes]
    widest = max([len(n) for n in names] + [len(m) + 2 for lane in lanes for m in _rows(lane)])
    left = min(max(widest * 7 + 20, 120), 320)
    plot = WIDTH - left - 40  # room on the right for the last tick's label
    scale = periods.Scale(periods.stretches(first, last, periods.moments(lanes, events, findings)), plot, QUIET)
    colours = _colours(lanes)
    spans = [[p.start, p.end, left + x0, left + x1, p.quiet] for p, x0, x1 in scale.spans]
    body: list[str] = []
    y: float = 8
    loose = [(i, f) for i, f in enumerate(findings, 1) if f.time is not None and f.proto is None]
    if loose:  # findings about no group (a truncated capture, say) get a row of their own
        body.append(f'<text class="lane-name" x="8" y="{y + 14}">capture</text>')
        body += [_finding_marker(i, f, left + scale.x(f.time), y + 11) for i, f in loose]
        y += HEAD
    # Each lane's events and findings, numbered as in the tables, sorted out once (4,096 groups and
    # 10,000 events: a walk over all of them per lane took a minute).
    by_lane: dict[tuple, tuple[list, list]] = {_lane_key(lane.key): ([], []) for lane in lanes}
    for i, e in enumerate(events, 1):
        by_lane.get(_lane_key(e), ([], []))[0].append((i, e))
    for i, f in enumerate(findings, 1):
        if f.time is not None and f.proto is not None:
            by_lane.get(_lane_key(f), ([], []))[1].append((i, f))
    for lane, name in zip(lanes, names):
        lane_events, lane_findings = by_lane[_lane_key(lane.key)]
        part, y = _lane(lane, name, lane_events, lane_findings, scale, left, y, colours)
        body.append(part)
    height = y + AXIS
    axis = _axis(scale, left, y, plot)
    quiet = _quiet(scale, left, y)
    return (f'<div class="chart"><svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="who was master of each group when" '
            f"data-first=\"{first!r}\" data-last=\"{(last if last is not None else first)!r}\" "
            f"data-scale='{html.escape(json.dumps(spans), quote=True)}'>"
            f"{PATTERNS}{''.join(body)}{quiet}{axis}</svg></div>")


def _lane_key(x) -> tuple:
    """The group of a lane's key, an event or a finding, as a dict key."""
    return x.proto, x.id, x.family, tuple(x.vlan)


def _rows(lane) -> list[str]:
    """The member rows of a lane: every member seen, and any master the events name that is not one."""
    rows = list(lane.members)
    rows += [p.member for p in lane.periods if p.member not in rows]
    return list(dict.fromkeys(rows))


def _colours(lanes) -> dict[str, str]:
    order: dict[str, str] = {}
    for p in sorted((p for lane in lanes for p in lane.periods), key=lambda p: p.start):
        order.setdefault(p.member, MEMBER_COLOURS[len(order) % len(MEMBER_COLOURS)])
    return order


def _lane(lane, name: str, lane_events, lane_findings, scale, left: float, y: float, colours) -> tuple[str, float]:
    rows = _rows(lane)
    top, bars_top = y, y + HEAD
    bottom = bars_top + ROW * len(rows)
    group = _e(name)
    out = [f'<g class="lane" data-group="{group}" data-key="{_e(_key(lane.key))}">',
           f'<rect class="lane-bg" x="0" y="{top}" width="{WIDTH}" height="{bottom + FOOT - top}"/>',
           f'<text class="lane-name" x="8" y="{top + 20}">{group}</text>']
    for r, member in enumerate(rows):
        ry = bars_top + r * ROW
        out.append(f'<text class="member" x="{left - 8}" y="{ry + 13}" text-anchor="end">{_e(member)}</text>')
        out.append(f'<line class="row" x1="{left}" x2="{left + scale.width}" y1="{ry + ROW / 2}" y2="{ry + ROW / 2}"/>')
        for p in (p for p in lane.periods if p.member == member):
            x0, x1 = left + scale.x(p.start), left + scale.x(p.end)
            width = max(x1 - x0, 2.0)
            tip = (f"{member} master of {name} from {utc(p.start)} to {utc(p.end)} UTC "
                   f"({periods.duration(p.end - p.start)})" + (f", frame {p.frame}" if p.frame is not None else ""))
            out.append(f'<rect class="bar" data-member="{_e(member)}" data-start="{p.start!r}" '
                       f'data-end="{p.end!r}" x="{x0:.2f}" y="{ry + 3}" width="{width:.2f}" height="{ROW - 6}" '
                       f'fill="{colours.get(member, "#495057")}"><title>{_e(tip)}</title></rect>')
    free = 0.0  # where the row of gap labels is free again: a label that would overlap is left out
    for m in lane.marks:
        mark, free = _mark(m, name, scale, left, bars_top, bottom, free)
        out.append(mark)
    out += [_event_marker(i, e, left + scale.x(e.time), top + 10) for i, e in lane_events]  # events above,
    out += [_finding_marker(i, f, left + scale.x(f.time), top + 24) for i, f in lane_findings]  # findings below
    out.append("</g>")
    return "".join(out), bottom + FOOT + 6


def _key(key) -> str:
    return f"{key.proto}/{key.id}/{key.family}/{'.'.join(map(str, key.vlan))}"


def _mark(m, name: str, scale, left: float, top: float, bottom: float, free: float) -> tuple[str, float]:
    """A gap (no master: stripes) or a split brain (two masters: cross-hatch), over the lane's rows."""
    x0, x1 = left + scale.x(m.start), left + scale.x(m.end)
    width = max(x1 - x0, 3.0)
    length = periods.duration(m.end - m.start)
    if m.kind == "gap":
        label = f"no master {length}"
        if m.gap is not None and m.expected is not None:
            label = f"gap {m.gap:.2f}s, expected {m.expected:.2f}s"
        elif m.gap is not None:
            label = f"gap {m.gap:.2f}s"
        slow = m.gap is not None and m.expected is not None and round(m.gap, 2) > round(m.expected, 2)
        tip = f"{name}: no master from {utc(m.start)} to {utc(m.end)} UTC ({label})"
    else:
        label = f"split brain {length}"
        slow = True
        tip = f"{name}: {' and '.join(m.members)} both master from {utc(m.start)} to {utc(m.end)} UTC ({length})"
    middle, half = (x0 + x1) / 2, len(label) * 3.1 + 4  # 10px monospace: about 6.2px a character
    text = ""
    if middle - half >= free:
        text = (f'<text class="mark-label{" late" if slow else ""}" x="{middle:.2f}" y="{bottom + 12}" '
                f'text-anchor="middle">{_e(label)}</text>')
        free = middle + half
    return (f'<g class="{m.kind}" data-start="{m.start!r}" data-end="{m.end!r}"'
            + (f' data-gap="{m.gap!r}"' if m.gap is not None else "")
            + (f' data-expected="{m.expected!r}"' if m.expected is not None else "") + ">"
            f'<rect x="{x0:.2f}" y="{top}" width="{width:.2f}" height="{bottom - top}" fill="url(#{m.kind})">'
            f"<title>{_e(tip)}</title></rect>{text}</g>"), free


def _event_marker(i: int, e, x: float, y: float) -> str:
    frame = "" if e.frame is None else f"frame {e.frame}, "
    who = f" {e.from_ or '-'} -> {e.to or '-'}"
    extra = "".join(f", {k} {v}" for k, v in (("cause", e.cause), ("gap", report.seconds(e.gap) if e.gap is not None
                                                                       else None),
                                               ("expected", report.seconds(e.expected) if e.expected is not None
                                                else None)) if v)
    tip = f"{e.kind}{who} ({frame}{utc(e.time)} UTC{extra}): {e.detail}"
    colour = EVENT_COLOURS.get(e.kind, "#495057")
    return (f'<a href="#event-{i}" class="marker event" data-kind="{_e(e.kind)}" data-time="{e.time!r}"'
            f' data-frame="{"" if e.frame is None else e.frame}"><title>{_e(tip)}</title>'
            f'<path d="M{x:.2f} {y - 6}l6 6l-6 6l-6 -6z" fill="{colour}"/></a>')


def _finding_marker(i: int, f, x: float, y: float) -> str:
    frame = "" if f.frame is None else f"frame {f.frame}, "
    tip = f"{f.severity.value} {f.kind} ({frame}{utc(f.time)} UTC): {f.detail}"
    colour = SEVERITY_COLOURS.get(f.severity.value, "#495057")
    return (f'<a href="#finding-{i}" class="marker finding" data-kind="{_e(f.kind)}" data-time="{f.time!r}"'
            f' data-frame="{"" if f.frame is None else f.frame}"><title>{_e(tip)}</title>'
            f'<path d="M{x:.2f} {y - 7}l7 12h-14z" fill="{colour}" stroke="#fff"/></a>')


def _quiet(scale, left: float, bottom: float) -> str:
    """A compressed quiet stretch: a grey band with torn edges and how long it lasted."""
    out = []
    for p, x0, x1 in scale.spans:
        if not p.quiet:
            continue
        a, b = left + x0, left + x1
        zig = "".join(f"l4 {5}l-4 {5}" for _ in range(int(bottom // 10) + 1))
        out.append(f'<g class="quiet" data-start="{p.start!r}" data-end="{p.end!r}">'
                   f'<rect x="{a:.2f}" y="0" width="{b - a:.2f}" height="{bottom + 4}"/>'
                   f'<path d="M{a:.2f} 0{zig}M{b - 4:.2f} 0{zig}"/>'
                   f'<text x="{(a + b) / 2:.2f}" y="{bottom + 16}" text-anchor="middle">'
                   f"{_e(periods.duration(p.end - p.start))}</text>"
                   f"<title>{_e(f'nothing happened for {periods.duration(p.end - p.start)}: compressed')}</title></g>")
    return "".join(out)


def _axis(scale, left: float, y: float, plot: float) -> str:
    """UTC ticks: dates, hours, minutes, seconds or their fractions as the scale needs; the date when it changes."""
    out = [f'<g class="axis"><line x1="{left}" x2="{left + plot}" y1="{y}" y2="{y}"/>']
    day = None
    quiet = [(x0 + x1) / 2 for p, x0, x1 in scale.spans if p.quiet]
    for t, x in periods.ticks(scale, 90):
        if any(abs(x - q) < 64 for q in quiet):
            continue  # the quiet stretch's length is written there
        stamp = _dt.datetime.fromtimestamp(t, _dt.timezone.utc)
        step = periods.step_for(90 / scale.per_second)
        label = _tick_label(stamp, step)
        out.append(f'<line x1="{left + x:.2f}" x2="{left + x:.2f}" y1="{y}" y2="{y + 5}"/>'
                   f'<text x="{left + x:.2f}" y="{y + 16}" text-anchor="middle">{_e(label)}</text>')
        if step < 86400 and stamp.date() != day:
            day = stamp.date()
            out.append(f'<text class="day" x="{left + x:.2f}" y="{y + 29}" text-anchor="middle">{day}</text>')
    out.append(f'<text class="utc" x="8" y="{y + 16}">time (UTC)</text></g>')
    return "".join(out)


def _tick_label(stamp: _dt.datetime, step: float) -> str:
    if step >= 86400:
        return stamp.strftime("%Y-%m-%d")
    if step >= 60:
        return stamp.strftime("%H:%M")
    if step >= 1:
        return stamp.strftime("%H:%M:%S")
    digits = 1 if step >= 0.1 else 2 if step >= 0.01 else 3
    return stamp.strftime("%H:%M:%S.%f")[:9 + digits]


PATTERNS = (
    '<defs>'
    '<pattern id="gap" patternUnits="userSpaceOnUse" width="8" height="8" patternTransform="rotate(45)">'
    '<rect width="8" height="8" fill="#ffe8cc"/><rect width="3" height="8" fill="#d9480f"/></pattern>'
    '<pattern id="split" patternUnits="userSpaceOnUse" width="7" height="7">'
    '<rect width="7" height="7" fill="#ff8787" fill-opacity=".3"/>'
    '<path d="M0 0L7 7M7 0L0 7" stroke="#a51111" stroke-width="1.6"/></pattern>'
    '</defs>'
)

LEGEND = (
    '<p class="legend">'
    '<svg width="28" height="12"><rect width="28" height="12" fill="#2f9e44"/></svg> master (a bar per mastership) '
    '<svg width="28" height="12"><rect width="28" height="12" fill="#ffe8cc"/>'
    '<rect width="28" height="12" fill="url(#gap)"/></svg> no master '
    '<svg width="28" height="12"><rect width="28" height="12" fill="#ffc9c9"/>'
    '<rect width="28" height="12" fill="url(#split)"/></svg> split brain (two masters) '
    '&#9670; event &#9650; finding (hover for details, click for the row) '
    '<svg width="28" height="12"><rect width="28" height="12" fill="#e9ecef"/></svg> quiet stretch, compressed'
    "</p>"
)

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#212529;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
.summary{font-weight:600}.source{font-family:ui-monospace,monospace;margin:0}
.chart svg{max-width:100%;height:auto}
svg text{font:11px ui-monospace,"DejaVu Sans Mono",monospace;fill:#212529}
svg .lane-name{font-weight:700;font-size:12px}
svg .lane-bg{fill:#fff;stroke:#dee2e6}
svg .row{stroke:#f1f3f5;stroke-width:12}
svg .bar{stroke:#000;stroke-opacity:.25}
svg .gap rect,svg .split rect{stroke:#862e9c;stroke-width:0}
svg .split rect{stroke:#a51111;stroke-width:1.5;fill-opacity:1}
svg .gap rect{stroke:#d9480f;stroke-width:1}
svg .mark-label{font-size:10px;fill:#5c3d00}svg .mark-label.late{fill:#a51111;font-weight:700}
svg .marker path{stroke:#fff;stroke-width:1}
svg .marker:hover path,svg .marker:focus path{stroke:#000;stroke-width:2.5}
svg .quiet rect{fill:#dee2e6;opacity:.8}svg .quiet path{fill:none;stroke:#868e96}
svg .quiet text{fill:#495057;font-style:italic}
svg .axis line{stroke:#495057}svg .axis .day{fill:#495057}
.legend svg{vertical-align:middle}
table{border-collapse:collapse;font:12px/1.4 ui-monospace,"DejaVu Sans Mono",monospace}
th,td{border-bottom:1px solid #dee2e6;padding:3px 10px 3px 0;text-align:left;vertical-align:top}
th{border-bottom:2px solid #adb5bd}
td{white-space:nowrap}td:last-child{white-space:normal;min-width:24ch;max-width:80ch}
.table{overflow-x:auto}
tr:target{background:#fff3bf;outline:2px solid #f08c00}
tr.critical td:first-child{color:#c92a2a;font-weight:700}tr.warning td:first-child{color:#b35c00;font-weight:700}
footer{margin-top:28px;color:#868e96;font-size:12px}
"""
