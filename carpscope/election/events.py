"""Past-tense election events and immutable snapshots of every group.

Events are values, like records and findings (docs/design.md, principle 3): each carries
the frame that shows the change on the wire, so a report line can be traced to a
packet. The JSON view maps `from_` to "from" (docs/design.md, JSON schema 1).
"""

from __future__ import annotations

from dataclasses import dataclass

from carpscope import findings as kinds
from carpscope.model import Builder, Finding, GroupKey

# Event kinds (docs/design.md). Never rename one; add new ones at the end.
MASTER_ELECTED = "master-elected"
MASTER_CHANGED = "master-changed"
MASTER_DOWN = "master-down"
SPLIT_BRAIN_STARTED = "split-brain-started"
SPLIT_BRAIN_ENDED = "split-brain-ended"
PARAMETERS_CHANGED = "parameters-changed"

# Causes of master-changed (docs/design.md).
MASTER_SILENT = "master-silent"  # the old master stopped; a backup's master-down timer ran out
PREEMPTED = "preempted"  # a better-placed backup took over while the master still advertised
DEMOTED = "demoted"  # the master's own adverts got worse (demote byte, advskew 240, lower priority)
RESIGNED = "resigned"  # bow-out advert (advbase 255 advskew 255) or VRRP priority 0
UNKNOWN = "unknown"  # none of the above fits what the wire shows

# A cap on what is kept in memory was reached (issue 20): forged senders cannot make
# carpscope slow or big, and the report says what it left out. One finding per cap.
LIMIT_REACHED = kinds.LIMIT_REACHED


def limit(cap: str, detail: str, frame: int | None = None, time: float | None = None) -> Finding:
    """A limit-reached finding; `cap` ("256 members per group") opens the detail and names the tally."""
    return Finding(kind=LIMIT_REACHED, severity=kinds.SEVERITY[LIMIT_REACHED], detail=f"{cap}: {detail}",
                   frame=frame, time=time)


def limit_cap(f: Finding) -> str:
    """Which cap a limit-reached finding is about: a later one (with the final count) replaces an earlier one."""
    return f.detail.partition(":")[0]


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened to a group's mastership.

    `time` is when the change shows on the wire (the first advert of the new master or
    newcomer), even when the tracker could only conclude it later. `gap` is seconds
    from the old master's last advert to the new master's first; `expected` is the
    master-down time the gap should be compared with.
    """

    time: float
    frame: int | None
    proto: str
    id: int
    kind: str
    from_: str | None = None
    to: str | None = None
    cause: str | None = None
    gap: float | None = None
    family: int = 4
    vlan: tuple[int, ...] = ()
    expected: float | None = None
    detail: str = ""

    @property
    def key(self) -> GroupKey:
        return GroupKey(self.proto, self.id, self.family, self.vlan)


_EVENT = Builder(Event, ("time", "frame", "proto", "id", "kind", "family", "vlan", "from_", "to", "cause", "gap",
                         "expected", "detail"))


def event(time: float, frame: int | None, proto: str, id: int, kind: str, family: int, vlan: tuple[int, ...],
          from_: str | None = None, to: str | None = None, cause: str | None = None, gap: float | None = None,
          expected: float | None = None, detail: str = "") -> Event:
    """Event(...) through model.Builder, at a sixth of the cost: every advert of a flapping
    group makes two (issue 20). The same value, as immutable (tests/test_bounds.py)."""
    return _EVENT(time, frame, proto, id, kind, family, vlan, from_, to, cause, gap, expected, detail)


def builder():
    """`event` without its defaults (every argument positional), compiled at the first request.

    The tracker calls it straight (members.Group.event): a flapping group makes two
    events an advert, and each layer between costs a call (issue 20).
    """
    return _EVENT.function()


@dataclass(frozen=True, slots=True)
class Member:
    """One source that advertised in a group (only masters advertise, so each was master once).

    CARP members carry advbase/advskew/demote; VRRP members carry priority, with
    adver_int in `advbase` (VRRP's own unit: s in v2, cs in v3). `hmac` sums up the
    member's adverts: "ok", "bad", "unverified", "n/a", or "mixed" (some verified,
    some failed). `passphrase` is the 1-based position that verified (0 = empty key).
    `stack` is the implementation its adverts point to, `stack_evidence` why
    (election/stack.py).
    """

    addr: str
    mac: str | None
    advbase: int | None
    advskew: int | None
    demote: int | None
    priority: int | None
    adverts: int
    hmac: str
    first: float
    last: float
    passphrase: int | None = None
    version: int | None = None
    stack: str = "unknown"
    stack_evidence: str = ""


@dataclass(frozen=True, slots=True)
class GroupState:
    """A group as the tracker sees it at one moment.

    `master_down_at` is when the master will be declared down if it stays silent;
    `advertising` lists every source currently advertising (two or more: split brain
    or a takeover in progress).
    """

    key: GroupKey
    master: str | None
    master_since: float | None
    members: tuple[Member, ...]
    last_advert: float | None
    master_down_at: float | None
    vips: tuple[str, ...]
    vips_from: str | None
    passphrase: int | None
    hmac: str | None
    advertising: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every group at `time`, ordered by protocol, id, family and VLAN."""

    time: float | None
    groups: tuple[GroupState, ...]
