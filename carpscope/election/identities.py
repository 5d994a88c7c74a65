"""Who signs a group with what: key and VIP findings, and groups that share an id.

hmac-failed and vips-unknown come from an advert's signature verdict (`signed`);
no-passphrase, stale-key and gui-passphrase come from one verified advert;
vhid-collision, passphrase-mismatch and vip-mismatch from what the members
verified with; vrrp-collision from two groups of different protocols on one id
(docs/protocol.md §5.3).
"""

from __future__ import annotations

from types import MappingProxyType

from carpscope import findings as k
from carpscope.election.members import Group, Source, by_first
from carpscope.model import CarpAdvert, Finding

_FORMS = MappingProxyType({"pfsense-gui": "pfSense/OPNsense", "stale-tail": "stale-tail",
                           "netlink-20": "20-byte netlink"})


def check(g: Group, r: CarpAdvert) -> list[Finding]:
    """What `r`, which just verified with a new passphrase, VIP set or key form, shows."""
    out = _key_form(g, r)
    if r.passphrase == 0:
        out += g.raise_(k.NO_PASSPHRASE, None, r,
                        f"CARP vhid {g.key.id} adverts verify with the empty key (no pass set): anyone on "
                        f"the segment can forge adverts and take the VIPs; set a pass on every member")
    ids = [m for m in sorted(g.members.values(), key=by_first) if m.passphrase is not None]
    if len(ids) < 2 or (k.VHID_COLLISION, None) in g.raised:
        return out
    collision = _vhid_collision(g, r, ids)
    if collision is not None:
        return out + collision
    if len({(m.passphrase, m.key_form) for m in ids}) > 1:
        listing = ", ".join(f"{m.addr} with {_position(m.passphrase)}{_form(m.key_form)}" for m in ids)
        out += g.raise_(k.PASSPHRASE_MISMATCH, None, r,
                        f"members verify with different passphrases: {listing}; each node drops the "
                        f"other's adverts and becomes master too: set the same pass "
                        f"on every member")
    elif len({m.vips for m in ids}) > 1:
        listing = ", ".join(f"{m.addr} [{', '.join(m.vips or ())}]" for m in ids)
        out += g.raise_(k.VIP_MISMATCH, None, r,
                        f"members sign different VIP sets: {listing}; the HMAC covers the VIPs, "
                        f"so each drops the other's adverts: configure the same "
                        f"addresses on vhid {g.key.id} on every member")
    return out


def signed(g: Group, m: Source, r: CarpAdvert) -> tuple[bool, list[Finding]]:
    """What `r`'s signature verdict changes: True when m's identity (key, VIPs, form) did."""
    m.bad_run = m.bad_run + 1 if r.hmac == "bad" else 0
    if m.bad_run == 1:
        m.first_bad = r
    if r.hmac == "ok":
        vips = tuple(sorted(r.vips or ()))
        identity = (m.passphrase, m.vips, m.key_form) != (r.passphrase, vips, r.key_form)
        m.passphrase, m.vips, m.vips_from, m.key_form = r.passphrase, vips, r.vips_from, r.key_form
        return identity, []
    if m.bad_run >= 2 and (k.HMAC_FAILED, m.addr) not in g.raised:
        hint = f" ({r.hmac_hint})" if r.hmac_hint else ""
        return False, g.raise_(k.HMAC_FAILED, m.addr, m.first_bad,
                               f"adverts from {m.addr} do not verify with any passphrase and VIP set "
                               f"tried{hint}: a node with another key or VIP set ignores its peers' "
                               f"adverts and becomes master as well; check the pass "
                               f"(19 characters at most) and the VIPs of vhid {g.key.id} on {m.addr}")
    if r.hmac_reason == k.VIPS_UNKNOWN and (k.VIPS_UNKNOWN, None) not in g.raised:
        # docs/protocol.md §9.7: no evidence against the passphrase, so no critical finding.
        return False, g.raise_(
            k.VIPS_UNKNOWN, None, r,
            f"adverts of vhid {g.key.id} (first from {m.addr}) could not be checked: no given passphrase "
            f"verifies with a VIP set carpscope could find, and the VIP set of vhid {g.key.id} is "
            f"unknown (no --vip, no ARP/NA claim from its virtual MAC in the capture). That is not "
            f"evidence of a wrong passphrase: give --vip {g.key.id}=ADDR (every VIP of the "
            f"vhid, both families), or capture ARP and ICMPv6 too, not only protocol 112")
    return False, []


