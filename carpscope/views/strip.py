"""The timeline strip of the report (issue 17): a row per group of who was master when.

A column is a slice of the capture (views/periods.py scales time, compressing quiet
stretches); plain, a member is its letter, no master '.', two masters '#'; in a
colour terminal the same columns are coloured blocks. Pure, like the report.
"""

from __future__ import annotations

import itertools
import math

from carpscope.views import layout, periods
from carpscope.views.layout import Line
from carpscope.views.text import group_name

STRIP_WIDTH = 80  # the strip's width when the report has none
STRIP_LABEL = 24  # widest group name beside a strip; longer ones go on a line of their own
STRIP_QUIET = 3  # columns of a compressed quiet stretch
MEMBER_STYLES = ("green", "cyan", "blue", "magenta", "yellow", "bright_green", "bright_cyan", "bright_blue",
                 "bright_magenta", "bright_yellow")
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
# (plain, block) glyph and style of a column with no master, with two, and of a quiet stretch.
GAP, SPLIT, QUIET = (".", "\u2591", "red"), ("#", "\u2593", "bold red"), ("~", "~", "dim")
BLOCK = "\u2588"


def strip_lines(snapshot, events, first: float | None, last: float | None, width: int | None,
                blocks: bool = False) -> list[Line]:
    """A strip per group of who was master when, a column a slice of the capture (views/periods.py).

    Plain, a member is its letter, no master '.', two masters '#'; with `blocks` (a
    terminal in colour) the same columns are coloured block characters. Quiet
    stretches are compressed to a few columns, marked '~' on the axis.
    """
    if first is None or not snapshot.groups:
        return []
    lanes = periods.masterships(snapshot, events, first, last)
    total = width or STRIP_WIDTH
    names = [group_name(lane.key.proto, lane.key.id, lane.key.family, lane.key.vlan) for lane in lanes]
    label = max(len(n) for n in names)
    beside = label <= STRIP_LABEL and total - label - 4 >= 20
    lead = label + 4 if beside else 4
    cells = max(total - lead, 10)
    rel = [periods.Stretch(p.start - first, p.end - first, p.quiet)
           for p in periods.stretches(first, last, periods.moments(lanes, events, []))]
    scale = periods.Scale(rel, cells, STRIP_QUIET)
    who = _letters(lanes)
    # The same for every row (4,096 groups: a second of the report was each row recomputing them).
    bounds = [first + scale.t(i) for i in range(int(scale.width) + 1)]  # column i is [bounds[i], bounds[i + 1])
    looks = {m: (BLOCK if blocks else letter, style) for m, (letter, style) in who.items()}
    head = f"Masters (a column is {periods.duration(1 / scale.per_second)}" + (
        "; ~ quiet stretches compressed)" if any(p.quiet for p in rel) else ")")
    out: list[Line] = [[]] + layout.paragraph(head, width, 2)
    for lane, name in zip(lanes, names):
        row = _strip_row(lane, scale, first, bounds, looks, blocks)
        if beside:
            out.append([(f"  {name.ljust(label)}  ", "")] + row)
        else:
            out += layout.flow([(name, "")], width, 2, 4) + [[("    ", "")] + row]
    out.append([(" " * lead, "")] + [(_axis(scale, cells), "dim")])
    out += _legend(lanes, who, blocks, width)
    return [layout._rstrip(line) for line in out]


def _letters(lanes) -> dict[str, tuple[str, str]]:
    """Each member's letter and colour, in order of first mastership (the same in every group)."""
    order: dict[str, tuple[str, str]] = {}
    for p in sorted((p for lane in lanes for p in lane.periods), key=lambda p: p.start):
        if p.member not in order:
            n = len(order)
            order[p.member] = (_LETTERS[n] if n < len(_LETTERS) else "*", MEMBER_STYLES[n % len(MEMBER_STYLES)])
    return order


def _strip_row(lane, scale, first: float, bounds: list[float], looks, blocks: bool) -> Line:
    """A group's columns: two masters beat none, which beats the member master longest in the column.

    Each period and mark visits only the columns it meets, so a capture with thousands of
    master changes costs no more than their number. `looks` is each member's (glyph, style).
    """
    n = len(bounds) - 1
    x = scale.x
    marked, cover, crowd = _columns(lane, x, first, bounds)
    blank = (" ", "")
    gap, split = (GAP[1] if blocks else GAP[0], GAP[2]), (SPLIT[1] if blocks else SPLIT[0], SPLIT[2])
    columns: list[tuple[str, str]] = []
    for mark, c in zip(marked, cover):
        if mark is not None:
            columns.append(split if mark == "split" else gap)
        elif c is None:
            columns.append(blank)
        elif type(c) is not dict:
            columns.append(looks[c.member])
        else:
            columns.append(looks[max(c.items(), key=_longest)[0]])
    for p in lane.periods:  # a master for less than a column (a takeover preempted at once) still shows,
        look = looks[p.member]  # unless the column holds more (flapping: the gaps matter more)
        i = min(int(x(p.end - first)), n - 1)
        if columns[i][1] != SPLIT[2] and crowd[i] <= 2 and look not in columns[min(int(x(p.start - first)), i):i + 1]:
            columns[i] = look
    # Runs of one look, one segment: in blocks, a run of one style; plain, of one glyph too.
    if blocks:
        return [("".join(g for g, _ in run), style) for style, run in itertools.groupby(columns, key=_style)]
    return [(glyph * len(list(run)), style) for (glyph, style), run in itertools.groupby(columns)]


