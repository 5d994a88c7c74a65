"""The CARP verifier: which passphrase, which VIP set, which stack signed an advert.

The md field is plain RFC 2104 HMAC-SHA1 (docs/protocol.md §2.1) over
``02 01 [lladdr] vhid VIPv4… VIPv6… counter``. A failure is "bad" only against a
known VIP set, else "unverified" with its reason (§9.7). Pure: no I/O, no clock.

Longer than 400 lines because the repeat fast path, the bounded search over
passphrases, stacks and VIP layouts and its spend budget share one cache of
signers: splitting them would put that cache behind another seam on the hot path.
"""

from __future__ import annotations

import hashlib
import importlib
import ipaddress
import operator
from collections.abc import Mapping, Sequence
from hmac import compare_digest
from types import MappingProxyType
from typing import NamedTuple

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.hmac import HMAC

from carpscope import findings as kinds
from carpscope.auth.keys import Keyring
from carpscope.auth.verdict import (
    BUDGET_SPENT,
    RESULT_FIELDS,
    UNTRACKED,
    UNVERIFIED,
    VIPS_UNKNOWN,
    Seal,
    Signer,
    Verdict,
)
from carpscope.auth.vips import (
    HEAD,
    OPENBSD_LLADDR,
    SORTED,
    Addr,
    VipBook,
    lladdr_of,
    message_layouts,
    parse_addr,
    slash24,
    vip_sets,
)
from carpscope.model import AddressClaim, CarpAdvert, Copier, Finding, Severity

_MD_LEN = 20
_COUNTER_MAX = (1 << 64) - 1
_CACHE_MAX = 4096  # verdicts per cache generation (two generations kept)
_GOOD_MAX = 8  # verified configurations remembered per group
_SENDERS_MAX = 4096  # senders whose failed searches are remembered
_TRIED_MAX = 4096  # (key, message) pairs remembered per sender
# Issue 20: HMACs the searches of one capture may compute (the checks of configurations
# that verified are not counted); about 0.5 s of CPU. Spent: later unknown senders
# stay unverified, and a finding says so once.
SEARCH_BUDGET = 200_000
_SHA1 = hashes.SHA1()
_OCTETS = tuple(bytes((i,)) for i in range(256))
try:  # CPython's own SHA-1: a copy is a struct copy, about half the instructions of OpenSSL's per candidate
    _sha1 = importlib.import_module("_sha1").sha1
except ImportError:  # a build without it
    _sha1 = hashlib.sha1


def _pads(key: bytes) -> tuple:
    """RFC 2104: SHA-1 states with (key ⊕ ipad) and (key ⊕ opad) hashed; an HMAC is then two copies.

    The /24 search (`Verifier._search`) hashes 256 candidates a key: building each
    as copy + update + digest of these costs a third less than an HMAC object's copy.
    """
    if len(key) > 64:
        key = hashlib.sha1(key).digest()
    key = key.ljust(64, b"\0")
    return _sha1(bytes(b ^ 0x36 for b in key)), _sha1(bytes(b ^ 0x5C for b in key))


class _Miss(NamedTuple):
    """A negative outcome, valid while neither the claims nor the known configs change."""

    epoch: int
    version: int
    values: Verdict


class _Sender:
    """What was already tried for one sender of one group: each search runs once (issue 20).

    A (key, message) pair that failed for one advert fails for every advert of the
    same sender, whatever its counter; the /24 search covers every single address,
    so it is run once per key. New claims only add messages not tried yet.
    """

    __slots__ = ("tried", "searched", "miss", "complete")

    def __init__(self) -> None:
        self.tried: set[int] = set()  # hash((key index, message prefix))
        self.searched = 0  # bit i: key index i's /24 search ran (or failed before, `_missed`)
        self.miss: _Miss | None = None
        self.complete = True  # False: the budget ran out before everything was tried


_FRESH = _Sender()  # what `_failure` reads of a sender never searched (read only: `_missed_new`)
_GET_RESULT = operator.attrgetter(*RESULT_FIELDS)
_COPY_RESULT = Copier(CarpAdvert, RESULT_FIELDS)


