"""A sender's latest advert kept for the repeat fast path (wire/repeat.py, Pipeline._repeat)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from carpscope.model import CarpAdvert, VrrpAdvert
from carpscope.wire import repeat
from carpscope.wire.carp import CARP_LEN

if TYPE_CHECKING:
    from carpscope.auth import Seal
    from carpscope.election.members import Steady


class Template:
    """A sender's latest advert without findings, and what its repeats are checked with (wire/repeat.py).

    Built once, so that a repeat costs a few compares, one HMAC and the tracker's
    bookkeeping (issue 19): the verifier's Seal and the tracker's Steady plan, the
    latter on the first repeat (most templates of a forged capture never see one).
    """

    __slots__ = ("key", "record", "size", "varies", "rest", "seal", "fixed", "last", "steady")

    def __init__(self, key: tuple | bytes, record: CarpAdvert | VrrpAdvert, data: bytes, seal: Seal | None) -> None:
        self.key = key  # its repeat.key
        self.record = record
        self.size = len(data)  # frame length
        p = repeat.payload(data)  # where the CARP or VRRP header starts
        self.varies = slice(p + 6, p + CARP_LEN)  # CARP: its checksum, counter and md
        self.rest = None if seal is not None else data[self.varies]  # VRRP: the same bytes must match too
        self.seal = seal  # CARP: the verdict a repeat must get too, and how to check it at once
        self.fixed = int.from_bytes(data[p : p + 6], "big")  # CARP: the header bytes that stay, as a number
        # CARP: the varying bytes (6-35) of the latest repeat whose checksum held, the tracker's
        # key of its counter, (counter, md), and the counter's wire bytes: OpenBSD repeats its
        # counter, copies repeat all, and the same key object lets Tracker.repeat compare by identity.
        self.last: tuple = (None, None, None)
        self.steady: Steady | None = None  # the tracker's plan for its repeats (Tracker.repeat), once asked for
