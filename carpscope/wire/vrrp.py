"""VRRPv2 (RFC 3768 §5) and VRRPv3 (RFC 5798 / RFC 9568 §5) advertisements."""

from __future__ import annotations

import socket

from carpscope import findings as kinds
from carpscope.model import Builder, Finding, Severity, VrrpAdvert
from carpscope.wire.carp import BASE
from carpscope.wire.checksum import internet_sum, pseudo_header_sum

VRRP_ADVERTISEMENT = 1
_AUTH_LEN = 8  # VRRPv2 Authentication Data, RFC 3768 §5.3.10

_FIELDS = ("version", "type", "vrid", "priority", "count", "auth_type", "adver_int", "cksum", "addresses",
           "auth_data", "checksum", "checksum_form")  # absent ones None (the default), addresses always set
_BUILD = Builder(VrrpAdvert, (*BASE, *_FIELDS, "findings"))  # the record without the dataclass __init__


def decode(payload: bytes, base: dict, findings: list[Finding], src: bytes, dst: bytes) -> VrrpAdvert:
    """Decode what was captured of a VRRP advertisement; anomalies become findings."""
    n = len(payload)
    f: dict = {}
    if n >= 1:
        f["version"], f["type"] = payload[0] >> 4, payload[0] & 0x0F
    for name, offset in (("vrid", 1), ("priority", 2), ("count", 3)):
        if n > offset:
            f[name] = payload[offset]
    version = f.get("version")
    if version == 3:
        if n >= 6:
            f["adver_int"] = int.from_bytes(payload[4:6], "big") & 0x0FFF  # 12 bits, cs
    else:
        if n >= 5:
            f["auth_type"] = payload[4]
        if n >= 6:
            f["adver_int"] = payload[5]
    if n >= 8:
        f["cksum"] = int.from_bytes(payload[6:8], "big")
    size = 16 if base["family"] == 6 and version == 3 else 4
    count = f.get("count", 0)
    end = min(n, 8 + size * count)
    f["addresses"] = tuple(_addr(payload[i : i + size]) for i in range(8, end - size + 1, size))
    if version == 2 and n >= 8 + 4 * count + _AUTH_LEN:
        f["auth_data"] = payload[8 + 4 * count : 8 + 4 * count + _AUTH_LEN]
    _checksum(payload, base, f, src, dst)
    _check(f, base, findings, size)
    return _BUILD(*map(base.get, BASE), *map(f.get, _FIELDS), tuple(findings))


def _addr(b: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET if len(b) == 4 else socket.AF_INET6, b)


def _checksum(payload: bytes, base: dict, f: dict, src: bytes, dst: bytes) -> None:
    """v2: plain sum; v3: with the pseudo-header (RFC 5798) or, for IPv4, without (RFC 9568)."""
    if base["caplen"] < base["length"] or "cksum" not in f:
        return  # not all bytes captured: cannot tell
    message = payload[: base["length"]]
    if f.get("version") == 3:
        if internet_sum(message, pseudo_header_sum(src, dst, len(message))) == 0xFFFF:
            f["checksum"], f["checksum_form"] = "ok", "pseudo-header"
        elif base["family"] == 4 and internet_sum(message) == 0xFFFF:
            f["checksum"], f["checksum_form"] = "ok", "plain"
        else:
            f["checksum"] = "bad"
    else:
        f["checksum"] = "ok" if internet_sum(message) == 0xFFFF else "bad"


def _check(f: dict, base: dict, findings: list[Finding], size: int) -> None:
    """RFC 3768 §7.1 / RFC 5798 §7.1 receive checks, as findings."""
    frame, time = base["frame"], base["time"]

    def add(kind: str, severity: Severity, detail: str) -> None:
        findings.append(Finding(kind, severity, detail, frame, time, "vrrp", f.get("vrid"),
                                base["family"], base["vlan"]))

    version, length, caplen = f.get("version"), base["length"], base["caplen"]
    if length < 8:
        add(kinds.MALFORMED, Severity.WARNING, f"VRRP header is {length} bytes, needs at least 8")
        return
    if version not in (2, 3) or f.get("type") != VRRP_ADVERTISEMENT:
        add(kinds.MALFORMED, Severity.WARNING,
            f"version {version} type {f.get('type')}: only v2 and v3 advertisements exist")
        return
    if caplen < length:
        add(kinds.SHORT_CAPTURE, Severity.WARNING, f"only {caplen} of {length} VRRP bytes captured")
    if "count" not in f:
        return
    expected = 8 + size * f["count"] + (_AUTH_LEN if version == 2 else 0)
    if length < expected:
        add(kinds.MALFORMED, Severity.WARNING,
            f"{length} bytes, but {f['count']} addresses need {expected}")
    elif length > expected:
        add(kinds.TRAILING_BYTES, Severity.INFO, f"{length - expected} bytes after the VRRP message")
    if f.get("checksum") == "bad":
        add(kinds.BAD_CHECKSUM, Severity.WARNING,
            f"VRRP checksum 0x{f['cksum']:04x} does not verify; receivers drop it")
    if f.get("vrid") == 0:
        add(kinds.MALFORMED, Severity.WARNING, "VRID 0 is not valid (1-255)")
    if f.get("adver_int") == 0:
        add(kinds.MALFORMED, Severity.WARNING, "advertisement interval 0")
