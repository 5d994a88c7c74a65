"""What verification says about an advert (Verdict), and how a verified sender signs (Signer).

The pipeline's repeat fast path keeps a Seal (an advert, its verdict, its signer)
and asks it whether a repeat still verifies (Seal.signs, else Verifier.repeats): it
needs no other type of this package. Pure: no I/O, no clock.
"""

from __future__ import annotations

from hmac import compare_digest
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.hmac import HMAC

from carpscope.auth.keys import STALE, Key
from carpscope.auth.vips import SORTED, UCARP
from carpscope.model import CarpAdvert

_UCARP_MAC = "00:00:5e:00:00:"  # ucarp's advert source (§1.4)

# Reasons for "unverified" (hmac_reason), docs/protocol.md §9.7.
NO_PASSPHRASE, VIPS_UNKNOWN, BUDGET_SPENT = "no-passphrase", "vips-unknown", "budget-spent"
NOT_TRACKED = "not-tracked"  # a cap left its sender out (issue 20): not checked


class Verdict(NamedTuple):
    """What verify() sets on an advert: its fields carry CarpAdvert's names, in this order."""

    hmac: str | None  # "ok", "bad", "unverified"
    hmac_variant: str | None = None  # the message layout that verified (vips.VARIANTS)
    passphrase: int | None = None  # 1-based position; 0 = the empty key
    vips: tuple[str, ...] | None = None
    vips_from: str | None = None  # "given", "inferred", "searched"
    hmac_hint: str | None = None  # why it failed, or which stale key verified
    key_form: str | None = None  # keys.PLAIN, NETLINK, GUI or STALE
    hmac_reason: str | None = None  # "unverified": NO_PASSPHRASE, VIPS_UNKNOWN, BUDGET_SPENT or NOT_TRACKED


RESULT_FIELDS = Verdict._fields
UNVERIFIED = Verdict("unverified", hmac_reason=NO_PASSPHRASE)
# An advert no group tracks (a cap left its sender out) is not worth its signature check: a forged
# flood's every frame would cost a search for nothing (issue 20).
UNTRACKED = Verdict("unverified", hmac_hint="not checked: its sender is past a cap on the sources or groups "
                    "carpscope tracks, see limit-reached", hmac_reason=NOT_TRACKED)


class Signer:
    """One way adverts verify: key, VIP set and layout, with the constant prefix hashed.

    `ctx` has everything before the counter fed, so a check is copy + 8 bytes.
    """

    __slots__ = ("ctx", "mac", "position", "variant", "vips", "vips_from", "form", "hint", "_one_v4",
                 "_values", "_ucarp")

    def __init__(self, ctx: HMAC, mac: str | None, key: Key, variant: str,
                 vips: tuple[str, ...], one_v4: bool, vips_from: str) -> None:
        self.ctx = ctx
        self.mac = mac  # lladdr layouts only hold for this source MAC
        self.position = key.position
        self.form = key.form
        # A stale key names the passphrase whose tail it kept (for the stale-key finding).
        self.hint = (f"the key is passphrase {key.position} followed by the tail of passphrase {key.old}"
                     if key.form == STALE else None)
        self.variant = variant
        self.vips = vips
        self._one_v4 = variant == SORTED and one_v4  # ucarp hashes exactly one IPv4 VIP
        self.relabel(vips_from)

    def relabel(self, vips_from: str) -> None:
        """A searched address later claimed by ARP is reported as inferred."""
        self.vips_from = vips_from
        self._values = Verdict("ok", self.variant, self.position, self.vips, vips_from, self.hint, self.form)
        self._ucarp = (Verdict("ok", UCARP, self.position, self.vips, vips_from, self.hint, self.form)
                       if self._one_v4 else None)

    def matches(self, ctr: bytes, md: bytes, mac: str | None) -> bool:
        if self.mac is not None and self.mac != mac:
            return False
        h = self.ctx.copy()
        h.update(ctr)
        return compare_digest(h.finalize(), md)

    def result(self, mac: str | None) -> Verdict:
        if self._ucarp is not None and mac is not None and mac.startswith(_UCARP_MAC):
            return self._ucarp
        return self._values


class Seal:
    """A verified advert kept so that its repeats are checked at once (Seal.signs, Verifier.repeats).

    Built once per template (issue 19): the signer's keyed HMAC state and whether its
    source MAC may use it are settled here, so a repeat costs one HMAC and a few compares.
    A failure (no signer) is settled by the verifier instead (`hold`), once a repeat found
    its miss in the verifier's cache: the same bytes then get it again while that holds.
    """

    __slots__ = ("advert", "verdict", "signer", "_check", "_values", "_ctr", "_md", "_owner", "_stamp")

    def __init__(self, advert: CarpAdvert, verdict: Verdict, signer: Signer | None) -> None:
        self.advert = advert
        self.verdict = verdict
        self.signer = signer  # how its sender signed it, when it verified
        mac = advert.src_mac
        usable = (signer is not None and (signer.mac is None or signer.mac == mac)
                  and signer.result(mac) is verdict)
        self._check = signer if usable else None  # the signer `signs` may use
        self._values = signer._values if signer is not None else None  # relabel replaces them
        self._ctr = self._md = b""  # the latest counter and md that verified (or whose miss holds: `hold`)
        self._owner: Any = None  # the verifier whose cached miss `hold` saw, and its stamp then
        self._stamp: object = None

    def hold(self, ctr: bytes, md: bytes, owner: Any, stamp: object) -> None:
        """The verifier's cached miss of this counter and md is the sealed verdict while its `stamp` stays
        (Verifier.repeats): a repeat of these bytes needs no lookup then (a flapping group, issue 20)."""
        self._ctr, self._md, self._owner, self._stamp = ctr, md, owner, stamp

    def signs(self, ctr: bytes, md: bytes) -> bool:
        """Does a repeat with this counter (its 8 wire bytes) and md get the sealed verdict?

        One HMAC, none for the counter and md that verified last (OpenBSD repeats its
        counter). Without a signer, the counter and md of a held miss (`hold`) while the
        verifier's stamp is the same. False also when only Verifier.repeats can tell: no
        signer, or the signer was relabelled since.
        """
        signer = self._check
        if signer is None:  # (b"" before `hold`: no md is empty)
            return md == self._md and ctr == self._ctr and self._owner.stamp is self._stamp
        if signer._values is not self._values:
            return False
        if md == self._md and ctr == self._ctr:
            return True
        h = signer.ctx.copy()
        h.update(ctr)
        if h.finalize() != md:  # (== as the verifier's search compares: one C call less than compare_digest)
            return False
        self._ctr, self._md = ctr, md
        return True
