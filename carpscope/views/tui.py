"""The `carpscope live` dashboard: rich renderables built from immutable snapshots.

Pure: takes a snapshot, the recent events and findings and the time, returns a
renderable. The CLI owns the rich Live that shows it.
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from carpscope.views.text import escape, utc

_HMAC_STYLE = {"ok": "green", "bad": "bold red", "mixed": "bold red", "unverified": "yellow", "n/a": "dim"}
_SEVERITY_STYLE = {"info": "cyan", "warning": "yellow", "critical": "bold red"}


def _timers(member) -> str:
    if member is None:
        return "-"
    if member.priority is not None:
        return f"prio {member.priority}"
    demote = f"/{member.demote}" if member.demote else ""
    return f"{member.advbase}/{member.advskew}{demote}"


def _countdown(group, now: float) -> Text:
    if group.master_down_at is None:
        return Text("-", style="dim")
    left = group.master_down_at - now
    if left <= 0:
        return Text("DOWN", style="bold red")
    return Text(f"{left:.1f}s", style="yellow" if left < 1.0 else "")


def groups_table(snapshot, now: float) -> Table:
    """One row per group: who is master, who else advertises, and how long until master-down."""
    table = Table(title="Groups", expand=True, title_justify="left")
    for column in ("proto", "id", "VIPs", "master", "others", "advbase/skew", "last", "master-down in", "signature"):
        table.add_column(column, no_wrap=column in ("proto", "id"))
    for g in snapshot.groups:
        master = next((m for m in g.members if m.addr == g.master), None)
        others = ", ".join(m.addr for m in g.members if m.addr != g.master) or "-"
        vlan = f" vlan {'.'.join(map(str, g.key.vlan))}" if g.key.vlan else ""
        age = f"{now - g.last_advert:.1f}s ago" if g.last_advert is not None else "-"
        table.add_row(
            f"{g.key.proto}{'' if g.key.family == 4 else '6'}", f"{g.key.id}{vlan}",
            ", ".join(g.vips) or "?", Text(g.master or "none", style="bold" if g.master else "red"),
            others, _timers(master), age, _countdown(g, now),
            Text(g.hmac or "-", style=_HMAC_STYLE.get(g.hmac or "", "")),
        )
    return table


def events_table(events, limit: int = 8) -> Table:
    table = Table(title="Recent events", expand=True, title_justify="left")
    for column in ("time (UTC)", "group", "event", "from → to", "cause / gap"):
        table.add_column(column)
    for e in list(events)[-limit:]:
        gap = f"gap {e.gap:.2f}s" if e.gap is not None else ""
        table.add_row(utc(e.time)[11:23], f"{e.proto} {e.id}", e.kind,
                      f"{e.from_ or '-'} → {e.to or '-'}", " ".join(x for x in (e.cause, gap) if x))
    return table


def findings_table(findings, limit: int = 8) -> Table:
    table = Table(title="Findings", expand=True, title_justify="left")
    for column in ("severity", "kind", "group", "detail"):
        table.add_column(column)
    for f, count in list(findings)[:limit]:
        style = _SEVERITY_STYLE[f.severity.value]
        times = f" (x{count})" if count > 1 else ""
        group = f"{f.proto} {f.id}" if f.proto else "-"
        table.add_row(Text(f.severity.value, style=style), f.kind + times, group, escape(f.detail))
    return table


def dashboard(snapshot, events, findings, now: float, iface: str, adverts: int) -> Group:
    """The whole screen."""
    header = Text.assemble(("carpscope live ", "bold"), (iface, "bold cyan"),
                           f"  {utc(now)[:19]} UTC  {adverts} protocol-112 packets  (Ctrl-C for the report)")
    return Group(header, groups_table(snapshot, now), events_table(events), findings_table(findings))
