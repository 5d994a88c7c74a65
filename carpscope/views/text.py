"""Small text helpers every view shares: times, escaping of packet-borne text."""

from __future__ import annotations

import datetime as _dt

_SAFE = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}
_SAFE[ord("\\")] = "\\\\"
_SAFE[ord('"')] = '\\"'


def escape(raw: bytes | str) -> str:
    """Make packet-borne text safe for a terminal: control bytes become \\xNN.

    Anything from the wire (a VRRPv2 password, say) is attacker-controlled; an ESC
    byte reaching a terminal could rewrite the screen (issue 8).
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


def seconds(value: float | None) -> str:
    """A duration the way people read it: 3.39s."""
    return "-" if value is None else f"{value:.2f}s"