def verdict_of(advert: CarpAdvert) -> Verdict:
    """The verdict an advert carries (its hmac, …, hmac_reason fields)."""
    return Verdict._make(_GET_RESULT(advert))


def _who(position: int) -> str:
    return f"passphrase {position}" if position else "the empty key (no passphrase)"


class Verifier:
    """Verifies CARP adverts against passphrases and candidate VIP sets.

    Verdicts belong to each sender (vhid, VLAN, source address): every kernel-CARP
    member sends from the same virtual MAC (§1.4), so one member's failure says
    nothing about another's. A verified configuration is checked first for the
    sender and its group; a sender is searched only with what it was not tried
    with yet (`_Sender`), within a per-capture budget. `bad` needs a known VIP set
    (given, claimed for the vhid, or verified for another member); otherwise a
    failure is `unverified` with its reason (docs/protocol.md §9.7).
    """

    def __init__(self, passphrases: Sequence[bytes],
                 vips: Mapping[int | None, Sequence[str]] = MappingProxyType({}),
                 budget: int = SEARCH_BUDGET) -> None:
        self._keys = Keyring(passphrases)
        self._keylist = tuple(self._keys)
        self._given = self._keys.given
        self._pads = tuple(_pads(key.key) for key in self._keys)
        self._tails = [b""]  # the /24 search's candidate tails (last octet + counter) for the last counter
        self._vips = VipBook(vips)
        self._good: dict[tuple[int, tuple[int, ...]], list[Signer]] = {}
        self._version = 0  # bumped when a new configuration verifies, or the budget runs out
        # Replaced whenever a cached miss may stop being what `verdict` returns without a side effect: a new
        # claim (epoch), a new configuration or the budget spent (_version), the cache's generations moved.
        # Seal.signs compares it (Seal.hold, `repeats`).
        self.stamp = object()
        self._sender: dict[tuple, Signer] = {}
        self._senders: dict[tuple, _Sender | int] = {}  # int: a sender's searched keys alone (`_missed_new`)
        self._missed: set[tuple] = set()  # /24 searches that found nothing: (key index, head, counter, md)
        # (vhid, source MAC, source's /24 as text, counter, md) whose searches are all in _missed: `_find`
        self._missed24: dict[tuple, int] = {}
        self._failures: dict[tuple, Verdict] = {}  # (vhid, /24, VIP set known) -> its failure (`_failure`)
        self._all_keys = (1 << len(self._keylist)) - 1  # every key's bit in _Sender.searched
        self._sets_cache: dict[tuple, tuple] = {}  # (vhid, vlan, family) -> ((epoch, version), candidates)
        self._recent: dict[tuple, Signer | _Miss] = {}
        self._older: dict[tuple, Signer | _Miss] = {}
        self._budget = budget
        self._notes: list[Finding] = []
        self.pending = self._notes  # findings `notes` has not given yet: the pipeline asks only when some are
        self._spent_at: CarpAdvert | None = None
        self._fill = _COPY_RESULT.filler()  # (Copier.fill without its layer: every new advert is filled)

    def __repr__(self) -> str:
        given, claimed = self._vips.count()
        return (f"<Verifier: {self._keys.given} passphrase(s) hidden, {given} given VIP(s), "
                f"{claimed} claimed, {len(self._good)} group(s) verified>")

    __str__ = __repr__

    def long_passphrases(self) -> tuple[int, ...]:
        """Positions of passphrases over 19 bytes: BSD ifconfig and ucarp keep 19 (§2.2)."""
        return self._keys.long

    def notes(self) -> list[Finding]:
        """Findings about the verification itself (the budget ran out), each given once."""
        out = list(self._notes)
        self._notes.clear()
        return out

    @property
    def forgotten(self) -> int:
        """VLANs whose claims were forgotten for vips.VLANS_MAX: the pipeline reports it."""
        return self._vips.forgotten

    # -- learning ---------------------------------------------------------------

    def learn(self, claim: AddressClaim) -> None:
        """Remember a claimed address as a candidate VIP of its VLAN (§2.1, §4.2, §9.5)."""
        a = self._vips.learn(claim)
        if a is not None:  # (a new address: the epoch moved)
            self.stamp = object()
        if a is not None and a.family == 4:
            for (_, vlan), group in self._good.items():
                if vlan == claim.vlan:
                    for cfg in group:
                        if cfg.vips_from == "searched" and cfg.vips == (a.text,):
                            cfg.relabel("inferred")

    # -- verifying --------------------------------------------------------------

    def verify(self, advert: CarpAdvert, fresh: bool = False) -> CarpAdvert:
        """The advert with hmac, hmac_variant, passphrase, vips, vips_from, hmac_hint … set.

        fresh: the caller holds the only reference to `advert` (just decoded), so its
        fields are set in place rather than copied (every advert of a forged flood
        comes here, issue 20).
        """
        values = self.verdict(advert, advert.counter, advert.md)
        if values is None or _GET_RESULT(advert) == values:
            return advert
        return self._fill(advert, values) if fresh else _COPY_RESULT(advert, values)

    def untracked(self, advert: CarpAdvert) -> CarpAdvert:
        """A just-decoded advert that no group tracks (a cap left its sender out), marked as not checked."""
        return self._fill(advert, UNTRACKED)

    def seal(self, advert: CarpAdvert) -> Seal:
        """A verified advert kept for its repeats (Verifier.repeats), with how its sender signed it."""
        signer = self._sender.get((advert.vhid, advert.vlan, advert.src)) if advert.hmac == "ok" else None
        verdict = verdict_of(advert)
        if signer is not None and signer.result(advert.src_mac) == verdict:
            verdict = signer.result(advert.src_mac)  # the same values, the signer's own object: `is` in repeats
        return Seal(advert, verdict, signer)

    def repeats(self, seal: Seal, counter: int, ctr: bytes, md: bytes) -> bool:
        """Does a repeat of the sealed advert, with this counter (ctr: its 8 wire bytes) and md,
        get the sealed verdict? One HMAC when its sender still signs the same way.

        A failure that `verdict` answered from its cache is held by the seal (`_hold`): the
        same bytes again get it from Seal.signs, without this call (a flapping group, issue 20).
        """
        advert, verdict, signer = seal.advert, seal.verdict, seal.signer
        mac = advert.src_mac
        if signer is not None and signer.matches(ctr, md, mac):
            result = signer.result(mac)
            if result is verdict or result == verdict:
                return True
        if self.verdict(advert, counter, md) != verdict:
            return False
        if md == advert.md:  # (its own md again: a counter that stays, as OpenBSD's; not one that moves)
            self._hold(seal, ctr, md)
        return True

    def _hold(self, seal: Seal, ctr: bytes, md: bytes) -> None:
        """Let the seal answer these bytes itself while `verdict` would answer them from its recent cache
        with the sealed failure and change nothing: until `stamp` is replaced.

        While it stays, that entry stays in `_recent` (no new generation), valid (same epoch and
        version), and no signer can match these bytes (the group's configurations are those
        of that version, and none matched when the miss was judged): `verdict` returns
        its values, as the seal would.
        """
        advert = seal.advert
        hit = self._recent.get((advert.vhid, advert.vlan, advert.family, ctr, md, advert.src_mac, advert.src))
        if (isinstance(hit, _Miss) and hit.epoch == self._vips.epoch and hit.version == self._version
                and hit.values == seal.verdict):
            seal.hold(ctr, md, self, self.stamp)

    def signed_alike(self, advert: CarpAdvert, earlier: CarpAdvert) -> bool:
        """Is `earlier` (a bad advert of the same sender) signed the way `advert` verified?"""
        signer = self._sender.get((advert.vhid, advert.vlan, advert.src)) if advert.hmac == "ok" else None
        return signer is not None and signer.matches(earlier.counter.to_bytes(8, "big"), earlier.md,
                                                     earlier.src_mac)

    def verdict(self, advert: CarpAdvert, counter: int | None, md: bytes | None) -> Verdict | None:
        """The verdict of `advert` sent with this counter and md.

        Takes the counter and md apart so that a repeat of an advert (same sender,
        group and MAC) is checked without building its record first. None when the
        advert is too short to check.
        """
        vhid = advert.vhid
        if vhid is None or counter is None or md is None:
            return None
        if not (0 <= vhid <= 255 and 0 <= counter <= _COUNTER_MAX and len(md) == _MD_LEN):
            return None
        ctr = counter.to_bytes(8, "big")  # the wire bytes, offsets 8–15 (§2.1)
        mac, vlan, src = advert.src_mac, advert.vlan, advert.src
        who = (vhid, vlan, src)
        mine = self._sender.get(who)
        if mine is not None and mine.matches(ctr, md, mac):
            return mine.result(mac)  # the usual case: signed as its sender's last advert
        ckey = (vhid, vlan, advert.family, ctr, md, mac, src)
        hit = self._recent.get(ckey)
        if hit is None:
            hit = self._older.get(ckey)
            if hit is not None:
                self._remember(ckey, hit)
        if hit is not None:
            if isinstance(hit, Signer):
                return hit.result(mac)
            if hit.epoch == self._vips.epoch and hit.version == self._version:
                return hit.values
        elif mine is None and self._missed24:  # (a forged flood's every sender, after the cache: issue 20)
            missed = self._missed_new(advert, ctr, md)
            if missed is not None:
                return missed

        group = self._good.get((vhid, vlan))  # none for a new group: no call to try its configurations
        cfg = self._others(group, who, ctr, md, mac, mine) if group else None
        if cfg is None:
            if mine is not None:  # it verified before: its pass or VIPs changed, what failed may now match
                del self._sender[who]
                self._senders.pop((vhid, vlan, advert.family, src), None)
            found = self._unknown(advert, ctr, md, who)
            if isinstance(found, _Miss):
                self._remember(ckey, found)
                return found.values
            cfg = found
        self._remember(ckey, cfg)
        return cfg.result(mac)

    def _others(self, group: list[Signer], who: tuple, ctr, md, mac, mine: Signer | None) -> Signer | None:
        """The group's configurations other than the sender's last one."""
        for cfg in group:
            if cfg is not mine and cfg.matches(ctr, md, mac):
                self._signed_by(who, cfg)
                return cfg
        return None

    def _unknown(self, advert: CarpAdvert, ctr: bytes, md: bytes, who: tuple) -> Signer | _Miss:
        """Search what this sender was not tried with yet; else its failure, judged anew (a _Miss)."""
        vhid, vlan = advert.vhid, advert.vlan
        skey = (vhid, vlan, advert.family, advert.src)
        senders = self._senders
        known = senders.get(skey)
        if known is None:
            if len(senders) >= _SENDERS_MAX:
                senders.clear()
            sender = senders[skey] = _Sender()
        elif isinstance(known, int):  # (its searched keys alone, `_missed_new`)
            sender = senders[skey] = _Sender()
            sender.searched = known
        else:
            sender = known
            miss = sender.miss
            if miss is not None and miss.epoch == self._vips.epoch and miss.version == self._version:
                return miss
        cfg = self._find(advert, ctr, md, sender)
        if cfg is not None:
            group = self._good.setdefault((vhid, vlan), [])
            group.insert(0, cfg)
            del group[_GOOD_MAX:]
            self._version += 1
            self.stamp = object()
            self._signed_by(who, cfg)
            sender.miss = None
            return cfg
        values = self._failure(advert, sender) if self._given else UNVERIFIED  # no passphrase: nothing is bad
        miss = sender.miss = _Miss(self._vips.epoch, self._version, values)
        return miss

    def _signed_by(self, sender: tuple, cfg: Signer) -> None:
        """Remember how a sender signs (bounded: forged sources may be many)."""
        if sender not in self._sender and len(self._sender) >= _SENDERS_MAX:
            self._sender.clear()
        self._sender[sender] = cfg

    def _remember(self, key: tuple, value: Signer | _Miss) -> None:
        recent = self._recent
        if len(recent) >= _CACHE_MAX:
            self._older = recent
            self._recent = recent = {}
            self.stamp = object()
        recent[key] = value

    def _spend(self, n: int, advert: CarpAdvert, sender: _Sender) -> bool:
        """Take n HMACs from the capture's budget; False (and a note, once) when it is spent."""
        if self._budget >= n:
            self._budget -= n
            return True
        sender.complete = False
        if self._spent_at is None:
            self._spent_at = advert
            self._version += 1  # misses judged before now did not know
            self.stamp = object()
            self._notes.append(Finding(
                kinds.SIGNATURE_BUDGET, Severity.WARNING,
                f"carpscope stopped searching for the passphrase and VIP set of new senders at {advert.src} "
                f"(vhid {advert.vhid}): the search budget of {SEARCH_BUDGET} HMACs for one capture is spent, "
                f"so adverts of senders not verified by then stay unverified; give the VIPs with --vip "
                f"(nothing then needs searching)", advert.frame, advert.time, "carp", advert.vhid,
                advert.family, tuple(advert.vlan)))
        return False

    def _missed_new(self, advert: CarpAdvert, ctr: bytes, md: bytes) -> Verdict | None:
        """The failure of a new sender (no state of its own) whose search would only repeat one that missed.

        Asked when the cache has no answer: its group has no verified configuration (no
        Signer), and a search the budget cut short leaves no miss of every key for its
        header (no other _Miss). Nothing is kept but its searched keys, as an int: a
        forged flood's one-shot senders cost no _Sender, _Miss or cache entry (issue 20).
        A sender that sends again is judged the usual way (`_unknown` makes it a _Sender),
        so its failure is cached and its repeats cost a cache lookup, as before.
        None: judge it the usual way.
        """
        if not self._missed_before(advert, ctr, md):
            return None
        skey = (advert.vhid, advert.vlan, advert.family, advert.src)
        senders = self._senders
        state = senders.get(skey)
        if state is not None:
            return None  # it sent before: judged the usual way, its failure is cached for its repeats
        if len(senders) >= _SENDERS_MAX:
            senders.clear()
        senders[skey] = self._all_keys  # (what _find would have set: every key's /24 search ran)
        return self._failure(advert, _FRESH) if self._given else UNVERIFIED

    def _missed_before(self, advert: CarpAdvert, ctr: bytes, md: bytes) -> bool:
        """Would `_find` answer from `_missed24` alone: no VIP set known for the group, and the same
        header from the same /24 missed with every key?"""
        vlan, vips = advert.vlan, self._vips
        if advert.family != 4 or vips.given or vips.claims.get(vlan) or (advert.vhid, vlan) in self._good:
            return False
        src = advert.src
        return (advert.vhid, advert.src_mac, src[: src.rfind(".")], ctr, md) in self._missed24

    def _find(self, advert: CarpAdvert, ctr: bytes, md: bytes, sender: _Sender) -> Signer | None:
        """Known VIP sets not tried yet for this sender, then (IPv4) one address of its /24 (§2.4)."""
        vhid, family, vlan = advert.vhid, advert.family, advert.vlan
        vips = self._vips
        # Nothing given, claimed on its VLAN or verified in its group (a new group of a forged
        # segment): no set to try, so no call to collect them nor a cache entry (issue 20).
        known = vips.given or vips.claims.get(vlan) or (vhid, vlan) in self._good
        if not known and family == 4:
            # The same header from the same /24 as a search that missed with every key (forged senders
            # of one /24, one group on each of many VLANs): as `_search` would find, without its calls.
            src = advert.src
            bits = self._missed24.get((vhid, advert.src_mac, src[: src.rfind(".")], ctr, md))
            if bits is not None:
                sender.searched |= bits
                return None
        lladdr = lladdr_of(advert.src_mac)
        candidates = self._candidates(vhid, vlan, family) if known else ()
        tried = sender.tried
        for vips_from, addrs, legacy in candidates:
            layouts = message_layouts(vhid, addrs, lladdr, legacy)
            one_v4 = len(addrs) == 1 and addrs[0].family == 4
            for index, key in enumerate(self._keylist):
                for lay in layouts:
                    token = hash((index, lay.prefix))
                    if token in tried:
                        continue
                    if not self._spend(1, advert, sender):
                        return None
                    if len(tried) < _TRIED_MAX:
                        tried.add(token)
                    h = HMAC(key.key, _SHA1)
                    h.update(lay.prefix + ctr)
                    if compare_digest(h.finalize(), md):
                        ctx = HMAC(key.key, _SHA1)
                        ctx.update(lay.prefix)
                        return Signer(ctx, advert.src_mac if lay.lladdr else None, key,
                                       lay.variant, lay.vips, one_v4, vips_from)
        net = slash24(advert.src) if family == 4 else None
        if net is not None:
            found = self._search(advert, vhid, net, lladdr, ctr, md, sender)
            if not known and found is None and sender.searched == self._all_keys:
                self._missed_all(advert, vhid, net, lladdr, ctr, md)
            return found
        return None

    def _missed_all(self, advert: CarpAdvert, vhid: int, net: bytes, lladdr: bytes | None, ctr, md) -> None:
        """Remember for `_find` that every key's /24 search of this header missed (all in `_missed`)."""
        last = HEAD + (lladdr or b"") + _OCTETS[vhid] + net
        if all((index, last, ctr, md) in self._missed for index in range(len(self._keylist))):
            if len(self._missed24) >= _SENDERS_MAX:
                self._missed24.clear()
            src = advert.src
            self._missed24[(vhid, advert.src_mac, src[: src.rfind(".")], ctr, md)] = self._all_keys

    def _search(self, advert, vhid, net, lladdr, ctr, md, sender: _Sender) -> Signer | None:
        """One VIP anywhere in the sender's /24 (ucarp, single-VIP CARP): 256 HMACs a key, once per key."""
        last = head = HEAD + _OCTETS[vhid] + net
        if lladdr is not None:
            last = HEAD + lladdr + _OCTETS[vhid] + net
        heads = None  # built only when a search runs: forged senders of one /24 skip it (`_missed`)
        for index, key in enumerate(self._keylist):
            bit = 1 << index
            if sender.searched & bit:
                continue
            # The same messages and md as a search that failed before (forged senders of one /24
            # sending one header): the same HMACs, so the same miss, without spending (issue 20).
            done = (index, last, ctr, md)
            if done in self._missed:
                sender.searched |= bit
                continue
            if heads is None:
                heads = [(SORTED, head)] if lladdr is None else [(SORTED, head), (OPENBSD_LLADDR, last)]
            if not self._spend(256 * len(heads), advert, sender):
                return None
            sender.searched |= bit
            tails = self._tails
            if tails[0][1:] != ctr:  # the last 9 bytes of each candidate: one list while the counter stays
                tails = self._tails = [octet + ctr for octet in _OCTETS]
            inner, outer = self._pads[index]
            for variant, head in heads:
                base = inner.copy()
                base.update(head)
                copy_inner, copy_outer = base.copy, outer.copy
                for i, tail in enumerate(tails):
                    h = copy_inner()
                    h.update(tail)
                    o = copy_outer()
                    o.update(h.digest())
                    if o.digest() == md:
                        ctx = HMAC(key.key, _SHA1)
                        ctx.update(head + bytes((i,)))
                        text = str(ipaddress.IPv4Address(net + bytes((i,))))
                        return Signer(ctx, advert.src_mac if variant == OPENBSD_LLADDR else None, key,
                                       variant, (text,), True, "searched")
            if len(self._missed) >= _SENDERS_MAX:
                self._missed.clear()
                self._missed24.clear()  # (what it said is no longer all in _missed)
            self._missed.add(done)
        return None

    def _candidates(self, vhid: int, vlan, family: int) -> list[tuple[str, tuple[Addr, ...], bool]]:
        """(vips_from, VIP set, try the legacy order) in the order they are tried, distinct sets only.

        The same for every sender of a group until a claim or a verified configuration is new.
        """
        ckey = (vhid, vlan, family)
        cached = self._sets_cache.get(ckey)
        if cached is not None and cached[0] == (self._vips.epoch, self._version):
            return cached[1]
        if len(self._sets_cache) >= _SENDERS_MAX:
            self._sets_cache.clear()
        unique = self._collect(vhid, vlan, family)
        self._sets_cache[ckey] = ((self._vips.epoch, self._version), unique)
        return unique

    def _collect(self, vhid: int, vlan, family: int) -> list[tuple[str, tuple[Addr, ...], bool]]:
        given = self._vips.given_sets(vhid, family)
        inferred = self._vips.inferred_sets(vhid, vlan, family)
        if not given and not inferred and not self._good.get((vhid, vlan)):
            return []  # nothing known for this group (a new group of a forged segment): no set to try
        out = [("given", s, True) for s in given]
        if given and inferred:  # given and claimed together: a dual-stack set given one family only
            both = {a.hashed: a for a in given[0] + inferred[0]}
            out += [("inferred", s, False) for s in vip_sets(tuple(both.values()), family, False)]
        for cfg in self._good.get((vhid, vlan), ()):  # what another member verified with
            addrs = tuple(a for a in map(parse_addr, cfg.vips) if a is not None)
            out.append((cfg.vips_from, addrs, False))
        out += [("inferred", s, False) for s in inferred]
        seen: set[frozenset] = set()
        unique = []
        for vips_from, addrs, legacy in out:
            k = frozenset(a.hashed for a in addrs)
            if addrs and k not in seen:
                seen.add(k)
                unique.append((vips_from, addrs, legacy))
        return unique

    def _failure(self, advert: CarpAdvert, sender: _Sender) -> Verdict:
        """'bad' only against a known VIP set, else 'unverified' with its reason; never a passphrase."""
        if not self._keys.given:
            return UNVERIFIED
        vhid, vlan = advert.vhid, advert.vlan
        net = slash24(advert.src) if advert.family == 4 else None
        if not sender.complete:
            return Verdict("unverified", hmac_hint="the signature search budget of this capture is spent; give --vip",
                           hmac_reason=BUDGET_SPENT)
        group = self._good.get((vhid, vlan))
        if group:
            cfg = group[0]
            hint = (f"other adverts of vhid {vhid} verify with {_who(cfg.position)} and VIPs "
                    f"{', '.join(cfg.vips) or 'none'}: this sender has another passphrase or VIP set")
            return Verdict("bad", hmac_hint=hint)
        known = bool(self._vips.known(vhid, vlan) or self._good.get((vhid, vlan)))
        # The same for every sender of a /24 (a forged flood): each verdict is worded once.
        fkey = (vhid, net, known)
        failed = self._failures.get(fkey)
        if failed is None:
            if len(self._failures) >= _SENDERS_MAX:
                self._failures.clear()
            failed = self._failures[fkey] = _worded(vhid, net, known)
        return failed


def _worded(vhid: int, net: bytes | None, known: bool) -> Verdict:
    """A failure against no verified configuration of the group: "bad" when its VIP set is known."""
    searched = (f", nor with any single address of {ipaddress.IPv4Address(net + bytes(1))}/24"
                if net is not None else " (IPv6 adverts are not searched)")
    if known:
        hint = (f"no given passphrase verifies with the given or claimed VIPs{searched}: "
                f"wrong passphrase, or other VIPs than those given (--vip)")
        return Verdict("bad", hmac_hint=hint)
    hint = (f"no given passphrase verifies with a VIP set carpscope could find{searched}, and the VIP set "
            f"of vhid {vhid} is unknown (not given, not claimed from its virtual MAC): give --vip {vhid}=ADDR, "
            f"or capture ARP and ICMPv6 too")
    return Verdict("unverified", hmac_hint=hint, hmac_reason=VIPS_UNKNOWN)