def _columns(lane, x, first: float, bounds: list[float]) -> tuple[list, list, list[int]]:
    """Per column: the mark met (split beats the others), what the periods cover, how many meet it.

    What they cover is the one period meeting the column, or once two do, member -> time
    master in it (only then is it needed: a capture of 4,096 groups has 300,000 columns).
    """
    n = len(bounds) - 1
    marked: list[str | None] = [None] * n
    cover: list = [None] * n
    crowd = [0] * n

    def met(start: float, end: float) -> range:
        a = min(int(x(start - first)), n - 1)
        return range(a, max(a + 1, min(math.ceil(x(end - first)), n)))

    for m in lane.marks:
        for i in met(m.start, m.end):
            if _meets(m.start, m.end, bounds[i], bounds[i + 1]) and marked[i] != "split":
                marked[i] = m.kind
    for p in lane.periods:
        start, end = p.start, p.end
        for i in met(start, end):
            t0, t1 = bounds[i], bounds[i + 1]
            if start < t1 and (end > t0 or (start == end and start >= t0)):  # (_meets, inlined)
                c = cover[i]
                if c is None:
                    cover[i] = p
                else:
                    if type(c) is not dict:
                        c = cover[i] = {c.member: _within(c, t0, t1)}
                    c[p.member] = c.get(p.member, 0.0) + min(end, t1) - max(start, t0)
                crowd[i] += 1
    return marked, cover, crowd


def _within(p, t0: float, t1: float) -> float:
    """How long the period p lies within [t0, t1)."""
    return 0.0 + min(p.end, t1) - max(p.start, t0)


def _longest(item: tuple[str, float]) -> tuple[float, str]:
    """The member master longest in a column (on a tie, the greater address: any fixed rule)."""
    return item[1], item[0]


def _style(look: tuple[str, str]) -> str:
    return look[1]


def _meets(start: float, end: float, t0: float, t1: float) -> bool:
    return start < t1 and (end > t0 or (start == end and start >= t0))


def _axis(scale, cells: int) -> str:
    """Time since the start of the capture under the strips; '~' over a quiet stretch."""
    axis = [" "] * cells
    for p, x0, x1 in scale.spans:
        if p.quiet:
            for i in range(round(x0), min(round(x1), cells)):
                axis[i] = "~"
    end = -1
    step = periods.step_for(12 / scale.per_second)
    for t, x in periods.ticks(scale, 12):
        text = _since(t, step)
        col = round(x)
        if col > end and col + len(text) <= cells and all(c == " " for c in axis[col:col + len(text)]):
            axis[col:col + len(text)] = text
            end = col + len(text)
    return "".join(axis)


def _since(t: float, step: float) -> str:
    """A tick's time since the start: +5s, +0.5s, +2:30 (min:s), +2:01:00 (h:min:s), +1d 02:00."""
    if t < 60 and step < 60:
        return f"+{t:.{0 if step >= 1 else 1 if step >= 0.1 else 3}f}s"
    whole = round(t)
    days, rest = divmod(whole, 86400)
    h, rest = divmod(rest, 3600)
    m, sec = divmod(rest, 60)
    if days:
        return f"+{days}d {h:02d}:{m:02d}" + (f":{sec:02d}" if step < 60 else "")
    if h:
        return f"+{h}:{m:02d}" + (f":{sec:02d}" if step < 60 else "") + ("" if step < 60 else "h")
    return f"+{m}:{sec:02d}"


def _legend(lanes, who, blocks: bool, width: int | None) -> list[Line]:
    fields: list[tuple[str, str]] = [((BLOCK if blocks else letter) + " " + addr, style)
                                     for addr, (letter, style) in who.items()]
    kinds = {m.kind for lane in lanes for m in lane.marks}
    for kind, look, what in (("gap", GAP, "no master"), ("split", SPLIT, "split brain")):
        if kind in kinds:
            fields.append(((look[1] if blocks else look[0]) + " " + what, look[2]))
    return layout.flow(fields, width, 2, 2) if fields else []


