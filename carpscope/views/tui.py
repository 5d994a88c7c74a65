"""The `carpscope live` dashboard: styled lines built from immutable snapshots.

Pure: takes a snapshot, the events, the findings, the time and the screen's size,
returns the lines to show (views/layout.py) and a rich Text of them. The CLI owns
the rich Live that shows it (docs/design.md, principle 5). Text from packets is escaped
and never parsed as markup, so a bracketed IPv6 address shows as it is (issue 20).

Each group says its state in words (MASTER x, NO MASTER, SPLIT BRAIN x and y) with
the time left before its master is declared down; the screen fits the terminal
(80x24 and up): whole lines are left out, with a count, never cut.
"""

from __future__ import annotations

from rich.text import Text

from carpscope.election import events as ev
from carpscope.views import layout
from carpscope.views.layout import Line
from carpscope.views.text import HMAC_STYLE, SEVERITY_STYLE, escape, group_name, utc

EVENT_LIMIT = 8


def timers(member) -> str:
    """advbase and advskew (and demote) for CARP; priority and interval for VRRP."""
    if member is None:
        return ""
    if member.priority is not None:
        return f"priority {member.priority} adver_int {member.advbase}{'cs' if member.version == 3 else 's'}"
    return f"advbase {member.advbase} advskew {member.advskew}" + (f" demote {member.demote}" if member.demote else "")


def countdown(group, now: float) -> tuple[str, str]:
    """Time left until the master is declared down if it stays silent."""
    if group.master is None or group.master_down_at is None:
        return ("", "")
    left = group.master_down_at - now
    if left <= 0:
        return ("master-down now", "bold red")
    return (f"master-down in {left:4.1f}s", "bold red" if left < 1.0 else "")


def _split(group, events) -> tuple[str, ...]:
    """The sources of a split brain still going on in this group (from its events), or ()."""
    key = group.key
    last = None
    for e in events:
        if e.kind in (ev.SPLIT_BRAIN_STARTED, ev.SPLIT_BRAIN_ENDED) and (e.proto, e.id, e.family, e.vlan) == \
                (key.proto, key.id, key.family, key.vlan):
            last = e
    if last is None or last.kind != ev.SPLIT_BRAIN_STARTED or len(group.advertising) < 2:
        return ()
    return group.advertising


def state(group, events) -> tuple[str, str]:
    """MASTER x, NO MASTER, or SPLIT BRAIN x and y: the group's state in words."""
    both = _split(group, events)
    if both:
        return ("SPLIT BRAIN " + " and ".join(both), "bold red")
    if group.master is None:
        return ("NO MASTER", "bold red")
    return ("MASTER " + group.master, "bold green")


def _signature(group) -> tuple[str, str]:
    word = group.hmac or "-"
    if word == "ok" and group.passphrase is not None:
        word += " (empty key)" if group.passphrase == 0 else f" (pass {group.passphrase})"
    return ("signature " + word, HMAC_STYLE.get(group.hmac or "", ""))


def stacks(group) -> str:
    """Each member's stack (election/stack.py), the master first; the evidence of a known one."""
    members = sorted(group.members, key=lambda m: m.addr != group.master)
    return "; ".join(f"{m.addr}: {m.stack}" + (f" ({m.stack_evidence})" if m.stack != "unknown" else "")
                     for m in members) or "-"


def _others(group, now: float) -> str:
    """Members that advertised once and do not now: how long they have been silent (not 'backups':
    a CARP backup sends nothing, so silence cannot tell a backup from a dead node)."""
    quiet = [m for m in group.members if m.addr != group.master and m.addr not in group.advertising]
    return ", ".join(f"{m.addr} silent {max(now - m.last, 0.0):.1f}s" for m in quiet)


