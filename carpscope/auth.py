"""CARP HMAC-SHA1 verification: which passphrase, which VIP set, which stack.

The md field is plain RFC 2104 HMAC-SHA1 (PROTOCOL.md §2.1) over
``02 01 [lladdr] vhid VIPv4… VIPv6… counter``. The VIPs are not in the advert, so
they come from the user (--vip), from address claims (gratuitous ARP / unsolicited
NA, §2.1) or, for IPv4, from a search over the sender's /24. A failure is "bad"
only against a known VIP set, else "unverified" with its reason (§9.7). Pure: no
I/O, no clock.
"""

from __future__ import annotations

import ipaddress
import operator
from collections.abc import Mapping, Sequence
from hmac import compare_digest
from types import MappingProxyType
from typing import NamedTuple

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.hmac import HMAC

from carpscope import findings as kinds
from carpscope.model import AddressClaim, CarpAdvert, Copier, Finding, Severity

# §2.1: version and type are hashed as the constants CARP_VERSION, CARP_ADVERTISEMENT.
_HEAD = b"\x02\x01"
_BSD_KEY = 19  # strlcpy(carpr_key, P, CARP_KEY_LEN=20) keeps 19 bytes + NUL (§2.2)
_RAW_KEY = 20  # netlink CARP_NL_KEY: up to 20 raw bytes (§2.2, FBSD-c)
_MD_LEN = 20
_COUNTER_MAX = (1 << 64) - 1
# §1.4: kernel CARP virtual MAC (FreeBSD/OpenBSD/NetBSD/DragonFly), OpenBSD balancing
# leader (§4.7), ucarp's advert source. OpenBSD adds the lladdr only for other MACs (§2.4).
_VIRTUAL_MACS = ("00:00:5e:00:01:", "01:00:5e:00:01:")
_UCARP_MAC = "00:00:5e:00:00:"
_NO_LLADDR = ("00:00:5e:00:01:", "00:00:5e:00:00:")

_CACHE_MAX = 4096  # verdicts per cache generation (two generations kept)
_CLAIMS_MAX = 512  # addresses remembered per VLAN
VLANS_MAX = 4096  # VLANs (or QinQ pairs) whose claims are remembered; the oldest is forgotten (issue 20)
_GOOD_MAX = 8  # verified configurations remembered per group
_SENDERS_MAX = 4096  # senders whose failed searches are remembered
_SINGLES_MAX = 64  # latest claimed addresses also tried one by one
_SET_MAX = 64  # a claimed VIP set holds a vhid's latest 64 claimed addresses at most
_TRIED_MAX = 4096  # (key, message) pairs remembered per sender
# Issue 20: HMACs the searches of one capture may compute (the checks of configurations
# that verified are not counted); about 0.5 s of CPU. Spent: later unknown senders
# stay unverified, and a finding says so once.
SEARCH_BUDGET = 200_000

_SHA1 = hashes.SHA1()
# What verify() sets on an advert, in the order verdict() returns the values.
RESULT_FIELDS = ("hmac", "hmac_variant", "passphrase", "vips", "vips_from", "hmac_hint", "key_form", "hmac_reason")
# Reasons for "unverified" (hmac_reason), PROTOCOL.md §9.7.
NO_PASSPHRASE, VIPS_UNKNOWN, BUDGET_SPENT = "no-passphrase", "vips-unknown", "budget-spent"
_UNVERIFIED = ("unverified", None, None, None, None, None, None, NO_PASSPHRASE)

# Key forms (key_form): how a passphrase became the key that verified (§2.2, §9.1).
PLAIN = None  # the passphrase up to its first NUL, cut to 19 bytes (ifconfig, ucarp)
NETLINK = "netlink-20"  # its first 20 raw bytes (FreeBSD netlink CARP_NL_KEY)
GUI = "pfsense-gui"  # pfSense/OPNsense: spaces removed, ' " \ NUL backslash-escaped, then cut
STALE = "stale-tail"  # a shorter pass set over an older one: new[:19] NUL old-tail (§2.2)

