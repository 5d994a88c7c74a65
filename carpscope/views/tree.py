"""A protocol tree per packet (`-V`), laid out like tshark's -V."""

from __future__ import annotations

from carpscope.model import AddressClaim, CarpAdvert, Damaged, VrrpAdvert
from carpscope.views.text import escape, utc

_AUTH: dict[int | None, str] = {0: "No Authentication", 1: "Simple Text Password", 2: "IP Authentication Header"}


def _v(value: object, unit: str = "") -> str:
    return "(not captured)" if value is None else f"{value}{unit}"


def _frame(r) -> list[str]:
    return [f"Frame {r.frame}: {utc(r.time)} UTC"]


def _ip(r: CarpAdvert | VrrpAdvert) -> list[str]:
    lines = []
    if r.src_mac or r.dst_mac:
        lines.append(f"Link: Src: {r.src_mac or '?'}, Dst: {r.dst_mac or '?'}")
    if r.vlan:
        lines.append("802.1Q VLAN: " + ", ".join(str(v) for v in r.vlan))
    version = "4" if r.family == 4 else "6"
    hop = "TTL" if r.family == 4 else "Hop limit"
    lines.append(f"Internet Protocol Version {version}, Src: {r.src}, Dst: {r.dst}, {hop}: {r.ttl}")
    if r.ah_spi is not None:
        lines.append(f"Authentication Header, SPI: 0x{r.ah_spi:08x}, Sequence: {r.ah_seq}")
    return lines


def _expert(r) -> list[str]:
    return [f"    [Expert Info ({f.severity.value}): {f.kind}: {f.detail}]" for f in r.findings]


def _checksum(r: CarpAdvert | VrrpAdvert) -> str:
    if r.cksum is None:
        return "    Checksum: (not captured)"
    status = {"ok": "correct", "bad": "incorrect", None: "unverified"}[r.checksum]
    form_name = getattr(r, "checksum_form", None)
    form = f", {form_name}" if form_name else ""
    return f"    Checksum: 0x{r.cksum:04x} [{status}{form}]"


_FORMS = {"pfsense-gui": "pfSense/OPNsense", "netlink-20": "20-byte netlink"}


def carp(r: CarpAdvert) -> list[str]:
    sig = r.hmac
    if r.hmac == "ok":
        form = f", matched in its {_FORMS.get(r.key_form, r.key_form)} form" if r.key_form else ""
        sig += (f" (passphrase {r.passphrase or 'empty'}{form}, VIPs {', '.join(r.vips or ())} {r.vips_from}, "
                f"layout {r.hmac_variant})")
    elif r.hmac_hint:
        sig += f" ({r.hmac_hint})"
    return [
        *_frame(r), *_ip(r),
        f"Common Address Redundancy Protocol: {r.why}",
        f"    Version: {_v(r.version)}",
        f"    Type: {'Advertisement' if r.type == 1 else 'Unknown'} ({_v(r.type)})",
        f"    Virtual Host ID: {_v(r.vhid)}",
        f"    Advertisement skew: {_v(r.advskew)}",
        f"    Auth length: {_v(r.authlen)}",
        f"    Demotion: {_v(r.demote)}",
        f"    Advertisement base: {_v(r.advbase, ' s')}",
        _checksum(r),
        f"    Counter: {_v(r.counter)}" + (f" (0x{r.counter:016x})" if r.counter is not None else ""),
        f"    HMAC: {r.md.hex() if r.md else '(not captured)'}",
        f"    Signature: {sig}",
        *_expert(r),
    ]


def vrrp(r: VrrpAdvert) -> list[str]:
    unit = " cs" if r.version == 3 else " s"
    lines = [
        *_frame(r), *_ip(r),
        f"Virtual Router Redundancy Protocol: {r.why}",
        f"    Version: {_v(r.version)}",
        f"    Type: {'Advertisement' if r.type == 1 else 'Unknown'} ({_v(r.type)})",
        f"    Virtual Router ID: {_v(r.vrid)}",
        f"    Priority: {_v(r.priority)}",
        f"    Addr Count: {_v(r.count)}",
    ]
    if r.version != 3:
        lines.append(f"    Auth Type: {_AUTH.get(r.auth_type, 'Unknown')} ({_v(r.auth_type)})")
    lines.append(f"    Adver Int: {_v(r.adver_int, unit)}")
    lines.append(_checksum(r))
    lines += [f"    IP Address: {a}" for a in r.addresses]
    if r.auth_data is not None and r.auth_type == 1:
        lines.append(f'    Authentication String: "{escape(r.auth_data.rstrip(bytes(1)))}"')
    return lines + _expert(r)


def record(r) -> list[str]:
    if isinstance(r, CarpAdvert):
        return carp(r)
    if isinstance(r, VrrpAdvert):
        return vrrp(r)
    if isinstance(r, AddressClaim):
        what = ("Gratuitous ARP" if r.how == "garp" else "ARP reply" if r.how == "arp-reply"
                else "Unsolicited neighbour advertisement")
        return [*_frame(r), f"{what}: {r.addr} is at {r.mac}"]
    assert isinstance(r, Damaged)
    return [*_frame(r), "Undecodable protocol-112 frame", *_expert(r)]