def _key_form(g: Group, r: CarpAdvert) -> list[Finding]:
    """stale-key and gui-passphrase: the key verified only in another form (auth key forms)."""
    out: list[Finding] = []
    if r.key_form == "stale-tail" and (k.STALE_KEY, r.src) not in g.raised:
        out += g.raise_(k.STALE_KEY, r.src, r,
                        f"{r.src} signs vhid {g.key.id} with a stale key: {r.hmac_hint}. Its pass was "
                        f"changed from a longer one with ifconfig on OpenBSD/FreeBSD, which copies the new "
                        f"pass and a NUL over the old key and leaves the rest of the old key behind "
                        f"(docs/protocol.md §2.2); a node given the same pass afresh computes another key, so "
                        f"the two drop each other's adverts although their passwords match. Destroy and "
                        f"re-create the carp interface (FreeBSD: remove the vhid and add it again) "
                        f"and set the pass once")
    if r.key_form == "pfsense-gui" and (k.GUI_PASSPHRASE, r.src) not in g.raised:
        out += g.raise_(k.GUI_PASSPHRASE, r.src, r,
                        f"{r.src} verifies with passphrase {r.passphrase} matched in its pfSense/OPNsense "
                        f"form: the GUI removes spaces and escapes quotes and backslashes before it calls "
                        f"ifconfig (docs/protocol.md §9.1); a node configured with ifconfig or another tool must "
                        f"be given that form, or it drops this node's adverts")
    return out


def _vhid_collision(g: Group, r: CarpAdvert, ids: list) -> list[Finding] | None:
    """Two members verify with VIP sets that share no address: two unrelated clusters on one vhid.

    One cluster always protects the same addresses, so disjoint sets cannot be one
    cluster misconfigured. None when no two members are disjoint.
    """
    for i, a in enumerate(ids):
        b = next((b for b in ids[i + 1:] if a.vips and b.vips and not set(a.vips) & set(b.vips)), None)
        if b is not None:
            keys = (f" and different passphrases ({_position(a.passphrase)}, {_position(b.passphrase)})"
                    if a.passphrase != b.passphrase else "")
            return g.raise_(
                k.VHID_COLLISION, None, r,
                f"vhid {g.key.id} is used by two unrelated clusters: {a.addr} signs for {', '.join(a.vips)} "
                f"and {b.addr} for {', '.join(b.vips)}, with no address in common{keys}; each drops the "
                f"other's adverts and FreeBSD/OpenBSD nodes share the virtual MAC "
                f"00:00:5e:00:01:{g.key.id:02x}: give one cluster another vhid")
    return None


def collisions(g: Group, groups: dict, r) -> list[Finding]:
    """vrrp-collision: IPv4 VRRP vrid N and CARP vhid N (v4 or v6) on one segment (docs/protocol.md §5.3).

    `g` is new; `groups` holds every group by (proto, id, family, vlan).
    """
    key = g.key
    if key.proto == "carp":
        partners = [("vrrp", key.id, 4, key.vlan)]
    elif key.family == 4:
        partners = [("carp", key.id, 4, key.vlan), ("carp", key.id, 6, key.vlan)]
    else:
        return []  # VRRPv3 over IPv6 uses 00:00:5e:00:02:N, no clash with CARP
    out: list[Finding] = []
    for p in partners:
        if p not in groups:
            continue
        vrrp = g if key.proto == "vrrp" else groups[p]
        vlan = f" on VLAN {'.'.join(map(str, key.vlan))}" if key.vlan else ""
        out += vrrp.raise_(k.VRRP_COLLISION, ("carp", p[2] if key.proto == "vrrp" else key.family), r,
                           f"VRRP vrid {key.id} and CARP vhid {key.id} advertise on the same segment{vlan}: "
                           f"IPv4 VRRP's virtual MAC 00:00:5e:00:01:{key.id:02x} is also CARP vhid {key.id}'s "
                           f"(RFC 3768 §7.3): where both use it, switches move it between "
                           f"the two masters; both share 224.0.0.18 and protocol 112 and each side drops the "
                           f"other's adverts (keepalived logs them as too short); give one group another id")
    return out


def _position(p: int | None) -> str:
    return "the empty key" if p == 0 else f"passphrase {p}"


def _form(form: str | None) -> str:
    """How a verified key was formed, when it is not the pass as typed (auth key forms)."""
    return f" (in its {_FORMS.get(form, form)} form)" if form else ""