def group_blocks(snapshot, events, now: float, width: int) -> list[tuple[list[Line], list[Line]]]:
    """Per group: its head (name, state, countdown in stable columns) and its details."""
    name_w = max((len(group_name(g.key.proto, g.key.id, g.key.family, g.key.vlan)) for g in snapshot.groups),
                 default=0)
    states = [state(g, events) for g in snapshot.groups]
    # Stable columns: states padded to the widest one that still leaves the name and the
    # countdown on the same row; a longer one (a split brain of two long IPv6 addresses)
    # flows on by itself instead of pushing every row's countdown onto a line of its own.
    room = width - name_w - 2 - 2 - len("master-down in 99.9s")
    state_w = max((len(s) for s, _ in states if len(s) <= room), default=0)
    blocks = []
    for g, (word, style) in zip(snapshot.groups, states):
        name = group_name(g.key.proto, g.key.id, g.key.family, g.key.vlan)
        master = next((m for m in g.members if m.addr == g.master), None)
        age = f"last advert {max(now - g.last_advert, 0.0):.1f}s ago" if g.last_advert is not None else ""
        left, left_style = countdown(g, now)
        head = [(name.ljust(name_w), "bold"), (word.ljust(state_w), style),
                (left.ljust(20) if left else "", left_style)]
        others = _others(g, now)
        rest = [("VIPs " + (", ".join(g.vips) or "?"), ""), (timers(master), ""), (age, ""), _signature(g),
                (f"others: {others}" if others else "", ""),
                (f"stack {stacks(g)}", "")]
        blocks.append((layout.flow(head, width, 0, 2), layout.flow(rest, width, 2, 4)))
    return blocks


def event_blocks(events, width: int, limit: int = EVENT_LIMIT) -> list[list[Line]]:
    """The latest events, oldest first, one (wrapped) line each."""
    blocks = []
    for e in list(events)[-limit:]:
        extra = ", ".join(x for x in (e.cause, f"gap {e.gap:.2f}s" if e.gap is not None else None) if x)
        fields = [(utc(e.time)[11:23], "dim"), (group_name(e.proto, e.id, e.family, e.vlan), ""),
                  (e.kind, "bold"), (f"{e.from_ or '-'} -> {e.to or '-'}", ""), (extra, "")]
        blocks.append(layout.flow(fields, width, 0, 4))
    return blocks


def finding_parts(findings, width: int) -> list[tuple[list[Line], list[Line]]]:
    """(finding, count) pairs, most severe first as the pipeline sorts them: per finding its head
    (severity, kind, group, frame) and its detail wrapped whole."""
    parts = []
    for f, count in findings:
        style = SEVERITY_STYLE[f.severity.value]
        head = [(f"{f.severity.value.upper()} {f.kind}" + (f" (x{count})" if count > 1 else ""), style),
                (group_name(f.proto, f.id, f.family, f.vlan), ""),
                (f"frame {f.frame}" if f.frame is not None else "", "dim")]
        parts.append((layout.flow(head, width, 0, 4), layout.paragraph(escape(f.detail), width, 4)))
    return parts


def finding_blocks(findings, width: int) -> list[list[Line]]:
    """Each finding's head and detail as one block."""
    return [head + detail for head, detail in finding_parts(findings, width)]


def _take_findings(parts: list[tuple[list[Line], list[Line]]], budget: int) -> list[Line]:
    """Every finding whole if they fit; else every finding's head (its kind stays on screen) and
    the details that still fit, in order; only when even the heads do not fit are findings counted."""
    blocks = [head + detail for head, detail in parts]
    if sum(map(len, blocks)) <= budget or not parts:
        return _take(blocks, budget, "finding")
    used = sum(len(head) for head, _ in parts)
    if used > budget:
        return _take([head for head, _ in parts], budget, "finding")
    out: list[Line] = []
    for head, detail in parts:
        out += head
        if used + len(detail) <= budget:
            out += detail
            used += len(detail)
    return out