# Variant names (hmac_variant): the message layout that verified, a stack fingerprint.
SORTED = "sorted"  # FreeBSD/NetBSD/pfSense/OPNsense ≡ OpenBSD HMAC_ORIG (§2.3)
UCARP = "ucarp"  # SORTED with one IPv4 VIP, sent from 00:00:5e:00:00:vhid (§1.4)
OPENBSD_NOV6LL = "openbsd-nov6ll"  # OpenBSD send context: IPv6 link-local dropped
OPENBSD_LLADDR = "openbsd-lladdr"  # OpenBSD manual lladdr after 02 01, NOV6LL
OPENBSD_LLADDR_V6LL = "openbsd-lladdr-v6ll"  # the same with link-local kept (HMAC_ORIG)
LEGACY_UNSORTED = "legacy-unsorted"  # FreeBSD 6/7, DragonFly v6: interface (given) order
VARIANTS = (SORTED, UCARP, OPENBSD_NOV6LL, OPENBSD_LLADDR, OPENBSD_LLADDR_V6LL, LEGACY_UNSORTED)


class _Key(NamedTuple):
    position: int  # 1-based passphrase position; 0 = the empty key
    key: bytes  # trailing NULs stripped (they do not change an HMAC, §2.1)
    form: str | None  # PLAIN, NETLINK, GUI or STALE
    old: int | None  # STALE: the position of the passphrase whose tail is left


def gui_form(phrase: bytes) -> bytes:
    """pfSense/OPNsense: escapeshellarg(addslashes(str_replace(" ", "", pw))) (PROTOCOL.md §9.1).

    PHP's addslashes writes a NUL as backslash and the digit 0.
    """
    out = phrase.replace(b" ", b"")
    out = out.replace(b"\\", b"\\\\").replace(b"'", b"\\'").replace(b'"', b'\\"')
    return out.replace(b"\0", b"\\0")


def _bsd(phrase: bytes) -> bytes:
    """strlcpy(key, P, 20): up to the first NUL, at most 19 bytes (§2.2)."""
    return phrase.split(b"\0", 1)[0][:_BSD_KEY]


def _stale(new: bytes, old: bytes) -> bytes:
    """ifconfig pass NEW over a key OLD: NEW's 19 bytes, a NUL, then what OLD left (§2.2)."""
    cut = _bsd(new)
    tail = _bsd(old).ljust(_RAW_KEY, b"\0")[len(cut) + 1:]
    return (cut + b"\0" + tail).rstrip(b"\0")


class Keyring:
    """HMAC keys derived from the passphrases (§2.2, §9.1); never shows them.

    Per passphrase: its first 19 bytes up to a NUL (BSD ifconfig, ucarp), when longer
    its first 20 raw bytes (netlink), its pfSense/OPNsense GUI form; then, for every
    two passphrases, the key a pass change from one to the other leaves behind on
    OpenBSD/FreeBSD (new, NUL, the old key's tail). The empty key (no passphrase, 20
    zero bytes) is always last, as position 0. Keys are kept stripped and de-duplicated.
    """

    __slots__ = ("_keys", "_long", "_count")

    def __init__(self, passphrases: Sequence[bytes]) -> None:
        phrases = []
        for position, phrase in enumerate(passphrases, 1):
            if isinstance(phrase, str):
                phrase = phrase.encode()
            if not isinstance(phrase, (bytes, bytearray)):
                raise TypeError(f"passphrase {position} must be bytes")
            phrases.append(bytes(phrase))
        keys: list[_Key] = []
        seen = {b""}

        def add(position: int, key: bytes, form: str | None, old: int | None = None) -> None:
            key = key.rstrip(b"\0")
            if key not in seen:
                seen.add(key)
                keys.append(_Key(position, key, form, old))

        for position, phrase in enumerate(phrases, 1):
            add(position, _bsd(phrase), PLAIN)
            if len(phrase) > _BSD_KEY:
                add(position, phrase[:_RAW_KEY], NETLINK)
            add(position, _bsd(gui_form(phrase)), GUI)
        for position, new in enumerate(phrases, 1):
            for old_position, old in enumerate(phrases, 1):
                if old_position != position:
                    add(position, _stale(new, old), STALE, old_position)
        keys.append(_Key(0, b"", PLAIN, None))
        self._keys = tuple(keys)
        self._long = tuple(p for p, phrase in enumerate(phrases, 1) if len(phrase) > _BSD_KEY)
        self._count = len(phrases)

    def __iter__(self):
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def given(self) -> int:
        """How many passphrases the user gave (0: nothing can be 'bad')."""
        return self._count

    @property
    def long(self) -> tuple[int, ...]:
        """1-based positions of passphrases longer than the 19 bytes routers keep."""
        return self._long

    def __repr__(self) -> str:
        return f"<Keyring: {self._count} passphrase(s), hidden>"

    __str__ = __repr__


