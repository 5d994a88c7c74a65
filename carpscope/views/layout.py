"""Text laid out to a width: words never broken, columns when they fit (issue 14).

Every view builds lines as (text, style) segments, the same for a pipe and a
terminal: the CLI joins them as plain text or applies the styles as colours, so
colour never changes the layout. Only the width does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

Segment = tuple[str, str]  # (text, rich style or "")
Line = list[Segment]

MIN_DETAIL = 30  # a wrapped last column narrower than this reads worse than blocks


def text(line: Line) -> str:
    return "".join(t for t, _ in line)


def length(line: Line) -> int:
    return sum(len(t) for t, _ in line)


def _hard_split(word: str, room: int) -> list[str]:
    """A single word wider than the line (only on absurdly narrow screens)."""
    room = max(room, 1)
    return [word[i:i + room] for i in range(0, len(word), room)] or [""]


def flow(fields: Sequence[Segment], width: int | None, indent: int = 0, hang: int = 4,
         gap: str = "  ") -> list[Line]:
    """Fields `gap` apart on lines of at most `width`; a field that does not fit starts
    the next line at `hang`, and one wider than a line is split at its spaces."""
    if width is None:
        line: Line = [(" " * indent, "")] if indent else []
        for i, (t, style) in enumerate(f for f in fields if f[0]):
            line += [(gap, "")] if i else []
            line.append((t, style))
        return [line]
    lines: list[Line] = []
    line, used, fresh = ([(" " * indent, "")] if indent else []), indent, True
    for t, style in fields:
        if not t:
            continue
        sep = "" if fresh else gap
        if used + len(sep) + len(t) <= width:
            line += [(sep, "")] if sep else []
            line.append((t, style))
            used, fresh = used + len(sep) + len(t), False
            continue
        if not fresh:
            lines.append(line)
            line, used, fresh = [(" " * hang, "")], hang, True
        if used + len(t) <= width:
            line.append((t, style))
            used, fresh = used + len(t), False
            continue
        # Wider than a whole line: its words, one space apart.
        for word_line in words(t, width, used, hang, style):
            if not fresh:
                lines.append(line)
                line, used = [(" " * hang, "")], hang
            line += word_line
            used += length(word_line)
            fresh = False
    lines.append(line)
    return lines


def words(t: str, width: int | None, first: int, hang: int, style: str = "") -> list[Line]:
    """Text wrapped at spaces: the first line starts at column `first`, the others are
    returned without their `hang` indent (the caller adds it)."""
    if width is None:
        return [[(t, style)]]
    out: list[Line] = []
    current: list[str] = []
    used = first
    for word in t.split(" "):
        if not word:
            continue
        need = len(word) + (1 if current else 0)
        if used + need <= width:
            current.append(word)
            used += need
            continue
        if current:
            out.append([(" ".join(current), style)])
            current, used = [], hang
        if used + len(word) > width:
            pieces = _hard_split(word, width - used)
            out += [[(p, style)] for p in pieces[:-1]]
            word = pieces[-1]
        current, used = [word], used + len(word)
    out.append([(" ".join(current), style)])
    return out


def paragraph(t: str, width: int | None, indent: int, style: str = "") -> list[Line]:
    """A detail, wrapped at word boundaries, every line at `indent`."""
    pad = (" " * indent, "") if indent else None
    return [([pad] if pad else []) + line for line in words(t, width, indent, indent, style)]


def table(headers: Sequence[str], rows: Sequence[Sequence[Segment]], width: int | None, indent: int = 2,
          wrap_last: bool = False, header_style: str = "bold") -> list[Line] | None:
    """Left-aligned columns two apart, or None when they do not fit in `width`.

    With `wrap_last`, a last column too wide is wrapped at word boundaries within
    what the others leave (if at least MIN_DETAIL); continuation lines start under it.
    """
    widths = [max(len(h), max((len(cell[0]) for cell in column), default=0))
              for h, column in zip(headers, zip(*rows) if rows else [()] * len(headers))]
    last_at = indent + sum(widths[:-1]) + 2 * (len(widths) - 1)
    room = None
    if width is not None and last_at + widths[-1] > width:
        if not wrap_last or width - last_at < MIN_DETAIL:
            return None
        room = width
    lead = [(" " * indent, "")] if indent else []
    pads = [w + 2 for w in widths[:-1]]
    out: list[Line] = []
    for row in ([(h, header_style) for h in headers], *rows):
        # A cell carries its padding: half the segments, and the same text.
        line = lead + [(t.ljust(pad), style) for (t, style), pad in zip(row, pads)]
        t, style = row[-1]
        if room and last_at + len(t) > room:
            pieces = words(t, room, last_at, last_at, style)
            out.append(_rstrip(line + pieces[0]))
            out += [_rstrip([(" " * last_at, "")] + piece) for piece in pieces[1:]]
        else:
            out.append(_rstrip(line + [(t, style)]))
    return out


def _rstrip(line: Line) -> Line:
    """No trailing blanks (stable for golden files)."""
    while line and not line[-1][0].rstrip():
        line.pop()
    if line:
        t, style = line[-1]
        line[-1] = (t.rstrip(), style)
    return line


def wrap(line: Line, width: int | None, hang: int) -> list[Line]:
    """A line built for a pipe (a packet line, say) wrapped at its spaces for a terminal."""
    if width is None or length(line) <= width:
        return [line]
    tokens: list[tuple[str, Line]] = []  # (spaces before, the word's segments)
    pending, in_word = "", False
    for t, style in line:
        for run in _RUNS.findall(t):
            if run[0] == " ":
                pending, in_word = pending + run, False
            elif in_word:
                tokens[-1][1].append((run, style))  # "CARP" + "v2-advertise": one word
            else:
                tokens.append((pending, [(run, style)]))
                pending, in_word = "", True
    out: list[Line] = []
    current: Line = []
    used = 0
    for spaces, word in tokens:
        size = length(word)
        if current and used + len(spaces) + size > width:
            out.append(current)
            current, used, spaces = [(" " * hang, "")], hang, ""
        if spaces:
            current.append((spaces, ""))
            used += len(spaces)
        if used + size > width:  # wider than the line: only on absurdly narrow screens
            style = word[0][1]
            pieces = _hard_split(text(word), width - used)
            for piece in pieces[:-1]:
                out.append(current + [(piece, style)])
                current, used = [(" " * hang, "")], hang
            word, size = [(pieces[-1], style)], len(pieces[-1])
        current += word
        used += size
    out.append(current)
    return out


_RUNS = re.compile(r" +|[^ ]+")
