"""JSON schema 2 (docs/design.md): dicts for packets, events, findings and groups.

Passphrases never appear: a group names the one that matched by its position.
Schema 2 (issue 14): `counter` is a string of decimal digits (a 64-bit integer is
rounded by jq 1.6 and JavaScript), findings name the `members` they are about.
"""

from __future__ import annotations

from carpscope.model import CarpAdvert, Finding, VrrpAdvert

SCHEMA = 2


def finding(f: Finding, count: int | None = None) -> dict:
    out = {"time": f.time, "frame": f.frame, "proto": f.proto, "id": f.id, "family": f.family,
           "vlan": list(f.vlan), "severity": f.severity.value, "kind": f.kind, "detail": f.detail,
           "members": list(f.members)}
    if f.vantage is not None:  # captures from several points (issue 15)
        out["vantage"] = f.vantage
    if count is not None:
        out["count"] = count
    return out


def _packet_findings(r) -> list[dict]:
    return [{"severity": f.severity.value, "kind": f.kind, "detail": f.detail} for f in r.findings]


def packet(r: CarpAdvert | VrrpAdvert) -> dict:
    out = {
        "frame": r.frame, "time": r.time, "src": r.src, "dst": r.dst, "src_mac": r.src_mac,
        "family": r.family, "vlan": list(r.vlan), "ttl": r.ttl, "proto": r.proto,
        "version": r.version, "msg_type": r.type, "length": r.length, "why": r.why,
    }
    if isinstance(r, CarpAdvert):
        counter = None if r.counter is None else str(r.counter)  # schema 2: digits, never rounded
        out.update(vhid=r.vhid, advbase=r.advbase, advskew=r.advskew, authlen=r.authlen,
                   demote=r.demote, counter=counter, md=r.md.hex() if r.md else None)
    else:
        out.update(vrid=r.vrid, priority=r.priority, adver_int=r.adver_int, count=r.count,
                   addresses=list(r.addresses))
        if r.version != 3:
            out["auth_type"] = r.auth_type
            if r.auth_type == 1 and r.auth_data is not None:
                # Packet bytes as latin-1 text: json escapes every control byte.
                out["auth"] = r.auth_data.rstrip(bytes(1)).decode("latin-1")
        else:
            out["checksum_form"] = r.checksum_form
    out["checksum"] = r.checksum
    out["hmac"] = r.hmac
    if isinstance(r, CarpAdvert) and r.hmac == "ok":
        out.update(passphrase=r.passphrase, vips=list(r.vips or ()), vips_from=r.vips_from,
                   hmac_variant=r.hmac_variant, key_form=r.key_form or "plain")
    elif isinstance(r, CarpAdvert):
        out.update(hmac_reason=r.hmac_reason, hmac_hint=r.hmac_hint)
    if r.ah_spi is not None:
        out.update(ah_spi=r.ah_spi, ah_seq=r.ah_seq)
    if r.vantage is not None:  # named captures (issue 15): where it was seen, the first point first
        out.update(vantage=r.vantage, seen_at=list(r.seen_at))
    out["findings"] = _packet_findings(r)
    return out


def event(e) -> dict:
    """An election event; `gap` is seconds from the old master's last advert to the new one's first."""
    return {"time": e.time, "frame": e.frame, "proto": e.proto, "id": e.id, "family": e.family,
            "vlan": list(e.vlan), "kind": e.kind, "from": e.from_, "to": e.to, "cause": e.cause,
            "gap": e.gap, "expected": e.expected, "detail": e.detail}


def _member(m, proto: str) -> dict:
    out = {"addr": m.addr, "mac": m.mac}
    if proto == "carp":
        out.update(advbase=m.advbase, advskew=m.advskew, demote=m.demote)
    else:
        out.update(priority=m.priority, adver_int=m.advbase)
    out.update(adverts=m.adverts, hmac=m.hmac, first=m.first, last=m.last, stack=m.stack,
               stack_evidence=m.stack_evidence)
    return out


def groups(snapshot) -> list[dict]:
    """Every group with its members; the passphrase only by its 1-based position."""
    return [{
        "proto": g.key.proto, "id": g.key.id, "family": g.key.family, "vlan": list(g.key.vlan),
        "vips": list(g.vips), "vips_from": g.vips_from or "none",
        "passphrase": g.passphrase, "master": g.master,
        "members": [_member(m, g.key.proto) for m in g.members],
    } for g in snapshot.groups]


def vantages(summary) -> list[dict]:
    """Named captures (issue 15): each point, its clock offset to the first, and what it heard."""
    out = []
    for name, offset, shared in summary.points:
        heard = [{"proto": key[0], "id": key[1], "family": key[2], "vlan": list(key[3]), "member": addr,
                  "heard": h, "missed": m}
                 for key, addr, where in summary.hearing for p, h, m in where if p == name]
        out.append({"name": name, "offset": offset, "shared": shared, "heard": heard})
    return out