class _Addr(NamedTuple):
    """A VIP as the HMAC sees it: link-local IPv6 gets bytes 2–3 zeroed (§2.3)."""

    family: int
    text: str
    packed: bytes
    hashed: bytes
    ll: bool


def _addr(value: object) -> _Addr | None:
    try:
        ip = ipaddress.ip_address(str(value).strip())
    except ValueError:
        return None
    packed = ip.packed
    if ip.version == 6 and ip.is_link_local:
        return _Addr(6, str(ip), packed, packed[:2] + b"\0\0" + packed[4:], True)
    return _Addr(ip.version, str(ip), packed, packed, False)


class _Claimed(NamedTuple):
    addr: _Addr
    vhid: int | None  # from a virtual MAC 00:00:5e:00:01:<vhid>, else None


class _Config:
    """One way adverts verify: key, VIP set and layout, with the constant prefix hashed.

    `ctx` has everything before the counter fed, so a check is copy + 8 bytes.
    """

    __slots__ = ("ctx", "mac", "position", "variant", "vips", "vips_from", "form", "hint", "_one_v4",
                 "_values", "_ucarp")

    def __init__(self, ctx: HMAC, mac: str | None, key: _Key, variant: str,
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
        self._values = ("ok", self.variant, self.position, self.vips, vips_from, self.hint, self.form, None)
        self._ucarp = (("ok", UCARP, self.position, self.vips, vips_from, self.hint, self.form, None)
                       if self._one_v4 else None)

    def matches(self, ctr: bytes, md: bytes, mac: str | None) -> bool:
        if self.mac is not None and self.mac != mac:
            return False
        h = self.ctx.copy()
        h.update(ctr)
        return compare_digest(h.finalize(), md)

    def signs(self, ctr: bytes, md: bytes, mac: str | None) -> tuple | None:
        """The verification result of an advert from `mac` with this counter and md, if this signed it."""
        return self.result(mac) if self.matches(ctr, md, mac) else None

    def result(self, mac: str | None) -> tuple:
        if self._ucarp is not None and mac is not None and mac.startswith(_UCARP_MAC):
            return self._ucarp
        return self._values


class _Miss(NamedTuple):
    """A negative outcome, valid while neither the claims nor the known configs change."""

    epoch: int
    version: int
    values: tuple


class _Sender:
    """What was already tried for one sender of one group: each search runs once (issue 20).

    A (key, message) pair that failed for one advert fails for every advert of the
    same sender, whatever its counter; the /24 search covers every single address,
    so it is run once per key. New claims only add messages not tried yet.
    """

    __slots__ = ("tried", "searched", "miss", "complete")

    def __init__(self) -> None:
        self.tried: set[int] = set()  # hash((key index, message prefix))
        self.searched: set[int] = set()  # key indexes whose /24 search ran
        self.miss: _Miss | None = None
        self.complete = True  # False: the budget ran out before everything was tried


class _Layout(NamedTuple):
    variant: str
    prefix: bytes
    vips: tuple[str, ...]
    lladdr: bool


def _layouts(vhid: int, addrs: Sequence[_Addr], lladdr: bytes | None, legacy: bool) -> list[_Layout]:
    """Candidate messages (minus counter) for one VIP set (§2.3, §2.4), distinct bytes only."""
    v4 = sorted({a.packed: a for a in addrs if a.family == 4}.items())
    v6 = sorted({a.hashed: a for a in addrs if a.family == 6}.items())
    v6_noll = [(h, a) for h, a in v6 if not a.ll]
    vips = tuple(a.text for _, a in v4 + v6)
    vh = bytes((vhid,))
    s4 = b"".join(h for h, _ in v4)
    orig = s4 + b"".join(h for h, _ in v6)
    noll = s4 + b"".join(h for h, _ in v6_noll)
    out = [_Layout(SORTED, _HEAD + vh + orig, vips, False)]
    if noll != orig:
        out.append(_Layout(OPENBSD_NOV6LL, _HEAD + vh + noll, vips, False))
    if lladdr is not None:
        out.append(_Layout(OPENBSD_LLADDR, _HEAD + lladdr + vh + noll, vips, True))
        if noll != orig:
            out.append(_Layout(OPENBSD_LLADDR_V6LL, _HEAD + lladdr + vh + orig, vips, True))
    if legacy and len(addrs) > 1:
        # FreeBSD 6/7 hashed v4 then v6 in interface order (FBSD-c @01399f34).
        order4 = list(dict.fromkeys(a.packed for a in addrs if a.family == 4))
        order6 = list(dict.fromkeys(a.hashed for a in addrs if a.family == 6))
        body = b"".join(order4 + order6)
        if body != orig:
            texts = tuple(dict.fromkeys([a.text for a in addrs if a.family == 4]
                                        + [a.text for a in addrs if a.family == 6]))
            out.append(_Layout(LEGACY_UNSORTED, _HEAD + vh + body, texts, False))
    return out


def _lladdr(mac: str | None) -> bytes | None:
    """The source MAC as OpenBSD would hash it, unless it is a virtual one (§2.4)."""
    if mac is None or mac.startswith(_NO_LLADDR):
        return None
    try:
        raw = bytes.fromhex(mac.replace(":", ""))
    except ValueError:
        return None
    return raw if len(raw) == 6 else None


def _sets(addrs: Sequence[_Addr], family: int, singles: bool) -> list[tuple[_Addr, ...]]:
    """Whole set (both families, §2.1), the advert's family alone, then each address."""
    out = [tuple(addrs), tuple(a for a in addrs if a.family == family)]
    if singles:
        out += [(a,) for a in addrs]
    return [s for s in out if s]


def _dedupe(sets: list[tuple[_Addr, ...]]) -> list[tuple[_Addr, ...]]:
    seen: set[frozenset] = set()
    out = []
    for s in sets:
        k = frozenset(a.hashed for a in s)
        if k not in seen:
            seen.add(k)
            out.append(s)
    return out


_GET_RESULT = operator.attrgetter(*RESULT_FIELDS)
_COPY_RESULT = Copier(CarpAdvert, RESULT_FIELDS)


def _with_result(advert: CarpAdvert, values: tuple) -> CarpAdvert:
    """The advert with hmac, …, hmac_hint set from `values` (in RESULT_FIELDS order)."""
    if _GET_RESULT(advert) == values:
        return advert
    return _COPY_RESULT(advert, values)


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
    failure is `unverified` with its reason (PROTOCOL.md §9.7).
    """

    def __init__(self, passphrases: Sequence[bytes],
                 vips: Mapping[int | None, Sequence[str]] = MappingProxyType({}),
                 budget: int = SEARCH_BUDGET) -> None:
        self._keys = Keyring(passphrases)
        given: dict[int | None, tuple[_Addr, ...]] = {}
        for vhid, addrs in vips.items():
            parsed = []
            for text in addrs:
                a = _addr(text)
                if a is None:
                    raise ValueError(f"--vip: {text!r} is not an IP address")
                parsed.append(a)
            given[vhid] = tuple(parsed)
        self._given = given
        self._claims: dict[tuple[int, ...], dict[str, _Claimed]] = {}
        self.forgotten = 0  # VLANs whose claims were forgotten for VLANS_MAX: the pipeline reports it
        self._epoch = 0  # bumped when a new address is claimed
        self._good: dict[tuple[int, tuple[int, ...]], list[_Config]] = {}
        self._version = 0  # bumped when a new configuration verifies, or the budget runs out
        self._sender: dict[tuple, _Config] = {}
        self._senders: dict[tuple, _Sender] = {}
        self._sets_cache: dict[tuple, tuple] = {}  # (vhid, vlan, family) -> ((epoch, version), candidates)
        self._recent: dict[tuple, object] = {}
        self._older: dict[tuple, object] = {}
        self._budget = budget
        self._notes: list[Finding] = []
        self._spent_at: CarpAdvert | None = None

    def __repr__(self) -> str:
        vips = sum(len(v) for v in self._given.values())
        return (f"<Verifier: {self._keys.given} passphrase(s) hidden, {vips} given VIP(s), "
                f"{sum(len(t) for t in self._claims.values())} claimed, {len(self._good)} group(s) verified>")

    __str__ = __repr__

    def long_passphrases(self) -> tuple[int, ...]:
        """Positions of passphrases over 19 bytes: BSD ifconfig and ucarp keep 19 (§2.2)."""
        return self._keys.long

    def notes(self) -> list[Finding]:
        """Findings about the verification itself (the budget ran out), each given once."""
        out, self._notes = self._notes, []
        return out

    # -- learning ---------------------------------------------------------------

    def learn(self, claim: AddressClaim) -> None:
        """Remember a claimed address as a candidate VIP of its VLAN (§2.1, §4.2, §9.5).

        A claim from 00:00:5e:00:01:<vhid> names its vhid; one from
        01:00:5e:00:01:<vhid> (OpenBSD balancing leader) names its carp interface's
        address list, which every vhid of that interface hashes.
        """
        mac = (claim.mac or "").lower()
        vhid = int(mac[-2:], 16) if mac.startswith(_VIRTUAL_MACS) and len(mac) == 17 else None
        table = self._claims.get(claim.vlan)
        if table is None:
            if len(self._claims) >= VLANS_MAX:
                del self._claims[next(iter(self._claims))]
                self.forgotten += 1
            table = self._claims[claim.vlan] = {}
        old = table.get(claim.addr)  # masters repeat their claims: the usual case, no parsing
        if old is not None and (vhid is None or old.vhid == vhid):
            return
        a = _addr(claim.addr)
        if a is None or a.packed == bytes(len(a.packed)) or ipaddress.ip_address(a.text).is_multicast:
            return
        old = table.get(a.text)
        if old is not None and (vhid is None or old.vhid == vhid):
            return
        if old is None and len(table) >= _CLAIMS_MAX:
            del table[next(iter(table))]
        table[a.text] = _Claimed(a, vhid)
        self._epoch += 1
        if a.family == 4:
            for (_, vlan), group in self._good.items():
                if vlan == claim.vlan:
                    for cfg in group:
                        if cfg.vips_from == "searched" and cfg.vips == (a.text,):
                            cfg.relabel("inferred")

    # -- verifying --------------------------------------------------------------

    def verify(self, advert: CarpAdvert) -> CarpAdvert:
        """The advert with hmac, hmac_variant, passphrase, vips, vips_from, hmac_hint … set."""
        values = self.verdict(advert, advert.counter, advert.md)
        return advert if values is None else _with_result(advert, values)

    def signer(self, advert: CarpAdvert) -> _Config | None:
        """How a verified advert was signed: its repeats are checked with `signs`, one HMAC each."""
        if advert.hmac != "ok":
            return None
        return self._sender.get((advert.vhid, advert.vlan, advert.src))

    def verdict(self, advert: CarpAdvert, counter: int | None, md: bytes | None) -> tuple | None:
        """The verification result (in RESULT_FIELDS order) of `advert` sent with this counter and md.

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
        mine = self._sender.get((vhid, vlan, src))
        if mine is not None and mine.matches(ctr, md, mac):
            return mine.result(mac)  # the usual case: signed as its sender's last advert
        ckey = (vhid, vlan, advert.family, ctr, md, mac, src)
        hit = self._recent.get(ckey)
        if hit is None:
            hit = self._older.get(ckey)
            if hit is not None:
                self._remember(ckey, hit)
        if hit is not None:
            if hit.__class__ is _Config:
                return hit.result(mac)
            if hit.epoch == self._epoch and hit.version == self._version:
                return hit.values

        cfg = self._others(vhid, vlan, src, ctr, md, mac, mine)
        if cfg is None:
            if mine is not None:  # it verified before: its pass or VIPs changed, what failed may now match
                del self._sender[(vhid, vlan, src)]
                self._senders.pop((vhid, vlan, advert.family, src), None)
            cfg, values = self._unknown(advert, ctr, md)
            if cfg is None:
                self._remember(ckey, _Miss(self._epoch, self._version, values))
                return values
        self._remember(ckey, cfg)
        return cfg.result(mac)

    def _others(self, vhid, vlan, src, ctr, md, mac, mine: _Config | None) -> _Config | None:
        """The group's configurations other than the sender's last one."""
        for cfg in self._good.get((vhid, vlan), ()):
            if cfg is not mine and cfg.matches(ctr, md, mac):
                self._signed_by((vhid, vlan, src), cfg)
                return cfg
        return None

    def _unknown(self, advert: CarpAdvert, ctr: bytes, md: bytes) -> tuple[_Config | None, tuple]:
        """Search what this sender was not tried with yet; else its failure, judged anew."""
        vhid, vlan = advert.vhid, advert.vlan
        skey = (vhid, vlan, advert.family, advert.src)
        sender = self._senders.get(skey)
        if sender is None:
            if len(self._senders) >= _SENDERS_MAX:
                self._senders.clear()
            sender = self._senders[skey] = _Sender()
        miss = sender.miss
        if miss is not None and miss.epoch == self._epoch and miss.version == self._version:
            return None, miss.values
        cfg = self._find(advert, ctr, md, sender)
        if cfg is not None:
            group = self._good.setdefault((vhid, vlan), [])
            group.insert(0, cfg)
            del group[_GOOD_MAX:]
            self._version += 1
            self._signed_by((vhid, vlan, advert.src), cfg)
            sender.miss = None
            return cfg, cfg.result(advert.src_mac)
        values = self._failure(advert, sender)
        sender.miss = _Miss(self._epoch, self._version, values)
        return None, values

    def _signed_by(self, sender: tuple, cfg: _Config) -> None:
        """Remember how a sender signs (bounded: forged sources may be many)."""
        if sender not in self._sender and len(self._sender) >= _SENDERS_MAX:
            self._sender.clear()
        self._sender[sender] = cfg

    def _remember(self, key: tuple, value: object) -> None:
        recent = self._recent
        if len(recent) >= _CACHE_MAX:
            self._older = recent
            self._recent = recent = {}
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
            self._notes.append(Finding(
                kinds.SIGNATURE_BUDGET, Severity.WARNING,
                f"carpscope stopped searching for the passphrase and VIP set of new senders at {advert.src} "
                f"(vhid {advert.vhid}): the search budget of {SEARCH_BUDGET} HMACs for one capture is spent, "
                f"so adverts of senders not verified by then stay unverified; give the VIPs with --vip "
                f"(nothing then needs searching)", advert.frame, advert.time, "carp", advert.vhid,
                advert.family, tuple(advert.vlan)))
        return False

    def _find(self, advert: CarpAdvert, ctr: bytes, md: bytes, sender: _Sender) -> _Config | None:
        """Known VIP sets not tried yet for this sender, then (IPv4) one address of its /24 (§2.4)."""
        vhid, family = advert.vhid, advert.family
        lladdr = _lladdr(advert.src_mac)
        tried = sender.tried
        for vips_from, addrs, legacy in self._candidates(vhid, advert.vlan, family):
            layouts = _layouts(vhid, addrs, lladdr, legacy)
            one_v4 = len(addrs) == 1 and addrs[0].family == 4
            for index, key in enumerate(self._keys):
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
                        return _Config(ctx, advert.src_mac if lay.lladdr else None, key,
                                       lay.variant, lay.vips, one_v4, vips_from)
        net = _slash24(advert.src) if family == 4 else None
        if net is not None:
            return self._search(advert, vhid, net, lladdr, ctr, md, sender)
        return None

    def _search(self, advert, vhid, net, lladdr, ctr, md, sender: _Sender) -> _Config | None:
        """One VIP anywhere in the sender's /24 (ucarp, single-VIP CARP): 256 HMACs a key, once per key."""
        mac = advert.src_mac
        tails = [bytes((i,)) + ctr for i in range(256)]
        heads = [(SORTED, _HEAD + bytes((vhid,)) + net)]
        if lladdr is not None:
            heads.append((OPENBSD_LLADDR, _HEAD + lladdr + bytes((vhid,)) + net))
        for index, key in enumerate(self._keys):
            if index in sender.searched:
                continue
            if not self._spend(256 * len(heads), advert, sender):
                return None
            sender.searched.add(index)
            for variant, head in heads:
                base = HMAC(key.key, _SHA1)
                base.update(head)
                for i, tail in enumerate(tails):
                    h = base.copy()
                    h.update(tail)
                    if compare_digest(h.finalize(), md):
                        ctx = HMAC(key.key, _SHA1)
                        ctx.update(head + bytes((i,)))
                        text = str(ipaddress.IPv4Address(net + bytes((i,))))
                        return _Config(ctx, mac if variant == OPENBSD_LLADDR else None, key,
                                       variant, (text,), True, "searched")
        return None

    def _candidates(self, vhid: int, vlan, family: int) -> list[tuple[str, tuple[_Addr, ...], bool]]:
        """(vips_from, VIP set, try the legacy order) in the order they are tried, distinct sets only.

        The same for every sender of a group until a claim or a verified configuration is new.
        """
        ckey = (vhid, vlan, family)
        cached = self._sets_cache.get(ckey)
        if cached is not None and cached[0] == (self._epoch, self._version):
            return cached[1]
        if len(self._sets_cache) >= _SENDERS_MAX:
            self._sets_cache.clear()
        unique = self._collect(vhid, vlan, family)
        self._sets_cache[ckey] = ((self._epoch, self._version), unique)
        return unique

    def _collect(self, vhid: int, vlan, family: int) -> list[tuple[str, tuple[_Addr, ...], bool]]:
        given = self._given_sets(vhid, family)
        inferred = self._inferred_sets(vhid, vlan, family)
        out = [("given", s, True) for s in given]
        if given and inferred:  # given and claimed together: a dual-stack set given one family only
            both = {a.hashed: a for a in given[0] + inferred[0]}
            out += [("inferred", s, False) for s in _sets(tuple(both.values()), family, False)]
        for cfg in self._good.get((vhid, vlan), ()):  # what another member verified with
            addrs = tuple(a for a in map(_addr, cfg.vips) if a is not None)
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

    def _given_sets(self, vhid: int, family: int) -> list[tuple[_Addr, ...]]:
        common, own = self._given.get(None, ()), self._given.get(vhid, ())
        union = tuple({a.hashed: a for a in common + own}.values())
        if not union:
            return []
        return _dedupe(_sets(union, family, True) + _sets(own, family, False))

    def _inferred_sets(self, vhid: int, vlan, family: int) -> list[tuple[_Addr, ...]]:
        """Claims of this vhid, then with unattributed ones, then each other vhid's (§9.5 balancing)."""
        table = self._claims.get(vlan)
        if not table:
            return []
        own = [c.addr for c in table.values() if c.vhid == vhid][-_SET_MAX:]
        free = [c.addr for c in table.values() if c.vhid is None or c.vhid == vhid][-_SET_MAX:]
        sets = _sets(own, family, False) + _sets(free, family, False) + [(a,) for a in free[-_SINGLES_MAX:]]
        others: dict[int, list[_Addr]] = {}
        for c in table.values():
            if c.vhid is not None and c.vhid != vhid:
                others.setdefault(c.vhid, []).append(c.addr)
        for addrs in others.values():
            sets += _sets(addrs[-_SET_MAX:], family, False)
        return _dedupe(sets)

    def _known(self, vhid: int, vlan) -> bool:
        """Is the vhid's VIP set known: given, claimed from its virtual MAC, or verified (§9.7)?"""
        if self._given.get(None) or self._given.get(vhid) or self._good.get((vhid, vlan)):
            return True
        table = self._claims.get(vlan)
        return bool(table) and any(c.vhid == vhid for c in table.values())

    def _failure(self, advert: CarpAdvert, sender: _Sender) -> tuple:
        """'bad' only against a known VIP set, else 'unverified' with its reason; never a passphrase."""
        vhid, vlan = advert.vhid, advert.vlan
        net = _slash24(advert.src) if advert.family == 4 else None
        if not self._keys.given:
            return _UNVERIFIED
        if not sender.complete:
            return ("unverified", None, None, None, None,
                    "the signature search budget of this capture is spent; give --vip", None, BUDGET_SPENT)
        group = self._good.get((vhid, vlan))
        if group:
            cfg = group[0]
            hint = (f"other adverts of vhid {vhid} verify with {_who(cfg.position)} and VIPs "
                    f"{', '.join(cfg.vips) or 'none'}: this sender has another passphrase or VIP set")
            return ("bad", None, None, None, None, hint, None, None)
        searched = (f", nor with any single address of {ipaddress.IPv4Address(net + bytes(1))}/24"
                    if net is not None else " (IPv6 adverts are not searched)")
        if self._known(vhid, vlan):
            hint = (f"no given passphrase verifies with the given or claimed VIPs{searched}: "
                    f"wrong passphrase, or other VIPs than those given (--vip)")
            return ("bad", None, None, None, None, hint, None, None)
        hint = (f"no given passphrase verifies with a VIP set carpscope could find{searched}, and the VIP set "
                f"of vhid {vhid} is unknown (not given, not claimed from its virtual MAC): give --vip {vhid}=ADDR, "
                f"or capture ARP and ICMPv6 too")
        return ("unverified", None, None, None, None, hint, None, VIPS_UNKNOWN)


def _slash24(src: str) -> bytes | None:
    try:
        return ipaddress.IPv4Address(src).packed[:3]
    except ValueError:
        return None
