"""Decode → verify → track: the pure pipeline that `read` and `live` share.

Takes frames and ticks, returns what happened in order (records, events,
findings). What the report will say accumulates in a summary.Recorder beside it.
No I/O and no clock: the caller says what time it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from struct import Struct
from typing import NamedTuple

from carpscope import findings as kinds
from carpscope.auth import VLANS_MAX, Verifier
from carpscope.election.events import limit
from carpscope.election.members import Steady
from carpscope.election.tracker import Tracker
from carpscope.model import (
    AddressClaim,
    CarpAdvert,
    Copier,
    Finding,
    Frame,
    Severity,
    VrrpAdvert,
)
from carpscope.summary import FindingTally, Recorder, Summary
from carpscope.template import Template
from carpscope.wire import repeat
from carpscope.wire.decode import decode_frame
from carpscope.wire.repeat import DLT_EN10MB, IPV4_PLAIN, PLAIN, PLAIN_LEN

_TEMPLATES_MAX = 4096  # senders' latest adverts kept for the repeat fast path
_U64 = (1 << 64) - 1
_CTR_MD = Struct("2x8s20s").unpack  # of CARP's varying bytes 6-35: the counter's wire bytes, the md
# A repeat's record: the template's with its new frame, time, checksum, counter and md. Its verdict
# fields are the template's already (the first was sealed with them, each copy keeps them): not set again.
_COPY_CARP = Copier(CarpAdvert, ("frame", "time", "cksum", "counter", "md"))
_COPY_VRRP = Copier(VrrpAdvert, ("frame", "time"))


HOLD = 0.5  # seconds a failed CARP advert waits for the address claims that follow it
HELD_MAX = 256  # frames queued behind a held advert (issue 20): past it, the advert is judged at once


class _Held(NamedTuple):
    """A CARP advert that failed verification, waiting for the claims that may fix it.

    Every frame of the next HOLD seconds waits behind it, in order: its claims are
    learned at once, and a dual-stack master's advert of the other family (which it
    sends before its ARP and NA, docs/protocol.md §2.1) does not cut the wait short.
    """

    frame: Frame
    record: CarpAdvert  # as decoded, before verification
    key: tuple | bytes | None  # repeat.key
    queue: list  # (Frame, decoded record or None) that came after it, in order


@dataclass
class Pipeline:
    """Records go out only when wanted: `lean` (a quiet text report) lets repeats skip them."""

    verifier: Verifier
    tracker: Tracker
    decode_as: str | None = None
    lean: bool = False
    adverts: int = 0  # protocol-112 packets seen (what -c counts)
    records: int = 0  # frames that gave a record (what -w saves)
    report: Recorder = field(default_factory=Recorder)  # what the report will say
    _templates: dict = field(default_factory=dict, repr=False)  # repeat.key -> Template
    _held: _Held | None = field(default=None, repr=False)
    _failing: set = field(default_factory=set, repr=False)  # (vhid, vlan, src) whose last advert failed
    _bad: dict = field(default_factory=dict, repr=False)  # (vhid, vlan, src) -> its first bad advert

    def __post_init__(self) -> None:
        self._keep, self._tally = self.report.keep, self.report.tally
        self._deadlines = self.tracker.deadlines  # Tracker.due without a call, on the fast path
        self._limits = getattr(self.tracker, "limits", None)  # its caps (Limits.refused, see _settle)
        self._copy_carp = self._copy_vrrp = None  # Copier.function's, at the first copy (`_copier`): one call less

    # The report as it stands (summary.Recorder): what tests and the shell read.
    first_time = property(lambda self: self.report.first_time)
    last_time = property(lambda self: self.report.last_time)
    events = property(lambda self: self.report.events)
    events_total = property(lambda self: self.report.events_total)
    findings = property(lambda self: self.report.findings)

    def summary(self) -> Summary:
        """The report's inputs now, immutable: what sinks and the dashboard take."""
        return self.report.summary(self.adverts)

    def feed(self, frame: Frame) -> list:
        """Everything one frame causes: timeouts due before it, its record, its events."""
        if self._held is not None:
            return self._while_held(frame)
        data = frame[3]  # (frame.data and .linktype: a tuple's index costs less than a field's name)
        # repeat.key's usual frame, inlined (issue 19): a tuple key that finds a template holds
        # the ethertype, IP version and protocol bytes of one, so this frame is one too.
        key: tuple | bytes | None = None
        template = (self._templates.get(key := PLAIN(data)) if len(data) == PLAIN_LEN and frame[2] == DLT_EN10MB
                    else None)
        if template is not None:
            out = self._repeat(frame, data, template)
            if out is not None:
                return out
            key = template.key
        elif key is None or data[12:15] != IPV4_PLAIN or data[23] != 0x70:
            # (else the usual frame's key is the one just unpacked and looked up: issue 20)
            key = repeat.key(frame[2], data)
            template = None if key is None else self._templates.get(key)
            if template is not None and len(data) == template.size:
                out = self._repeat(frame, data, template)
                if out is not None:
                    return out
        return self._record(frame, decode_frame(frame, self.decode_as), key)

    def _record(self, frame: Frame, record, key: tuple | bytes | None, counted: bool = False) -> list:
        """A decoded frame: timeouts due before it, then the record and what it causes.

        counted: it waited behind a held advert and was counted when it arrived.
        """
        if record is None:
            return []
        time = frame.time
        # advance and _count, inlined (issue 20: every frame of a forged flood comes here).
        deadlines = self._deadlines
        out = self.advance(time) if self._held is not None or (deadlines and deadlines[0][0] <= time) else []
        if not counted:
            report = self.report  # (Recorder.saw)
            if report.first_time is None or time < report.first_time:
                report.first_time = time
            if report.last_time is None or time > report.last_time:
                report.last_time = time
            self.records += 1
        if isinstance(record, AddressClaim):
            self.verifier.learn(record)
            return out + [record]
        if not counted:
            self.adverts += 1  # a protocol-112 packet, decoded or damaged
        if isinstance(record, CarpAdvert):
            if self._limits is not None and self._limits.reached:
                left = self._untracked(record, time)
                if left is not None:
                    return out + left
            verifier = self.verifier
            verified = verifier.verify(record, True)  # (decoded for this call alone: filled in place)
            if getattr(verifier, "pending", True):  # (Verifier.pending: none, the usual case)
                out += self._notes()
            if not (verified.hmac == "bad" or verified.hmac_reason == kinds.VIPS_UNKNOWN):  # (_failed, inlined)
                if self._failing:
                    self._failing.discard((record.vhid, record.vlan, record.src))
                return out + self._settle(frame, verified, key)
            sender = (record.vhid, record.vlan, record.src)
            if sender not in self._failing:
                # A new master signs its first advert before its gratuitous ARPs tell
                # carpscope the VIPs (docs/protocol.md §2.1): wait for them, then check again.
                # (Once: a sender that keeps failing has another key or VIP set.)
                if len(self._failing) >= _TEMPLATES_MAX:
                    self._failing.clear()
                self._failing.add(sender)
                self._held = _Held(frame, record, key, [])
                return out
            record = verified
        return out + self._settle(frame, record, key)

    def _untracked(self, record: CarpAdvert, time: float) -> list | None:
        """A just-decoded advert a cap leaves out at once (not verified: issue 20, no template), or None."""
        left = self.tracker.leave_out(record, time)
        if left is None:
            return None
        record = self.verifier.untracked(record)
        if record.findings:
            self._tally(record.findings)
        return [record, *left]

    def _notes(self) -> list:
        """Findings of the verifier itself (its search budget ran out)."""
        notes = self.verifier.notes() if hasattr(self.verifier, "notes") else ()
        self._tally(notes)
        return list(notes)

    def _settle(self, frame: Frame, record, key: tuple | bytes | None) -> list:
        """A final record: its findings, the elections it moves, and the fast path's template."""
        if record.findings:
            self._tally(record.findings)
        out = [record]
        if isinstance(record, CarpAdvert):
            if record.hmac in ("bad", "ok"):
                self._rejudge(record)
        elif not isinstance(record, VrrpAdvert):
            return out
        happened = self.tracker.observe(record, frame.time)
        if happened:
            out += self._keep(happened)
        # The first advert of a sender a cap left out gets no template (issue 20): forged ones never
        # repeat. (Limits.refused, read here: every advert of a forged flood comes here.)
        if key is not None and (self._limits is None or self._limits.refused is not record):
            self._remember(key, frame, record)
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
        if first is None or not self.verifier.signed_alike(record, first):
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
                out = self.report.over(f"{HELD_MAX} frames held", frame.number, frame.time,
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
        out += self._settle(held.frame, record, held.key)
        for frame, queued in held.queue:
            if self._held is not None:  # one of them failed in turn: the rest waits behind it
                self._held.queue.append((frame, queued))
            else:
                out += self._record(frame, queued, repeat.key(frame.linktype, frame.data), counted=True)
        return out

    def _count(self, time: float) -> None:
        """A frame gave a record: -w saves it, and the report's span takes its time."""
        self.report.saw(time)
        self.records += 1

    def _remember(self, key: tuple | bytes, frame: Frame, record: CarpAdvert | VrrpAdvert) -> None:
        """Keep an advert without findings as its sender's template; its repeats take the fast path."""
        if record.findings or record.checksum != "ok":
            return
        if isinstance(record, CarpAdvert):
            if record.md is None:
                return
            seal = self.verifier.seal(record)
        else:
            seal = None
        if len(self._templates) >= _TEMPLATES_MAX:
            self._templates.clear()
        self._templates[key] = Template(key, record, frame.data, seal)

    def _repeat(self, frame: Frame, data: bytes, template: Template) -> list | None:
        """A repeat of a template: read its new fields in place; None to decode it in full."""
        seal = template.seal
        if seal is not None:
            varying = data[template.varies]
            last, key, ctr = template.last
            if varying != last:
                value = int.from_bytes(varying, "big")
                # RFC 1071 §2(B): the one's-complement sum is the header's value modulo 0xffff, 0
                # verifies; as 2**16 ≡ 1, that value is the sum of its bytes 0-5's and 6-35's.
                if (template.fixed + value) % 0xFFFF:
                    return None
                ctr, md = _CTR_MD(varying)
                key = ((value >> 160) & _U64, md)
                template.last = (varying, key, ctr)
            if not (seal.signs(ctr, key[1]) or self.verifier.repeats(seal, key[0], ctr, key[1])):
                return None
        elif data[template.varies] != template.rest:
            return None
        else:
            key = varying = None
        time = frame[1]
        deadlines = self._deadlines
        out = self._keep(self.tracker.advance(time)) if deadlines and deadlines[0][0] <= time else []
        report = self.report  # Recorder.saw and _count, inlined: a template's frame set both ends of the span
        if time > report.last_time:
            report.last_time = time
        elif time < report.first_time:
            report.first_time = time
        self.records += 1
        self.adverts += 1
        steady = template.steady or self._steady(template)
        # A stopped member's advert, which `repeat` refuses at once, is a flap's master change: Tracker.again.
        happened: tuple | list | None = None if steady is None or not steady.member.active else self.tracker.repeat(
            steady, frame[0], time, key)
        if happened is None or not self.lean:
            r = template.record
            if seal is None:
                r = (self._copy_vrrp or self._copier(_COPY_VRRP))(r, (frame[0], time))
            else:
                cksum = varying[0] << 8 | varying[1]  # (its bytes 6-7, without int.from_bytes' slice and call)
                r = (self._copy_carp or self._copier(_COPY_CARP))(r, (frame[0], time, cksum, key[0], key[1]))
            out.append(r)
            if happened is None:  # (after `again`, steady.record is r while its plan holds)
                happened = self.tracker.observe(r, time) if steady is None else self.tracker.again(steady, r, time, key)
                template.record, template.steady = r, steady if steady is not None and steady.record is r else None
        return out + self._keep(happened) if happened else out

    def _copier(self, copier: Copier):
        """A Copier's function, compiled at its first copy (not at start-up): one call less a copy."""
        copy = copier.function()
        if copier is _COPY_CARP:
            self._copy_carp = copy
        else:
            self._copy_vrrp = copy
        return copy

    def _steady(self, template: Template) -> Steady | None:
        """The tracker's plan for a template's repeats, on its first (Tracker.steady; None: untracked)."""
        template.steady = self.tracker.steady(template.record)
        return template.steady

    def advance(self, now: float) -> list:
        """Timeouts that fell due by `now` (a tick in live capture, or the next frame)."""
        out = []
        while self._held is not None and now - self._held.frame.time > HOLD:
            out += self._release()
        if self.tracker.due(now):
            out += self._keep(self.tracker.advance(now))
        return out

    def next_deadline(self) -> float | None:
        """When `advance` may next have something to say: a held advert's release, a tracker timeout.

        Live capture sleeps until then (shell.py) instead of ticking.
        """
        deadline = self.tracker.next_deadline() if hasattr(self.tracker, "next_deadline") else None
        if self._held is not None:
            release = self._held.frame.time + HOLD
            deadline = release if deadline is None else min(deadline, release)
        return deadline

    def finish(self) -> list:
        """End of capture: conclusions that need the whole picture, then what the caps left out."""
        out = []
        while self._held is not None:
            out += self._release()
        if self.last_time is not None:
            out += self._keep(self.tracker.finish(self.last_time))
        return out + self._left_out()

    def _left_out(self) -> list[Finding]:
        """limit-reached with the final counts, the verifier's forgotten claims among them."""
        forgotten = getattr(self.verifier, "forgotten", 0)
        extra = [limit(f"{VLANS_MAX} VLANs of address claims",
                       f"the address claims of {forgotten} VLANs (or QinQ pairs) were forgotten, the "
                       f"oldest first, to keep those of the latest {VLANS_MAX}: adverts there verify only "
                       f"with --vip or with claims sent again")] if forgotten else []
        return self.report.left_out(extra)

    def note(self, finding: Finding) -> None:
        """A finding from outside the core (a damaged file, a lost interface)."""
        self._tally((finding,))

    def worst(self) -> Severity | None:
        """The most severe finding seen, for --fail-on."""
        return self.report.worst()

    def tallies(self) -> list[FindingTally]:
        """Findings, most severe first, then in order of appearance."""
        return self.report.tallies()


def _failed(r: CarpAdvert) -> bool:
    """A check that claims may still turn: bad, or unverified for want of the VIP set."""
    return r.hmac == "bad" or r.hmac_reason == kinds.VIPS_UNKNOWN


_HELD_FINAL = (f"failed adverts were verified without waiting for the frames past the {HELD_MAX}th "
               f"that followed them")
