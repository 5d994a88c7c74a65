"""Prometheus metrics of a running probe, built from the pipeline's immutable state.

Pure: no clock, no socket, nothing registered at import (docs/design.md, principle 7).
`Probe.families(pipeline, now, stats)` turns a snapshot, the events and the finding
tallies into metric families; `Probe.see` counts signature verdicts as records pass
(the tracker keeps only a summary word per member). `Exporter` is a
prometheus_client custom collector that hands out the families last published, so
the HTTP thread never walks the pipeline while the capture loop changes it.

Cardinality on a hostile segment (anyone on it can invent groups and members):
at most MAX_GROUPS groups and MAX_MEMBERS members per group are exported (groups
in (proto, id, family, vlan) order, members by most adverts); what is left out
is counted in carpscope_series_dropped. A member silent for MEMBER_TTL seconds
and a group silent for GROUP_TTL seconds leave the metrics (a backup is silent by
design, so a former master stays visible as 0 for a while after a failover).
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from carpscope.election import events as ev
from carpscope.model import CarpAdvert, Severity

MAX_GROUPS = 256
MAX_MEMBERS = 8
MEMBER_TTL = 900.0  # seconds without an advert before a member leaves the metrics
GROUP_TTL = 3600.0  # seconds without an advert before a group leaves the metrics
_VERDICTS_MAX = 4 * MAX_GROUPS * MAX_MEMBERS  # senders whose verdicts are counted between two publishes
GROUP_LABELS = ("proto", "id", "family", "vlan", "interface")
_CHANGES = (ev.MASTER_ELECTED, ev.MASTER_CHANGED, ev.MASTER_DOWN)


def group_labels(key, iface: str) -> list[str]:
    """A group's label values: nothing but the protocol's own numbers (never a passphrase)."""
    return [key.proto, str(key.id), str(key.family), ".".join(map(str, key.vlan)), iface]


class _History:
    """What the events told about one group, gathered as they come (the list only grows)."""

    __slots__ = ("changed", "gap", "split", "changes")

    def __init__(self):
        self.changed: float | None = None  # time of the last master-elected/changed/down
        self.gap: float | None = None  # gap of the last failover that had one
        self.split = False
        self.changes = 0  # master-changed events


class Probe:
    """The metrics of one probe (one interface); state it keeps stays bounded."""

    def __init__(self, iface: str, max_groups: int = MAX_GROUPS, max_members: int = MAX_MEMBERS,
                 member_ttl: float = MEMBER_TTL, group_ttl: float = GROUP_TTL):
        self.iface = iface
        self.max_groups, self.max_members = max_groups, max_members
        self.member_ttl, self.group_ttl = member_ttl, group_ttl
        self.verdicts: dict[tuple, dict[str, int]] = {}  # (proto, id, family, vlan, src) -> verdict -> n
        self._history: dict[tuple, _History] = {}
        self._events_seen = 0

    # -- fed as the capture runs ------------------------------------------------------

    def see(self, item: object) -> None:
        """Count a CARP record's signature verdict (ok, bad, unverified, n/a) by sender."""
        if not isinstance(item, CarpAdvert) or item.vhid is None:
            return
        key = (item.proto, item.vhid, item.family, tuple(item.vlan), item.src)
        counts = self.verdicts.get(key)
        if counts is None:
            if len(self.verdicts) >= _VERDICTS_MAX:
                return  # a flood of invented senders between two publishes: not counted
            counts = self.verdicts[key] = {}
        counts[item.hmac] = counts.get(item.hmac, 0) + 1

    def _follow(self, events: list) -> None:
        for e in events[self._events_seen:]:
            h = self._history.get((e.proto, e.id, e.family, e.vlan))
            if h is None:
                h = self._history[(e.proto, e.id, e.family, e.vlan)] = _History()
            if e.kind in _CHANGES:
                h.changed = e.time
            if e.kind == ev.MASTER_CHANGED:
                h.changes += 1
                if e.gap is not None:
                    h.gap = e.gap
            elif e.kind == ev.SPLIT_BRAIN_STARTED:
                h.split = True
            elif e.kind == ev.SPLIT_BRAIN_ENDED:
                h.split = False
        self._events_seen = len(events)

    # -- built on publish ----------------------------------------------------------------

    def families(self, pipeline, now: float, stats: tuple[int, ...] | None = None) -> list:
        """Every metric family as it stands at `now` (wall clock live, capture time offline)."""
        self._follow(pipeline.events)
        groups, dropped = self._exported(pipeline.tracker.snapshot().groups, now)
        f = _Families(self.iface)
        kept = set()
        for g in groups:
            labels = group_labels(g.key, self.iface)
            tid = (g.key.proto, g.key.id, g.key.family, g.key.vlan)
            h = self._history.get(tid) or _History()
            members = [m for m in g.members if now - m.last <= self.member_ttl or m.addr in g.advertising]
            members.sort(key=lambda m: (-m.adverts, m.addr))
            dropped += max(0, len(members) - self.max_members)
            members = sorted(members[: self.max_members], key=lambda m: m.addr)
            for m in members:
                f.master.add_metric(labels + [m.addr], 1.0 if m.addr == g.master else 0.0)
                f.adverts.add_metric(labels + [m.addr], m.adverts)
                counts = self.verdicts.get((*tid, m.addr))
                if counts:
                    kept.add((*tid, m.addr))
                    for verdict, n in sorted(counts.items()):
                        f.signatures.add_metric(labels + [m.addr, verdict], n)
            f.advertising.add_metric(labels, len(g.advertising))
            f.split.add_metric(labels, 1.0 if h.split else 0.0)
            f.changes.add_metric(labels, h.changes)
            if h.changed is not None:
                f.since.add_metric(labels, max(0.0, now - h.changed))
            if h.gap is not None:
                f.gap.add_metric(labels, h.gap)
        exported = {(g.key.proto, g.key.id, g.key.family, g.key.vlan) for g in groups}
        # What is not exported is forgotten: a group that comes back starts with a new election event.
        self.verdicts = {k: v for k, v in self.verdicts.items() if k in kept}
        self._history = {k: v for k, v in self._history.items() if k in exported}
        for t in pipeline.tallies():
            first = t.first
            if first.proto is None:
                labels = ["", "", "", "", self.iface]
            elif (first.proto, first.id, first.family, first.vlan) in exported:
                labels = group_labels(_Key(first), self.iface)
            else:
                continue  # its group aged out or is past the cap (counted there)
            f.findings.add_metric(labels + [first.kind, Severity(first.severity).value], t.count)
        f.probe(pipeline.adverts, stats, dropped)
        return f.all()

    def _exported(self, groups: Iterable, now: float) -> tuple[list, int]:
        """The groups to export, and how many live ones the cap left out."""
        live = [g for g in groups
                if g.advertising or (g.last_advert is not None and now - g.last_advert <= self.group_ttl)]
        return live[: self.max_groups], max(0, len(live) - self.max_groups)