def _take(blocks: list[list[Line]], budget: int, noun: str, newest_last: bool = False, unseen: int = 0) -> list[Line]:
    """Whole blocks while they fit in `budget` lines; the rest (and `unseen` more) counted on one
    line, never cut."""
    if not blocks:
        return [[("  none", "dim")]] if budget > 0 else []
    order = list(reversed(blocks)) if newest_last else blocks
    kept: list[list[Line]] = []
    used = 0
    for i, block in enumerate(order):
        left = len(order) - i - 1
        need = len(block) + (1 if left else 0)
        if used + need > budget:
            break
        kept.append(block)
        used += len(block)
    if not kept and budget >= 2:
        kept.append(order[0][:1])  # at least the head of the first one (its detail is in the report)
        used += 1
    dropped = len(order) - len(kept) + unseen
    if newest_last:
        kept.reverse()
    out = [line for block in kept for line in block]
    if dropped and used < budget:
        more = [(f"  +{dropped} more {noun}{'s' if dropped > 1 else ''} (in the report after Ctrl-C)", "dim")]
        out = [more] + out if newest_last else out + [more]
    return out


def dashboard_lines(snapshot, events, findings, now: float, iface: str, adverts: int, width: int = 80,
                    height: int = 24, hearing: tuple = ()) -> list[Line]:
    """The whole screen as styled lines, at most `width` wide and `height` high.

    `hearing`: with several vantage points, per member what each point hears (issue 15).
    """
    events, findings = list(events), list(findings)
    header = layout.flow([("carpscope live " + escape(iface), "bold"), (f"{utc(now)[:19]} UTC", ""),
                          (f"{adverts} packets", ""), ("Ctrl-C: report", "dim")], width, 0, 2)
    header += hearing_lines(hearing, width)[: max(height // 4, 1)]
    groups = group_blocks(snapshot, events, now, width)
    found = finding_parts(findings, width)
    recent = event_blocks(events, width)
    titles = [[(f"Groups ({len(snapshot.groups)})", "bold underline")],
              [(f"Recent events ({len(events)})", "bold underline")],
              [(f"Findings ({len(findings)})", "bold underline")]]
    room = max(height - len(header) - len(titles), 3)
    event_room = min(max(len(recent), 1), 3)
    finding_room = min(sum(len(h) + len(d) for h, d in found) or 1, max(room // 3, 2))
    group_room = max(room - event_room - finding_room, 1)
    if not groups:
        shown_groups = [[("  no protocol-112 packets yet", "dim")]]
    elif sum(len(head) + len(rest) for head, rest in groups) <= group_room:
        shown_groups = [line for head, rest in groups for line in head + rest]
    else:  # the heads only: name, state, countdown
        shown_groups = _take([head for head, _ in groups], group_room, "group")
    room -= len(shown_groups)
    shown_findings = _take_findings(found, max(room - event_room, 1))
    room -= len(shown_findings)
    shown_events = _take(recent, max(room, 1), "event", newest_last=True, unseen=len(events) - len(recent))
    return header + [titles[0]] + shown_groups + [titles[1]] + shown_events + [titles[2]] + shown_findings


def render(lines: list[Line]) -> Text:
    """The lines as one rich Text: styles applied, nothing parsed as markup."""
    out = Text(no_wrap=True, overflow="ignore")
    for i, line in enumerate(lines):
        if i:
            out.append("\n")
        for t, style in line:
            out.append(t, style or None)
    return out


def dashboard(snapshot, events, findings, now: float, iface: str, adverts: int, width: int = 80,
              height: int = 24, hearing: tuple = ()) -> Text:
    """The whole screen, ready for rich Live."""
    return render(dashboard_lines(snapshot, events, findings, now, iface, adverts, width, height, hearing))


def hearing_lines(hearing: tuple, width: int) -> list[Line]:
    """One short line per member: how many of its adverts each point heard ("fw2 12/24")."""
    out = []
    for (proto, id_, _family, _vlan), addr, where in hearing:
        heard = "  ".join(f"{escape(p)} {h}/{h + m}" for p, h, m in where)
        text = f"{'vhid' if proto == 'carp' else 'vrid'} {id_} {addr} heard at: {heard}"
        out.append([(text[:width], "dim")])
    return out
