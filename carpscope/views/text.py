"""Small text helpers every view shares: times, escaping of packet-borne text."""

from __future__ import annotations

import datetime as _dt

# Colours of a signature verdict and of a finding's severity, the same in every view.
HMAC_STYLE = {"ok": "green", "bad": "bold red", "mixed": "bold red", "unverified": "yellow", "n/a": "dim"}
SEVERITY_STYLE = {"info": "cyan", "warning": "yellow", "critical": "bold red"}

_SAFE = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}
_SAFE[ord("\\")] = "\\\\"
_SAFE[ord('"')] = '\\"'
# Text from the user's own arguments (file and interface names) comes as str: bytes that
# are not UTF-8 arrive as surrogates (PEP 383), shown as the byte; marks that reorder or
# hide text (bidi overrides and isolates, zero-width) are shown as code points (issue 20).
_SAFE.update({c: f"\\x{c - 0xDC00:02x}" for c in range(0xDC80, 0xDD00)})
_SAFE.update({c: f"\\u{c:04x}" for c in (0x061C, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, *range(0x202A, 0x202F),
                                          *range(0x2066, 0x206A), 0xFEFF)})


def escape(raw: bytes | str) -> str:
    """Make packet-borne text safe for a terminal: control bytes become \\xNN.

    Anything from the wire (a VRRPv2 password, say) is attacker-controlled; an ESC
    byte reaching a terminal could rewrite the screen (issue 8). The CLI escapes its
    one-line errors with it too, as they quote file names and other arguments.
    """
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    return text.translate(_SAFE)


def utc(time: float) -> str:
    """tcpdump -tttt style, in UTC so output does not depend on the reader's zone."""
    try:
        stamp = _dt.datetime.fromtimestamp(time, _dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return f"{time:.6f}"
    return stamp.strftime("%Y-%m-%d %H:%M:%S.%f")


def where(family: int | None, vlan: tuple[int, ...]) -> str:
    """IPv4, IPv6 VLAN 10, IPv4 VLAN 10.20 (QinQ, outer tag first)."""
    return ("IPv6" if family == 6 else "IPv4") + (f" VLAN {'.'.join(map(str, vlan))}" if vlan else "")


def group_name(proto: str | None, id_: int | None, family: int | None = 4, vlan: tuple[int, ...] = ()) -> str:
    """CARP vhid 1, VRRP vrid 7 IPv6 VLAN 10: family and VLAN said unless IPv4 untagged."""
    if not proto:
        return "-"
    name = f"{proto.upper()} {'vhid' if proto == 'carp' else 'vrid'} {'?' if id_ is None else id_}"
    return name if family in (None, 4) and not vlan else f"{name} {where(family, vlan)}"


def seconds(value: float | None) -> str:
    """A duration the way people read it: 3.39s."""
    return "-" if value is None else f"{value:.2f}s"
