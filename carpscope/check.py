"""`carpscope check`: a Nagios/Icinga plugin's verdict on what the pipeline saw.

Pure: the pipeline's findings, events and final snapshot in, one status line with
performance data and a state out (monitoring-plugins guidelines: 0 OK, 1 WARNING,
2 CRITICAL, 3 UNKNOWN). The state is the worst of: the findings' severities (a
critical finding is CRITICAL, a warning WARNING, info nothing), a group without a
master at the end (CRITICAL), nothing advertising at all (WARNING), and the
thresholds the user gave: --expect-master ID=ADDR (another master is WARNING, no
master or no such group CRITICAL) and --max-gap SECONDS (a longer failover gap is
WARNING).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import NamedTuple

from carpscope.election import events as ev
from carpscope.errors import UsageError
from carpscope.model import Severity
from carpscope.views.text import escape, group_name

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
_BY_SEVERITY = {Severity.CRITICAL: CRITICAL, Severity.WARNING: WARNING}
_SHOWN = 3  # groups named on an OK line


@dataclass(frozen=True)
class Thresholds:
    expect_master: tuple[tuple[int, str], ...] = ()  # (vhid or vrid, address)
    max_gap: float | None = None


class Problem(NamedTuple):
    state: int
    text: str


def parse_expect(items) -> tuple[tuple[int, str], ...]:
    """--expect-master ID=ADDR (repeatable): the master each vhid or vrid should have."""
    out = []
    for item in items:
        id_text, sep, addr = item.partition("=")
        if not sep or not id_text.isdigit() or not 1 <= int(id_text) <= 255:
            raise UsageError(f"--expect-master {item}: give VHID=ADDR, VHID 1-255")
        try:
            out.append((int(id_text), str(ipaddress.ip_address(addr))))
        except ValueError:
            raise UsageError(f"--expect-master {item}: '{addr}' is not an IP address") from None
    return tuple(out)


def judge(snapshot, events, tallies, adverts: int, limits: Thresholds) -> tuple[int, str]:
    """(state, the one line the plugin prints)."""
    problems = _findings(tallies) + _masterless(snapshot) + _expected(snapshot, limits) + _gaps(events, limits)
    if not snapshot.groups:
        problems.append(Problem(WARNING, "no CARP or VRRP advertisement seen"))
    state = max((p.state for p in problems), default=OK)
    worst = [p.text for p in problems if p.state == state]
    if worst:
        text = worst[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
    else:
        text = _summary(snapshot)
    line = f"CARPSCOPE {STATES[state]} - {_clean(text)} | {perfdata(snapshot, events, tallies, adverts, limits)}"
    return state, line


def unknown(message: str) -> str:
    """The line for a check that could not look (unreadable file, no interface, usage)."""
    return f"CARPSCOPE UNKNOWN - {_clean(message)}"


def _clean(text: str) -> str:
    """One line, no '|' (it starts the performance data), no control bytes."""
    return escape(" ".join(text.split())).replace("|", "/")


def _name(key) -> str:
    return group_name(key.proto, key.id, key.family, key.vlan)


def _findings(tallies) -> list[Problem]:
    out = []
    for t in sorted(tallies, key=lambda t: t.first.kind != "split-brain"):  # the headline when there is one
        state = _BY_SEVERITY.get(t.first.severity)
        if state is None:
            continue
        f = t.first
        text = f.kind.replace("-", " ")
        if f.proto:
            text += f" on {group_name(f.proto, f.id, f.family, f.vlan)}"
        if f.members:
            text += f" ({' and '.join(f.members)})"
        out.append(Problem(state, text))
    return out


def _masterless(snapshot) -> list[Problem]:
    return [Problem(CRITICAL, f"no master on {_name(g.key)}") for g in snapshot.groups if g.master is None]


def _expected(snapshot, limits: Thresholds) -> list[Problem]:
    out = []
    for id_, addr in limits.expect_master:
        groups = [g for g in snapshot.groups if g.key.id == id_]
        if not groups:
            out.append(Problem(CRITICAL, f"no advertisement for vhid/vrid {id_} (expected master {addr})"))
        for g in groups:
            if g.master is not None and g.master != addr:
                out.append(Problem(WARNING, f"{_name(g.key)} master is {g.master}, expected {addr}"))
    return out


def _gaps(events, limits: Thresholds) -> list[Problem]:
    if limits.max_gap is None:
        return []
    return [Problem(WARNING, f"failover gap {e.gap:.2f}s on {_name(e.key)} ({e.from_} to {e.to}) above "
                             f"{limits.max_gap:g}s")
            for e in events if e.kind == ev.MASTER_CHANGED and e.gap is not None and e.gap > limits.max_gap]


def _summary(snapshot) -> str:
    groups = snapshot.groups
    named = ", ".join(f"{_name(g.key)} master {g.master}" for g in groups[:_SHOWN])
    more = f" and {len(groups) - _SHOWN} more" if len(groups) > _SHOWN else ""
    return f"{len(groups)} group{'s' if len(groups) != 1 else ''}: {named}{more}"


def perfdata(snapshot, events, tallies, adverts: int, limits: Thresholds) -> str:
    """label=value[UOM];[warn];[crit];[min];[max], as monitoring-plugins write it."""
    gaps = [e.gap for e in events if e.kind == ev.MASTER_CHANGED and e.gap is not None]
    count = {s: sum(1 for t in tallies if t.first.severity == s) for s in (Severity.CRITICAL, Severity.WARNING)}
    masters = sum(len(g.advertising) for g in snapshot.groups)
    items = [
        f"groups={len(snapshot.groups)};;;0",
        f"masters={masters};;;0",
        f"failovers={sum(1 for e in events if e.kind == ev.MASTER_CHANGED)};;;0",
        f"split_brains={sum(1 for e in events if e.kind == ev.SPLIT_BRAIN_STARTED)};;;0",
        f"critical={count[Severity.CRITICAL]};;;0",
        f"warning={count[Severity.WARNING]};;;0",
        f"adverts={adverts}c;;;0",
    ]
    if gaps:
        warn = "" if limits.max_gap is None else f"{limits.max_gap:g}"
        items.append(f"max_gap={max(gaps):.3f}s;{warn};;0")
    return " ".join(items)


class Quiet:
    """A sink that shows nothing: the check prints one line at the end."""

    wants_records = False

    def emit(self, item: object) -> None:
        pass

    def close(self, summary, snapshot) -> None:
        pass