class _Key:
    """A finding's group as a GroupKey-like value, for group_labels."""

    __slots__ = ("proto", "id", "family", "vlan")

    def __init__(self, f):
        self.proto, self.id, self.family, self.vlan = f.proto, f.id, f.family, f.vlan


class _Families:
    """The metric families of one publish; names and help are the documented contract."""

    def __init__(self, iface: str):
        self.iface = iface
        g, m = list(GROUP_LABELS), [*GROUP_LABELS, "member"]
        self.master = GaugeMetricFamily(
            "carpscope_group_master", "1 for the member that is master of the group, 0 for its other members.",
            labels=m)
        self.advertising = GaugeMetricFamily(
            "carpscope_group_advertising_masters",
            "Members advertising as master now: 1 normally, 0 no master, 2 or more split brain or takeover.",
            labels=g)
        self.split = GaugeMetricFamily("carpscope_group_split_brain", "1 while the group is in split brain.",
                                       labels=g)
        self.since = GaugeMetricFamily(
            "carpscope_group_master_change_age_seconds",
            "Seconds since the group's master last changed (elected, changed or declared down).", labels=g)
        self.gap = GaugeMetricFamily(
            "carpscope_group_failover_gap_seconds",
            "Seconds from the old master's last advert to the new master's first, at the last failover.",
            labels=g)
        self.changes = CounterMetricFamily("carpscope_group_master_changes", "Master changes of the group.",
                                           labels=g)
        self.adverts = CounterMetricFamily("carpscope_member_adverts", "Advertisements from the member.",
                                           labels=m)
        self.signatures = CounterMetricFamily(
            "carpscope_member_signatures", "CARP adverts of the member by signature verdict "
            "(ok, bad, unverified, n/a), counted since the probe started.", labels=[*m, "verdict"])
        self.findings = CounterMetricFamily(
            "carpscope_findings", "Findings by kind and severity (a finding seen on many packets counts each).",
            labels=[*g, "kind", "severity"])
        self.rest: list = []

    def probe(self, adverts: int, stats: tuple[int, ...] | None, dropped: int) -> None:
        labels = ["interface"]
        a = CounterMetricFamily("carpscope_adverts", "Protocol-112 packets analysed.", labels=labels)
        a.add_metric([self.iface], adverts)
        d = GaugeMetricFamily("carpscope_series_dropped",
                              "Groups and members left out of the metrics by the cardinality caps.", labels=labels)
        d.add_metric([self.iface], dropped)
        self.rest = [a, d]
        if stats is not None:
            received = CounterMetricFamily("carpscope_frames_received",
                                           "Frames the capture filter passed (libpcap ps_recv).", labels=labels)
            received.add_metric([self.iface], stats[0])
            drops = CounterMetricFamily(
                "carpscope_frames_dropped", "Frames the kernel dropped for want of buffer space (libpcap "
                "ps_drop plus ps_ifdrop).", labels=labels)
            drops.add_metric([self.iface], sum(stats[1:3]))
            self.rest += [received, drops]

    def all(self) -> list:
        return [self.master, self.advertising, self.split, self.since, self.gap, self.changes, self.adverts,
                self.signatures, self.findings, *self.rest]


class Exporter:
    """A prometheus_client custom collector serving the families last published.

    Publishing swaps one reference, so the HTTP thread reads a finished list
    while the capture loop builds the next one.
    """

    def __init__(self, probe: Probe):
        self.probe = probe
        self._families: list = []

    def publish(self, pipeline, now: float, stats: tuple[int, ...] | None = None) -> None:
        self._families = self.probe.families(pipeline, now, stats)

    def collect(self):
        return iter(self._families)

    def describe(self):
        return []  # no help for CollectorRegistry's name clash check: nothing to register twice


class Tap:
    """A sink in front of another: the probe sees every record, the sink what it asked for."""

    def __init__(self, sink, probe: Probe):
        self.sink, self.probe = sink, probe

    @property
    def wants_records(self) -> bool:
        return True  # verdicts are counted from records, repeats included

    def emit(self, item: object) -> None:
        self.probe.see(item)
        self.sink.emit(item)

    def close(self, summary, snapshot) -> None:
        self.sink.close(summary, snapshot)

    def __getattr__(self, name):
        return getattr(self.sink, name)

    def __setattr__(self, name, value):
        if name in ("sink", "probe"):
            object.__setattr__(self, name, value)
        else:
            setattr(self.sink, name, value)
