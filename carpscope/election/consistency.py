"""advbase-mismatch, adver-int-mismatch and skew-tie among the members' current parameters.

Each check is a count kept as members change (`Group.count`), so a new member
costs O(1); the members are listed only to word a finding, once per group.
"""

from __future__ import annotations

from collections import Counter

from carpscope import findings as k
from carpscope.election import rules
from carpscope.election.members import Group
from carpscope.model import CarpAdvert, Finding, Severity, VrrpAdvert


def check(g: Group, r) -> list[Finding]:
    """Count `r`'s sender anew, then word what the counts show."""
    g.count(g.members[r.src])
    if g.key.proto == "carp":
        return _advbase(g, r) + _carp_tie(g, r)
    return _adver_int(g, r) + _vrrp_tie(g, r)


def _advbase(g: Group, r) -> list[Finding]:
    if len(g.spread) <= 1 or (k.ADVBASE_MISMATCH, None) in g.raised:
        return []
    listing = ", ".join(f"{a} {n.advbase}" for a, n in g.normals() if isinstance(n, CarpAdvert))
    return g.raise_(k.ADVBASE_MISMATCH, None, r,
                    f"members advertise different advbase ({listing}): the lower advbase always "
                    f"wins and advskew no longer orders the members; set the "
                    f"same advbase on every member")


def _carp_tie(g: Group, r) -> list[Finding]:
    if not g.tied or (k.SKEW_TIE, None) in g.raised:
        return []
    plain = [(a, n, rules.preference(n)) for a, n in g.normals() if not rules.demoted(n)]
    later = Counter(p for _, _, p in plain)
    for i, (a, n, p) in enumerate(plain):
        later[p] -= 1
        tie = next((b for b, _, o in plain[i + 1:] if o == p), None) if later[p] else None
        if tie is not None:
            return g.raise_(k.SKEW_TIE, None, r,
                            f"{a} and {tie} both advertise {rules.describe(n)}: on a tie OpenBSD's "
                            f"master yields and ucarp compares raw addresses, so which one "
                            f"wins is arbitrary; give each member its own advskew")
    return []


def _adver_int(g: Group, r) -> list[Finding]:
    if (k.ADVER_INT_MISMATCH, None) in g.raised or len(g.spread) <= len({v for v, _ in g.spread}):
        return []
    normals = [(a, n) for a, n in g.normals() if isinstance(n, VrrpAdvert)]  # all of them: a VRRP group
    out: list[Finding] = []
    for version in sorted({n.version or 0 for _, n in normals}):
        same = [(a, n) for a, n in normals if (n.version or 0) == version]
        if len({n.adver_int for _, n in same}) > 1:
            unit = "cs" if version == 3 else "s"
            listing = ", ".join(f"{a} {n.adver_int}{unit}" for a, n in same)
            why = ("RFC 3768 §7.1 receivers discard adverts whose Adver_Int differs from theirs"
                   if version != 3 else "backups adopt the master's interval (RFC 5798 §6.4.2)")
            out += g.raise_(k.ADVER_INT_MISMATCH, None, r,
                            f"members advertise different adver_int ({listing}): {why}; set the "
                            f"same advertisement interval on every router",
                            Severity.WARNING if version != 3 else Severity.INFO)
    return out


def _vrrp_tie(g: Group, r) -> list[Finding]:
    if not g.tied or (k.SKEW_TIE, None) in g.raised:
        return []
    prios: dict[int, str] = {}
    for a, n in g.normals():
        if not isinstance(n, VrrpAdvert):
            continue  # (none: a VRRP group)
        if n.priority in prios and n.priority:
            owner = n.priority == 255
            return g.raise_(k.SKEW_TIE, None, r,
                            f"{prios[n.priority]} and {a} both advertise priority {n.priority}: "
                            + ("both claim to own the virtual addresses; only one router may use "
                               "priority 255" if owner else
                               "the higher address wins (RFC 3768 §6.4.3); give each router its "
                               "own priority to choose the master"),
                            Severity.WARNING if owner else Severity.INFO)
        prios.setdefault(n.priority, a)
    return []
