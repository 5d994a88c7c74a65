"""Decode → verify → track: the pure pipeline that `read` and `live` share.

Takes frames and ticks, returns what happened in order (records, events,
findings). No I/O and no clock: the caller says what time it is.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from carpscope import findings as kinds
from carpscope.auth import RESULT_FIELDS, VLANS_MAX
from carpscope.election.events import LIMIT_REACHED, limit, limit_cap
from carpscope.model import AddressClaim, CarpAdvert, Copier, Damaged, Finding, Frame, Severity, VrrpAdvert
from carpscope.wire import repeat
from carpscope.wire.decode import decode_frame

_TEMPLATES_MAX = 4096  # senders' latest adverts kept for the repeat fast path
# Caps on memory (issue 20); past one, a limit-reached finding says what was left out.
EVENTS_FIRST = 5000  # events kept for the report: the first ones ...
EVENTS_LAST = 5000  # ... and the latest (those between went out as they happened: lines, jsonl)
FINDINGS_MAX = 4096  # finding tallies (kind and group)
_RESULT_OF = operator.attrgetter(*RESULT_FIELDS)
_COPY_CARP = Copier(CarpAdvert, ("frame", "time", "cksum", "counter", "md", *RESULT_FIELDS))
_COPY_VRRP = Copier(VrrpAdvert, ("frame", "time"))


@dataclass
class FindingTally:
    """A finding kind seen on many packets: kept once, with a count (memory stays flat)."""

    first: Finding
    count: int = 1


HOLD = 0.5  # seconds a failed CARP advert waits for the address claims that follow it
HELD_MAX = 256  # frames queued behind a held advert (issue 20): past it, the advert is judged at once


class _Held(NamedTuple):
    """A CARP advert that failed verification, waiting for the claims that may fix it.

    Every frame of the next HOLD seconds waits behind it, in order: its claims are
    learned at once, and a dual-stack master's advert of the other family (which it
    sends before its ARP and NA, PROTOCOL.md §2.1) does not cut the wait short.
    """

    frame: Frame
    record: CarpAdvert  # as decoded, before verification
    shape: tuple[bytes, int] | None
    queue: list  # (Frame, decoded record or None) that came after it, in order


class _Template(NamedTuple):
    """A sender's latest advert without findings, for recognising its repeats (wire/repeat.py)."""

    record: CarpAdvert | VrrpAdvert
    size: int  # frame length
    rest: bytes | None  # VRRP: payload bytes 6-35, which a repeat must match too
    result: tuple | None  # CARP: the verification result a repeat must get too
    signer: object | None  # CARP: how the record verified (auth._Config), to check a repeat at once


