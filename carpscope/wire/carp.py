"""CARP advertisements: the 36-byte header of docs/protocol.md §1.1.

Layout [OpenBSD/FreeBSD ip_carp.h, ucarp ip_carp.h]: version/type, vhid, advskew,
authlen, demote (OpenBSD; reserved elsewhere), advbase, checksum, 8-byte counter,
20-byte HMAC-SHA1.
"""

from __future__ import annotations

from carpscope import findings as kinds
from carpscope.model import Builder, CarpAdvert, Finding, Severity
from carpscope.wire.checksum import verifies

CARP_LEN = 36  # the whole header: what a CARP advert is (classify.py, repeat.py)
CARP_VERSION = 2
CARP_ADVERTISEMENT = 1
CARP_AUTHLEN = 7  # counter + md in 32-bit words, always 7 on send [OBSD-c carp_send_ad]

# The fields decode._advert puts in `base` for every advert, absent ones None (the default).
BASE = ("frame", "time", "family", "src", "dst", "src_mac", "dst_mac", "vlan", "ttl", "length", "caplen", "why",
        "ah_spi", "ah_seq")
_FIELDS = ("version", "type", "vhid", "advskew", "authlen", "demote", "advbase", "cksum", "counter", "md", "checksum")
_BUILD = Builder(CarpAdvert, (*BASE, *_FIELDS, "findings"))  # the record without the dataclass __init__


def decode(payload: bytes, base: dict, findings: list[Finding]) -> CarpAdvert:
    """Decode as much of a CARP header as was captured; anomalies become findings."""
    n = len(payload)
    fields: dict
    if n >= CARP_LEN:  # the whole header, the usual case: one dict, no per-field test (issue 19)
        fields = {
            "version": payload[0] >> 4, "type": payload[0] & 0x0F, "vhid": payload[1], "advskew": payload[2],
            "authlen": payload[3], "demote": payload[4], "advbase": payload[5],
            "cksum": int.from_bytes(payload[6:8], "big"), "counter": int.from_bytes(payload[8:16], "big"),
            "md": payload[16:36],
            # Checksum covers the 36-byte header only, no pseudo-header, v4 and v6 (§1.2).
            "checksum": "ok" if verifies(payload[:CARP_LEN]) else "bad",
        }
        _check(fields, base, findings)
        return _BUILD(*map(base.get, BASE), *map(fields.get, _FIELDS), tuple(findings))
    fields = {}
    if n >= 1:
        fields["version"], fields["type"] = payload[0] >> 4, payload[0] & 0x0F
    for name, offset in (("vhid", 1), ("advskew", 2), ("authlen", 3), ("demote", 4), ("advbase", 5)):
        if n > offset:
            fields[name] = payload[offset]
    if n >= 8:
        fields["cksum"] = int.from_bytes(payload[6:8], "big")
    if n >= 16:
        fields["counter"] = int.from_bytes(payload[8:16], "big")
    if n >= CARP_LEN:
        fields["md"] = payload[16:36]
        # Checksum covers the 36-byte header only, no pseudo-header, v4 and v6 (§1.2).
        fields["checksum"] = "ok" if verifies(payload[:CARP_LEN]) else "bad"
    _check(fields, base, findings)
    return _BUILD(*map(base.get, BASE), *map(fields.get, _FIELDS), tuple(findings))


def _check(fields: dict, base: dict, findings: list[Finding]) -> None:
    """Validity checks of the BSD receive path (docs/protocol.md §1.6), as findings."""
    frame, time = base["frame"], base["time"]

    def add(kind: str, severity: Severity, detail: str) -> None:
        findings.append(Finding(kind, severity, detail, frame, time, "carp", fields.get("vhid"),
                                base["family"], base["vlan"]))

    if base["caplen"] < CARP_LEN:
        if base["length"] < CARP_LEN:
            add(kinds.MALFORMED, Severity.WARNING, f"CARP header is {base['length']} bytes, needs 36")
        else:
            add(kinds.SHORT_CAPTURE, Severity.WARNING,
                f"only {base['caplen']} of 36 CARP bytes captured (snaplen too small)")
    elif fields.get("checksum") == "bad":
        add(kinds.BAD_CHECKSUM, Severity.WARNING,
            f"CARP checksum 0x{fields['cksum']:04x} does not verify; receivers drop it")
    if "version" in fields and (fields["version"], fields["type"]) != (CARP_VERSION, CARP_ADVERTISEMENT):
        add(kinds.MALFORMED, Severity.WARNING,
            f"version {fields['version']} type {fields['type']}: only v2 advertisements exist")
    if fields.get("authlen", CARP_AUTHLEN) != CARP_AUTHLEN:
        add(kinds.MALFORMED, Severity.WARNING, f"authlen {fields['authlen']}, every implementation sends 7")
    if fields.get("vhid") == 0:
        add(kinds.MALFORMED, Severity.WARNING, "vhid 0 is not a valid virtual host id (1-255)")
    if base["length"] > CARP_LEN:
        add(kinds.TRAILING_BYTES, Severity.INFO,
            f"{base['length'] - CARP_LEN} bytes after the CARP header (ignored by receivers)")
