"""The `carpscope live` dashboard: rich renderables built from immutable snapshots.

Pure: takes a snapshot, the events, the findings and the time, returns a
renderable. The CLI owns the rich Live that shows it (DESIGN.md, principle 5).
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from carpscope.views.text import HMAC_STYLE, SEVERITY_STYLE, escape, group_name, utc

GROUP_COLUMNS = ("group", "VIPs", "master", "backups", "timers", "last advert", "down in", "signature", "stack")
_NO_WRAP = ("master", "down in", "time (UTC)", "severity")


def _table(title: str, columns) -> Table:
    table = Table(title=title, expand=True, title_justify="left", show_edge=False, pad_edge=False)
    for column in columns:
        table.add_column(column, no_wrap=column in _NO_WRAP, overflow="fold")  # fold: no address cut short
    return table


def timers(member) -> str:
    """advbase/advskew (and demote) for CARP; priority and interval for VRRP."""
    if member is None:
        return "-"
    if member.priority is not None:
        return f"prio {member.priority} int {member.advbase}{'cs' if member.version == 3 else 's'}"
    return f"{member.advbase}/{member.advskew}" + (f" demote {member.demote}" if member.demote else "")


def countdown(group, now: float) -> Text:
    """Time left until the master is declared down if it stays silent."""
    if group.master_down_at is None:
        return Text("-", style="dim")
    left = group.master_down_at - now
    return Text(f"{max(left, 0.0):.1f}s", style="bold red" if left < 1.0 else "")


def _signature(group) -> Text:
    word = group.hmac or "-"
    if word == "ok" and group.passphrase is not None:
        word += " (empty key)" if group.passphrase == 0 else f" (pass {group.passphrase})"
    return Text(word, style=HMAC_STYLE.get(group.hmac or "", ""))


def stacks(group) -> str:
    """Each member's stack (election/stack.py), the master first; the evidence of a known one."""
    members = sorted(group.members, key=lambda m: m.addr != group.master)
    return "; ".join(f"{m.addr}: {m.stack}" + (f" ({m.stack_evidence})" if m.stack != "unknown" else "")
                     for m in members) or "-"


def groups_table(snapshot, now: float) -> Table:
    """One row per group: master, backups seen, timers, advert age, master-down countdown, signature."""
    table = _table("Groups", GROUP_COLUMNS)
    for g in snapshot.groups:
        master = next((m for m in g.members if m.addr == g.master), None)
        backups = [m.addr + (" (advertising)" if m.addr in g.advertising else "")
                   for m in g.members if m.addr != g.master]
        age = f"{max(now - g.last_advert, 0.0):.1f}s ago" if g.last_advert is not None else "-"
        table.add_row(group_name(g.key.proto, g.key.id, g.key.family, g.key.vlan), ", ".join(g.vips) or "?",
                      Text(g.master or "none", style="bold" if g.master else "bold red"),
                      ", ".join(backups) or "-", timers(master), age, countdown(g, now), _signature(g),
                      stacks(g))
    if not snapshot.groups:
        table.add_row("no protocol-112 packets yet", *[""] * (len(GROUP_COLUMNS) - 1))
    return table


def events_table(events, limit: int = 8) -> Table:
    """The latest events, oldest first."""
    table = _table("Recent events", ("time (UTC)", "group", "event", "from → to", "cause / gap"))
    for e in list(events)[-limit:]:
        gap = f"gap {e.gap:.2f}s" if e.gap is not None else ""
        table.add_row(utc(e.time)[11:23], group_name(e.proto, e.id, e.family, e.vlan), e.kind,
                      f"{e.from_ or '-'} → {e.to or '-'}", " ".join(x for x in (e.cause, gap) if x))
    return table


def findings_table(findings, limit: int = 8) -> Table:
    """(finding, count) pairs, most severe first as the pipeline sorts them."""
    table = _table("Findings", ("severity", "kind", "group", "detail"))
    for f, count in list(findings)[:limit]:
        group = group_name(f.proto, f.id, f.family, f.vlan)
        table.add_row(Text(f.severity.value, style=SEVERITY_STYLE[f.severity.value]),
                      f.kind + (f" (x{count})" if count > 1 else ""), group, escape(f.detail))
    return table


def dashboard(snapshot, events, findings, now: float, iface: str, adverts: int) -> Group:
    """The whole screen."""
    header = Text.assemble(("carpscope live ", "bold"), (escape(iface), "bold cyan"),
                           f"  {utc(now)[:19]} UTC  {adverts} protocol-112 packets  (Ctrl-C for the report)")
    return Group(header, groups_table(snapshot, now), events_table(events), findings_table(findings))