@dataclass
class Pipeline:
    """Records go out only when wanted: `lean` (a quiet text report) lets repeats skip them."""

    verifier: object
    tracker: object
    decode_as: str | None = None
    lean: bool = False
    adverts: int = 0  # protocol-112 packets seen (what -c counts)
    records: int = 0  # frames that gave a record (what -w saves)
    first_time: float | None = None
    last_time: float | None = None
    events: list = field(default_factory=list)  # the first EVENTS_FIRST and latest EVENTS_LAST events
    events_total: int = 0  # every event, kept or not
    findings: dict = field(default_factory=dict)  # (kind, proto, id, family, vlan) -> FindingTally
    _templates: dict = field(default_factory=dict, repr=False)  # repeat.shape key -> _Template
    _held: _Held | None = field(default=None, repr=False)
    _failing: set = field(default_factory=set, repr=False)  # (vhid, vlan, src) whose last advert failed
    _bad: dict = field(default_factory=dict, repr=False)  # (vhid, vlan, src) -> its first bad advert
    _limits: dict = field(default_factory=dict, repr=False)  # cap -> [times, frame, time, final wording]

    def feed(self, frame: Frame) -> list:
        """Everything one frame causes: timeouts due before it, its record, its events."""
        if self._held is not None:
            return self._while_held(frame)
        shape = repeat.shape(frame.linktype, frame.data)
        if shape is not None:
            template = self._templates.get(shape[0])
            if template is not None and len(frame.data) == template.size:
                out = self._repeat(frame, template, shape)
                if out is not None:
                    return out
        return self._record(frame, decode_frame(frame, self.decode_as), shape)

    def _record(self, frame: Frame, record, shape: tuple[bytes, int] | None, counted: bool = False) -> list:
        """A decoded frame: timeouts due before it, then the record and what it causes.

        counted: it waited behind a held advert and was counted when it arrived.
        """
        if record is None:
            return []
        out = self.advance(frame.time) if counted else self._start(frame.time)
        if isinstance(record, AddressClaim):
            self.verifier.learn(record)
            return out + [record]
        if not counted:
            self.adverts += 1  # a protocol-112 packet, decoded or damaged
        if isinstance(record, CarpAdvert):
            verified = self.verifier.verify(record)
            out += self._notes()
            sender = (record.vhid, record.vlan, record.src)
            if not _failed(verified):
                self._failing.discard(sender)
            elif sender not in self._failing:
                # A new master signs its first advert before its gratuitous ARPs tell
                # carpscope the VIPs (PROTOCOL.md §2.1): wait for them, then check again.
                # (Once: a sender that keeps failing has another key or VIP set.)
                if len(self._failing) >= _TEMPLATES_MAX:
                    self._failing.clear()
                self._failing.add(sender)
                self._held = _Held(frame, record, shape, [])
                return out
            record = verified
        return out + self._settle(frame, record, shape)

    def _notes(self) -> list:
        """Findings of the verifier itself (its search budget ran out)."""
        notes = self.verifier.notes() if hasattr(self.verifier, "notes") else ()
        self._tally(notes)
        return list(notes)

    def _settle(self, frame: Frame, record, shape: tuple[bytes, int] | None) -> list:
        """A final record: its findings, the elections it moves, and the fast path's template."""
        self._tally(record.findings)
        out = [record]
        if isinstance(record, CarpAdvert) and record.hmac in ("bad", "ok"):
            self._rejudge(record)
        if isinstance(record, (CarpAdvert, VrrpAdvert)):
            out += self._keep(self.tracker.observe(record, frame.time))
            if shape is not None:
                self._remember(shape, frame, record)
        return out

    def _rejudge(self, record: CarpAdvert) -> None:
        """A sender's earlier bad adverts that its verified configuration signs were good.

        They failed against a VIP set known only in part (one claim of several); the
        tracker's member verdict and the report's hmac-failed are corrected. A printed
        line stays as printed.
        """
        sender = (record.vhid, record.vlan, record.src)
        if record.hmac == "bad":
            if sender not in self._bad:
                if len(self._bad) >= _TEMPLATES_MAX:
                    self._bad.clear()
                self._bad[sender] = record
            return
        first = self._bad.pop(sender, None) if self._bad else None
        signer = self.verifier.signer(record) if first is not None else None
        if signer is None or not signer.matches(first.counter.to_bytes(8, "big"), first.md, first.src_mac):
            return
        if hasattr(self.tracker, "rejudge") and self.tracker.rejudge(record):
            key = (kinds.HMAC_FAILED, "carp", record.vhid, record.family, tuple(record.vlan))
            tally = self.findings.get(key)
            if tally is not None and tally.first.detail.startswith(f"adverts from {record.src} "):
                del self.findings[key]

    def _while_held(self, frame: Frame) -> list:
        """Frames within HOLD of a failed advert wait behind it; its claims teach at once."""
        held = self._held
        if frame.time - held.frame.time <= HOLD:
            if len(held.queue) >= HELD_MAX:
                out = self._over(f"{HELD_MAX} frames held", frame.number, frame.time,
                                 "a failed advert was verified without waiting for the frames past the "
                                 f"{HELD_MAX}th that followed it", "{} " + _HELD_FINAL)
                return out + self._release() + self.feed(frame)
            record = decode_frame(frame, self.decode_as)
            if record is not None:  # counted now, as -c and -w see frames arrive
                self._count(frame.time)
                if isinstance(record, AddressClaim):
                    self.verifier.learn(record)
                else:
                    self.adverts += 1
            held.queue.append((frame, record))
            return []
        return self._release() + self.feed(frame)

    def _release(self) -> list:
        """The held advert, verified again with what the claims taught, then the frames behind it."""
        held, self._held = self._held, None
        record = self.verifier.verify(held.record)
        out = self._notes()
        if not _failed(record):
            self._failing.discard((record.vhid, record.vlan, record.src))
        out += self._settle(held.frame, record, held.shape)
        for frame, queued in held.queue:
            if self._held is not None:  # one of them failed in turn: the rest waits behind it
                self._held.queue.append((frame, queued))
            else:
                out += self._record(frame, queued, repeat.shape(frame.linktype, frame.data), counted=True)
        return out

    def _start(self, time: float) -> list:
        """A frame gave a record: let timeouts due before it fire, and count it."""
        out = self.advance(time)
        self._count(time)
        return out

    def _count(self, time: float) -> None:
        """The span runs from the earliest to the latest time, whatever the frames' order."""
        if self.first_time is None or time < self.first_time:
            self.first_time = time
        if self.last_time is None or time > self.last_time:
            self.last_time = time
        self.records += 1

    def _remember(self, shape: tuple[bytes, int], frame: Frame, record: CarpAdvert | VrrpAdvert) -> None:
        """Keep an advert without findings as its sender's template; its repeats take the fast path."""
        if record.findings or record.checksum != "ok":
            return
        if isinstance(record, CarpAdvert):
            result = _RESULT_OF(record)
            if record.md is None:
                return
            rest = None
        else:
            p = shape[1]
            result, rest = None, frame.data[p + 6 : p + repeat.CARP_LEN]
        if len(self._templates) >= _TEMPLATES_MAX:
            self._templates.clear()
        signer = self.verifier.signer(record) if result is not None else None
        self._templates[shape[0]] = _Template(record, len(frame.data), rest, result, signer)

    def _repeat(self, frame: Frame, template: _Template, shape: tuple[bytes, int]) -> list | None:
        """A repeat of a template: read its new fields in place; None to decode it in full."""
        data, r, p = frame.data, template.record, shape[1]
        if template.result is not None:
            header = data[p : p + repeat.CARP_LEN]
            # RFC 1071 §2(B): the one's-complement sum is the value modulo 0xffff; 0 verifies.
            if int.from_bytes(header, "big") % 0xFFFF:
                return None
            counter, md = int.from_bytes(header[8:16], "big"), header[16:]
            signer = template.signer
            if (signer is None or signer.signs(header[8:16], md, r.src_mac) != template.result) and \
                    self.verifier.verdict(r, counter, md) != template.result:
                return None
        elif data[p + 6 : p + repeat.CARP_LEN] != template.rest:
            return None
        else:
            counter = md = None
        time = frame.time
        out = self._keep(self.tracker.advance(time)) if self.tracker.due(time) else []
        self._count(time)
        self.adverts += 1
        happened = self.tracker.repeat(r, frame.number, time, counter, md)
        if happened is None or not self.lean:
            if counter is None:
                r = _COPY_VRRP(r, (frame.number, time))
            else:
                cksum = int.from_bytes(header[6:8], "big")
                r = _COPY_CARP(r, (frame.number, time, cksum, counter, md, *template.result))
            out.append(r)
        if happened is None:
            happened = self.tracker.observe(r, time)
            if r is not template.record:
                self._templates[shape[0]] = template._replace(record=r)
        return out + self._keep(happened) if happened else out

    def advance(self, now: float) -> list:
        """Timeouts that fell due by `now` (a tick in live capture, or the next frame)."""
        out = []
        while self._held is not None and now - self._held.frame.time > HOLD:
            out += self._release()
        if self.tracker.due(now):
            out += self._keep(self.tracker.advance(now))
        return out

    def finish(self) -> list:
        """End of capture: conclusions that need the whole picture, then what the caps left out."""
        out = []
        while self._held is not None:
            out += self._release()
        if self.last_time is not None:
            out += self._keep(self.tracker.finish(self.last_time))
        return out + self._left_out()

    def _keep(self, happened: Iterable) -> list:
        happened = list(happened)
        for item in happened:
            if isinstance(item, Finding):
                self._tally((item,))
            else:
                self.events.append(item)
                self.events_total += 1
                if len(self.events) >= EVENTS_FIRST + 2 * EVENTS_LAST:
                    self._trim()
        return happened

    def _trim(self) -> None:
        """Keep the first and the latest events: amortised O(1), memory flat."""
        del self.events[EVENTS_FIRST:len(self.events) - EVENTS_LAST]

    def _over(self, cap: str, number: int | None, time: float | None, first: str, final: str) -> list[Finding]:
        """A cap was reached again: count it; the first time, say so at once (limit-reached)."""
        entry = self._limits.get(cap)
        if entry is not None:
            entry[0] += 1
            return []
        self._limits[cap] = [1, number, time, final]
        f = limit(cap, f"{first} from frame {number} on; the end of the report says how often", number, time)
        self._tally((f,))
        return [f]

    def _left_out(self) -> list[Finding]:
        """limit-reached with the final counts: it replaces the first one of its cap."""
        out = [limit(cap, final.format(n) + f", from frame {number} on", number, time)
               for cap, (n, number, time, final) in self._limits.items()]
        forgotten = getattr(self.verifier, "forgotten", 0)
        if forgotten:
            out.append(limit(f"{VLANS_MAX} VLANs of address claims",
                             f"the address claims of {forgotten} VLANs (or QinQ pairs) were forgotten, the "
                             f"oldest first, to keep those of the latest {VLANS_MAX}: adverts there verify only "
                             f"with --vip or with claims sent again"))
        if len(self.events) > EVENTS_FIRST + EVENTS_LAST:
            self._trim()
        left = self.events_total - len(self.events)
        if left:
            out.append(limit(f"{EVENTS_FIRST + EVENTS_LAST} events",
                             f"{left} events between the first {EVENTS_FIRST} and the last {EVENTS_LAST} are "
                             f"left out of the report's timeline; the per-packet output (without -q) and -T "
                             f"jsonl carry every event as it happened"))
        self._tally(out)
        return out

    def note(self, finding: Finding) -> None:
        """A finding from outside the core (a damaged file, a lost interface)."""
        self._tally((finding,))

    def _tally(self, findings: Iterable[Finding]) -> None:
        for f in findings:
            if f.kind == LIMIT_REACHED:
                key = (f.kind, limit_cap(f))
                tally = self.findings.get(key)
                if tally is None:
                    self.findings[key] = FindingTally(f)
                else:
                    tally.first = f  # the same cap again: the later one has the final count
                continue
            key = (f.kind, f.proto, f.id, f.family, f.vlan)
            tally = self.findings.get(key)
            if tally is None:
                if len(self.findings) >= FINDINGS_MAX:
                    self._over(f"{FINDINGS_MAX} finding tallies", f.frame, f.time,
                               "findings of kinds and groups past the "
                               f"{FINDINGS_MAX}th are counted but not kept", "{} " + _FINDINGS_FINAL)
                    continue
                self.findings[key] = FindingTally(f)
            else:
                tally.count += 1

    def worst(self) -> Severity | None:
        """The most severe finding seen, for --fail-on."""
        ranks = [t.first.severity for t in self.findings.values()]
        return max(ranks, key=lambda s: s.rank) if ranks else None

    def tallies(self) -> list[FindingTally]:
        """Findings, most severe first, then in order of appearance."""
        return sorted(self.findings.values(), key=lambda t: (-t.first.severity.rank, t.first.time or 0.0))


def _failed(r: CarpAdvert) -> bool:
    """A check that claims may still turn: bad, or unverified for want of the VIP set."""
    return r.hmac == "bad" or r.hmac_reason == kinds.VIPS_UNKNOWN


_HELD_FINAL = (f"failed adverts were verified without waiting for the frames past the {HELD_MAX}th "
               f"that followed them")
_FINDINGS_FINAL = f"findings of kinds and groups past the {FINDINGS_MAX}th were counted but not kept"


def is_packet(item: object) -> bool:
    return isinstance(item, (CarpAdvert, VrrpAdvert, Damaged))
