"""Frames as OpenBSD, FreeBSD, pfSense, OPNsense, ucarp and keepalived put them on the wire.

A small, readable generator for tests, written from the protocol facts in docs/
(docs/protocol.md §1–§5 and §9 of the project's reference): the CARP header and its
checksum, the HMAC message each stack hashes, how each stack turns a passphrase
into a key, and the address claims a new master sends. No real kernel is needed:
each case the real stacks produce is built byte by byte and written as a pcap.

Nothing here is fast; everything here is meant to be read next to the docs.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CARP_V4_GROUP, CARP_V6_GROUP = "224.0.0.18", "ff02::12"
CARP_V4_MAC, CARP_V6_MAC = "01:00:5e:00:00:12", "33:33:00:00:00:12"
KEY_LEN = 20  # CARP_KEY_LEN


# -- bytes ------------------------------------------------------------------------

def cksum(data: bytes) -> int:
    """RFC 1071 Internet checksum."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def ip(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


# -- passphrase → key (§2.2, §9.1) ------------------------------------------------

def bsd_key(passphrase: bytes, previous: bytes = b"") -> bytes:
    """OpenBSD/FreeBSD ifconfig: strlcpy into the existing 20-byte key, the old tail kept."""
    key = bytearray(previous.ljust(KEY_LEN, b"\0")[:KEY_LEN])
    cut = passphrase[: KEY_LEN - 1]
    key[: len(cut)] = cut
    key[len(cut)] = 0
    return bytes(key)


def gui_password(text: str) -> bytes:
    """pfSense/OPNsense: escapeshellarg(addslashes(str_replace(" ", "", pw))) before ifconfig."""
    out = text.replace(" ", "")
    for ch in ("\\", "'", '"', "\0"):
        out = out.replace(ch, "\\" + ch)
    return out.encode()


# -- the HMAC (§2.1, §2.3) ----------------------------------------------------------

def hmac_message(vhid: int, vips: Sequence[str], counter: int, *, lladdr: str | None = None,
                 v6_link_local: bool = True, sort: bool = True) -> bytes:
    """02 01 [lladdr] vhid IPv4-VIPs IPv6-VIPs counter.

    sort: ascending (every current stack); v6_link_local=False is OpenBSD's send
    context HMAC_NOV6LL; link-local IPv6 VIPs have bytes 2-3 zeroed.
    """
    addrs = [ipaddress.ip_address(a) for a in vips]
    v4 = [a.packed for a in addrs if a.version == 4]
    v6 = []
    for a in addrs:
        if a.version != 6:
            continue
        if a.is_link_local:
            if not v6_link_local:
                continue
            v6.append(a.packed[:2] + b"\0\0" + a.packed[4:])
        else:
            v6.append(a.packed)
    if sort:
        v4, v6 = sorted(set(v4)), sorted(set(v6))
    head = b"\x02\x01" + (mac(lladdr) if lladdr else b"")
    return head + bytes((vhid,)) + b"".join(v4) + b"".join(v6) + counter.to_bytes(8, "big")


def carp_md(key: bytes, vhid: int, vips: Sequence[str], counter: int, **layout) -> bytes:
    return hmac.new(key, hmac_message(vhid, vips, counter, **layout), hashlib.sha1).digest()


def carp_header(vhid: int, advbase: int, advskew: int, demote: int, counter: int, md: bytes) -> bytes:
    """The 36-byte CARP advertisement (§1.1) with its checksum over these 36 bytes (§1.2)."""
    body = struct.pack("!BBBBBBH", 0x21, vhid, advskew, 7, demote, advbase, 0) + counter.to_bytes(8, "big") + md
    return body[:6] + cksum(body).to_bytes(2, "big") + body[8:]


# -- encapsulation ------------------------------------------------------------------

def ether(src: str, dst: str, ethertype: int, payload: bytes, vlan: int | None = None) -> bytes:
    """An Ethernet frame, untagged or in one 802.1Q tag (`ethernet` takes any tags)."""
    return ethernet(src, dst, ethertype, payload, _tag(vlan))


def _tag(vlan: int | None) -> tuple[tuple[int, int], ...]:
    return ((0x8100, vlan),) if vlan is not None else ()


def ipv4(src: str, dst: str, proto: int, payload: bytes, ttl: int = 255, tos: int = 0x10, ident: int = 1) -> bytes:
    """IPv4 as the CARP stacks send it: DF set, TOS 0x10 (§1.3); ipv4_packet takes any header."""
    return ipv4_packet(src, dst, proto, payload, ttl=ttl, tos=tos, ident=ident, df=True)


def ipv6(src: str, dst: str, next_header: int, payload: bytes, hlim: int = 255) -> bytes:
    return ipv6_header(src, dst, next_header, len(payload), hlim=hlim) + payload


def multicast_mac(dst: str) -> str:
    a = ipaddress.ip_address(dst)
    if a.version == 4:
        b = a.packed
        return "01:00:5e:%02x:%02x:%02x" % (b[1] & 0x7F, b[2], b[3])
    return "33:33:" + ":".join("%02x" % x for x in a.packed[-4:])


def ip_frame(src_mac: str, src: str, dst: str, proto: int, payload: bytes, *, ttl: int = 255,
             dst_mac: str | None = None, vlan: int | None = None) -> bytes:
    """An Ethernet frame carrying `payload` as IP protocol `proto`, v4 or v6 by the source address."""
    six = ":" in src
    if dst_mac is None:
        dst_mac = multicast_mac(dst) if ipaddress.ip_address(dst).is_multicast else "02:00:00:00:00:fe"
    packet = ipv6(src, dst, proto, payload, ttl) if six else ipv4(src, dst, proto, payload, ttl)
    return ether(src_mac, dst_mac, 0x86DD if six else 0x0800, packet, vlan)


def garp(vip: str, sender_mac: str, vlan: int | None = None) -> bytes:
    """A gratuitous ARP request for `vip` (a new master's claim, §2.1)."""
    return gratuitous_arp(vip, sender_mac, _tag(vlan))


def unsolicited_na(vip: str, sender_mac: str, src: str | None = None, vlan: int | None = None) -> bytes:
    """An unsolicited neighbour advertisement for `vip` to ff02::1 (override flag, target lladdr)."""
    src = src or vip
    icmp = struct.pack("!BBHI", 136, 0, 0, 0x20000000) + ip(vip) + bytes((2, 1)) + mac(sender_mac)
    pseudo = ip(src) + ip("ff02::1") + struct.pack("!I3xB", len(icmp), 58)
    icmp = icmp[:2] + cksum(pseudo + icmp).to_bytes(2, "big") + icmp[4:]
    return ether(sender_mac, "33:33:00:00:00:01", 0x86DD, ipv6(src, "ff02::1", 58, icmp), vlan)


# -- VRRP (§5) and AH (§9.6) -----------------------------------------------------------

def vrrp2(vrid: int, priority: int, addresses: Sequence[str], adver_int: int = 1, auth_type: int = 0,
          auth_data: bytes = bytes(8)) -> bytes:
    body = struct.pack("!BBBBBBH", 0x21, vrid, priority, len(addresses), auth_type, adver_int, 0)
    body += b"".join(ip(a) for a in addresses) + auth_data.ljust(8, b"\0")[:8]
    return body[:6] + cksum(body).to_bytes(2, "big") + body[8:]


def vrrp3(vrid: int, priority: int, addresses: Sequence[str], src: str, dst: str, adver_int_cs: int = 100) -> bytes:
    """VRRPv3 with the pseudo-header checksum (RFC 5798 as keepalived reads it, both families)."""
    body = struct.pack("!BBBBHH", 0x31, vrid, priority, len(addresses), adver_int_cs & 0xFFF, 0)
    body += b"".join(ip(a) for a in addresses)
    if ":" in src:
        pseudo = ip(src) + ip(dst) + struct.pack("!I3xB", len(body), 112)
    else:
        pseudo = ip(src) + ip(dst) + struct.pack("!xBH", 112, len(body))
    return body[:6] + cksum(pseudo + body).to_bytes(2, "big") + body[8:]


def ah(next_header: int, payload: bytes, spi: int = 0x1000, seq: int = 1, icv: bytes = bytes(12)) -> bytes:
    """An IPv4 AH header (RFC 4302) with a 12-byte ICV, then `payload` (protocol `next_header`)."""
    length = (12 + len(icv)) // 4 - 2
    return struct.pack("!BBHII", next_header, length, 0, spi, seq) + icv + payload


# -- a CARP node ------------------------------------------------------------------------

@dataclass
class Node:
    """One CARP member as its stack puts it on the wire.

    stack: "openbsd" (demote byte, constant replay cookie, virtual MAC source,
    NOV6LL signing), "freebsd" (pfSense/OPNsense: virtual MAC source, random then
    counting counter, demotion folded into advskew), "ucarp" (00:00:5e:00:00:vhid
    source, claims from the real MAC).
    """

    src: str
    vhid: int
    key: bytes
    vips: Sequence[str]
    stack: str = "freebsd"
    advbase: int = 1
    advskew: int = 0
    demote: int = 0
    real_mac: str = "02:00:00:00:00:01"
    lladdr: str | None = None  # OpenBSD: a manually set lladdr, hashed after 02 01
    dst: str | None = None  # a unicast peer (OpenBSD carppeer, FreeBSD peer)
    ttl: int = 255
    vlan: int | None = None
    counter: int = 0x0123456789ABCDEF
    sent: int = field(default=0, init=False)

    @property
    def advert_mac(self) -> str:
        if self.stack == "ucarp":
            return "00:00:5e:00:00:%02x" % self.vhid
        if self.lladdr:
            return self.lladdr
        if self.stack == "freebsd" and self.dst and not ipaddress.ip_address(self.dst).is_multicast:
            return self.real_mac  # FreeBSD unicast adverts keep the parent's MAC (§1.4)
        return "00:00:5e:00:01:%02x" % self.vhid

    @property
    def claim_mac(self) -> str:
        return self.real_mac if self.stack == "ucarp" else (self.lladdr or "00:00:5e:00:01:%02x" % self.vhid)

    def next_counter(self) -> int:
        if self.stack != "openbsd" and self.sent:
            self.counter = (self.counter + 1) % (1 << 64)  # FreeBSD-family after hearing a peer (§3)
        self.sent += 1
        return self.counter  # OpenBSD: the same cookie in every advert

    def advert(self, *, advbase: int | None = None, advskew: int | None = None, demote: int | None = None,
               family: int | None = None) -> bytes:
        counter = self.next_counter()
        layout = {"lladdr": self.lladdr, "v6_link_local": self.stack != "openbsd"}
        md = carp_md(self.key, self.vhid, self.vips, counter, **layout)
        header = carp_header(self.vhid, self.advbase if advbase is None else advbase,
                             self.advskew if advskew is None else advskew,
                             (self.demote if demote is None else demote) if self.stack == "openbsd" else 0,
                             counter, md)
        six = family == 6 or (family is None and ":" in self.src)
        src = self.src if not six or ":" in self.src else "fe80::%x" % int(ipaddress.ip_address(self.src))
        dst = self.dst or (CARP_V6_GROUP if six else CARP_V4_GROUP)
        return ip_frame(self.advert_mac, src, dst, 112, header, ttl=self.ttl, vlan=self.vlan)

    def claims(self) -> list[bytes]:
        """What a new master sends after its first advert: ARP for IPv4 VIPs, NA for IPv6 (§4.2)."""
        out = []
        for vip in self.vips:
            if ":" in vip:
                out.append(unsolicited_na(vip, self.claim_mac, vlan=self.vlan))
            else:
                out.append(garp(vip, self.claim_mac, self.vlan))
        return out


# -- pcap -------------------------------------------------------------------------------

def write_pcap(path: str | Path, frames: Iterable[tuple[float, bytes]], linktype: int = 1) -> Path:
    """Frames (time, bytes) as a microsecond pcap; returns the path."""
    path = Path(path)
    with path.open("wb") as f:
        f.write(pcap_header(linktype=linktype))
        for t, data in frames:
            f.write(pcap_record(*_stamp(t), data))
    return path


def _stamp(t: float) -> tuple[int, int]:
    """A time as a pcap record's (seconds, microseconds), rounded to the microsecond."""
    sec = int(t)
    usec = round((t - sec) * 1e6)
    return (sec + 1, usec - 1_000_000) if usec >= 1_000_000 else (sec, usec)


T0 = 1_795_000_000.0  # 2026-11-18 UTC, clearly synthetic


# -- signature cases (issue 12): takeovers, split brains, balancing ---------------------

def takeover(node: Node, t: float, families: Sequence[int] = (4,), claim_mac: str | None = None,
             gap: float = 0.001) -> list[tuple[float, bytes]]:
    """A new master: one advert per family first, then its ARP/NA claims (§2.1, §4.2).

    claim_mac: the MAC the claims come from (OpenBSD balancing: 01:00:5e:00:01:<leader>, §9.5).
    """
    out = [(t + i * gap, node.advert(family=f)) for i, f in enumerate(families)]
    t += len(out) * gap
    for i, frame in enumerate(node.claims()):
        if claim_mac is not None:
            frame = frame[:6] + mac(claim_mac) + frame[12:]
            if frame[12:14] == b"\x08\x06":  # ARP: the sender hardware address too
                frame = frame[:22] + mac(claim_mac) + frame[28:]
        out.append((t + i * gap, frame))
    return out


def adverts(node: Node, start: float, end: float, families: Sequence[int] = (4,),
            interval: float | None = None) -> list[tuple[float, bytes]]:
    """Adverts of a master every `interval` (default advbase) from start until before end."""
    step = interval or node.advbase
    out = []
    t = start
    while t < end:
        out += [(t + i * 0.0005, node.advert(family=f)) for i, f in enumerate(families)]
        t += step
    return out


def merged(*streams: Sequence[tuple[float, bytes]]) -> list[tuple[float, bytes]]:
    """Several nodes' frames in time order (a capture of the shared segment)."""
    return sorted((f for s in streams for f in s), key=lambda f: f[0])


def multicast_loss_proto112() -> list[tuple[float, bytes]]:
    """captures/multicast-loss-proto112.pcap: a pfSense-style pair, protocol 112 only.

    vhid 1, pass `s3cret` on both, VIPs 192.0.2.50 and 192.0.2.51 (two: no
    single-address search finds them). A (advskew 0) is master; its advert of +5 s
    is the last B receives: B (advskew 100) times out 3 x 1 s + 100/256 s after
    +6 s and advertises too, every 1.39 s, starting from the counter of the last
    advert it accepted + 1 (FreeBSD, docs/protocol.md §3); at +18.7 s multicast reaches
    B again and it steps down. The capture holds no ARP: the VIPs are nowhere in it.
    """
    vips = ["192.0.2.50", "192.0.2.51"]
    key = bsd_key(b"s3cret")
    a = Node("192.0.2.1", 1, key, vips, real_mac="02:00:00:00:00:01")
    b = Node("192.0.2.2", 1, key, vips, advskew=100, real_mac="02:00:00:00:00:02")
    from_a = adverts(a, T0, T0 + 23)
    b.counter = a.counter - 17 + 1  # A's advert of +5 s (A sent 23, +0 … +22) was the last B heard
    takeover_b = 6.0 + 3 + 100 / 256
    return merged(from_a, adverts(b, T0 + takeover_b, T0 + 18.7 + 0.8, interval=1 + 100 / 256))


# -- election by stack (issue 13): VRRP routers, AH, schedules ---------------------------

def keepalived_advert(src: str, vrid: int, priority: int, addresses: Sequence[str], *, adver_int: int = 1,
                      ah_seq: int | None = None, spi: int = 0x1000, src_mac: str | None = None) -> bytes:
    """A keepalived VRRPv2 advert from the host's real MAC (no use_vmac), multicast to 224.0.0.18.

    ah_seq: keepalived `auth_type AH` — VRRP auth type 2 behind an AH header, IP protocol
    51 (docs/protocol.md §9.6; the ICV is not computed: nothing checks it passively).
    """
    mac_ = src_mac or "02:00:00:00:00:%02x" % ipaddress.ip_address(src).packed[-1]
    if ah_seq is None:
        return ip_frame(mac_, src, CARP_V4_GROUP, 112, vrrp2(vrid, priority, addresses, adver_int))
    body = vrrp2(vrid, priority, addresses, adver_int, auth_type=2)
    return ip_frame(mac_, src, CARP_V4_GROUP, 51, ah(112, body, spi=spi, seq=ah_seq))


def every(start: float, stop: float, step: float) -> list[float]:
    """start, start+step, ... while < stop (an advertising master's clock)."""
    out, t = [], start
    while t < stop - 1e-9:
        out.append(round(t, 6))
        t += step
    return out


# -- capture robustness (issues 14 and 20): hostile frames, other traffic, pcapng -----------

def protochain_loop_frame() -> bytes:
    """The 84-byte IPv6 frame libpcap's user-space `ip6 protochain` loops on (issue 20).

    Next header 0 (hop-by-hop) → AH (51), zero lengths, addresses and the rest
    zeros: libpcap sets X to the AH length instead of adding it, so the walk jumps
    back into the zero addresses, reads hop-by-hop again, and never ends.
    """
    return ether("02:00:00:00:00:66", "33:33:00:00:00:12", 0x86DD,
                 bytes((0x60,)) + bytes(39) + bytes((51,)) + bytes(29))


def igmp_report(src: str, group: str, src_mac: str = "02:00:00:00:00:21") -> bytes:
    """An IGMPv2 membership report (protocol 2), traffic carpscope skips."""
    body = struct.pack("!BBH4s", 0x16, 0, 0, ip(group))
    body = body[:2] + cksum(body).to_bytes(2, "big") + body[4:]
    return ether(src_mac, multicast_mac(group), 0x0800, ipv4(src, group, 2, body, ttl=1, tos=0))


def neighbor_solicitation(src: str, target: str, src_mac: str = "02:00:00:00:00:22") -> bytes:
    """ICMPv6 neighbour solicitation (135) to the target's solicited-node group."""
    group = "ff02::1:ff" + ip(target)[-3:].hex()[:2] + ":" + ip(target)[-2:].hex()
    icmp = struct.pack("!BBHI", 135, 0, 0, 0) + ip(target) + bytes((1, 1)) + mac(src_mac)
    pseudo = ip(src) + ip(group) + struct.pack("!I3xB", len(icmp), 58)
    icmp = icmp[:2] + cksum(pseudo + icmp).to_bytes(2, "big") + icmp[4:]
    return ether(src_mac, multicast_mac(group), 0x86DD, ipv6(src, group, 58, icmp))


def tcp_segment(src: str, dst: str, sport: int = 40000, dport: int = 22, seq: int = 1,
                src_mac: str = "02:00:00:00:00:23") -> bytes:
    """A TCP ACK with a few payload bytes (checksum left 0: only its protocol matters)."""
    seg = struct.pack("!HHIIBBHHH", sport, dport, seq, 1, 5 << 4, 0x18, 65535, 0, 0) + b"hello"
    return ether(src_mac, "02:00:00:00:00:fe", 0x0800, ipv4(src, dst, 6, seg, ttl=64, tos=0))


def pcapng_block(kind: int, body: bytes) -> bytes:
    pad = body + bytes(-len(body) % 4)
    return struct.pack("<II", kind, 12 + len(pad)) + pad + struct.pack("<I", 12 + len(pad))


def write_pcapng(path: str | Path, frames: Iterable[tuple[float, bytes]], linktype: int = 1,
                 idb_options: bytes = b"") -> Path:
    """Frames (time, bytes) as a little-endian pcapng, one interface (microseconds); returns the path."""
    path = Path(path)
    blocks = [pcapng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)),
              pcapng_block(1, struct.pack("<HHI", linktype, 0, 262144) + idb_options)]
    for t, data in frames:
        stamp = round(t * 1e6)
        blocks.append(pcapng_block(6, struct.pack("<IIIII", 0, stamp >> 32, stamp & 0xFFFFFFFF, len(data),
                                                  len(data)) + data))
    path.write_bytes(b"".join(blocks))
    return path


# -- a long-running probe (issue 16): a segment of many steady groups ----------------------

def steady_segment(groups: int, seconds: int, start: float = T0, passphrase: bytes = b"s3cret"):
    """(time, frame) of `groups` CARP masters (FreeBSD-style, vhid 1..groups, each on its own
    VIP 198.51.100.<vhid>) advertising once a second for `seconds`, in time order: a week of a
    busy segment for the probe's memory test, generated lazily (nothing is kept)."""
    key = bsd_key(passphrase)
    nodes = [Node("192.0.2.%d" % (1 + n % 250), 1 + n, key, ["198.51.100.%d" % (1 + n)],
                  real_mac="02:00:00:00:%02x:%02x" % (n // 250, 1 + n % 250)) for n in range(groups)]
    for node in nodes:  # each master's claims once, as it takes over
        for i, frame in enumerate(takeover(node, start)):
            yield start + node.vhid * 0.001 + i * 0.0001, frame
    for s in range(1, seconds):
        for node in nodes:
            yield start + s + node.vhid * 0.001, node.advert()


# -- one frame builder for every test and bench/ (issue 18) -----------------------------
# The header variants the test modules and bench/ once built their own way: IPv4
# without DF or with a length that lies, several VLAN tags, pcap and pcapng pieces.
# Addresses may be text or packed bytes (bench/ keeps packed ones).

def as_mac(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else mac(value)


def as_ip(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else ip(value)


def mac_text(value: bytes) -> str:
    return ":".join(f"{b:02x}" for b in value)


def ethernet(src: str | bytes, dst: str | bytes, ethertype: int, payload: bytes,
             tags: Sequence[tuple[int, int]] = ()) -> bytes:
    """An Ethernet frame in any number of 802.1Q/802.1ad tags, each (TPID, VID), outermost first."""
    tagged = b"".join(struct.pack("!HH", tpid, vid) for tpid, vid in tags)
    return as_mac(dst) + as_mac(src) + tagged + struct.pack("!H", ethertype) + payload


def ipv4_header(src: str | bytes, dst: str | bytes, proto: int, payload_len: int, *, ttl: int = 255,
                tos: int = 0, ident: int = 0, df: bool = False, length: int | None = None,
                checksum: bool = True) -> bytes:
    """A 20-byte IPv4 header; `length` overrides the total length, checksum=False leaves it 0."""
    total = 20 + payload_len if length is None else length
    head = struct.pack("!BBHHHBBH4s4s", 0x45, tos, total, ident, 0x4000 if df else 0, ttl, proto, 0,
                       as_ip(src), as_ip(dst))
    return head[:10] + cksum(head).to_bytes(2, "big") + head[12:] if checksum else head


def ipv4_packet(src: str | bytes, dst: str | bytes, proto: int, payload: bytes, **options) -> bytes:
    """IPv4 with ipv4_header's options (by default no DF, TOS 0, ident 0: dpkt's defaults)."""
    return ipv4_header(src, dst, proto, len(payload), **options) + payload


def hop_by_hop(next_header: int) -> bytes:
    """An empty 8-byte IPv6 hop-by-hop options header (PadN only)."""
    return struct.pack("!BB6x", next_header, 0)


def carp_advert(vhid: int, advskew: int = 0, advbase: int = 1, counter: int = 0, md: bytes = bytes(20),
                *, corrupt: bool = False) -> bytes:
    """carp_header with demote 0; `corrupt` flips checksum bits (0x0F0F) so it fails."""
    head = carp_header(vhid, advbase, advskew, 0, counter, md)
    if not corrupt:
        return head
    return head[:6] + (int.from_bytes(head[6:8], "big") ^ 0x0F0F).to_bytes(2, "big") + head[8:]


def pcap_header(snaplen: int = 262144, linktype: int = 1) -> bytes:
    """A little-endian microsecond pcap file header."""
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype)


def pcap_record(sec: int, usec: int, data: bytes, caplen: int | None = None, wirelen: int | None = None) -> bytes:
    """One pcap record; caplen and wirelen default to the data's length (a lying caplen: pass it)."""
    size = len(data)
    return struct.pack("<IIII", sec, usec, size if caplen is None else caplen,
                       size if wirelen is None else wirelen) + data


def pcap_bytes(frames: Iterable[tuple[float, bytes]], snaplen: int = 262144, linktype: int = 1) -> bytes:
    """Frames (time, bytes) as a microsecond pcap, in memory (times rounded as write_pcap does)."""
    return b"".join([pcap_header(snaplen, linktype), *(pcap_record(*_stamp(t), data) for t, data in frames)])


def pcapng_section() -> bytes:
    """A little-endian section header block of unknown length."""
    return pcapng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))


def pcapng_interface(linktype: int = 1, snaplen: int = 262144, options: bytes = b"") -> bytes:
    return pcapng_block(1, struct.pack("<HHI", linktype, 0, snaplen) + options)


def pcapng_packet(iface: int, stamp: int, data: bytes) -> bytes:
    """An enhanced packet block; `stamp` in the interface's units (microseconds by default)."""
    return pcapng_block(6, struct.pack("<IIIII", iface, stamp >> 32, stamp & 0xFFFFFFFF, len(data), len(data)) + data)


def ipv6_header(src: str | bytes, dst: str | bytes, next_header: int, payload_len: int, *, hlim: int = 255,
                flow: int = 0) -> bytes:
    """A 40-byte IPv6 header with a flow label (bench/ gives each host its own)."""
    return struct.pack("!IHBB16s16s", 6 << 28 | (flow & 0xFFFFF), payload_len, next_header, hlim,
                       as_ip(src), as_ip(dst))


def gratuitous_arp(vip: str | bytes, sender_mac: str | bytes, tags: Sequence[tuple[int, int]] = ()) -> bytes:
    """garp's request in any number of VLAN tags, each (TPID, VID); packed arguments welcome (bench/)."""
    sender = as_mac(sender_mac)
    body = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + sender + as_ip(vip) + bytes(6) + as_ip(vip)
    return ethernet(sender, b"\xff" * 6, 0x0806, body, tags)


# -- the timeline pictures (issue 17): a long quiet capture, a hostile one -------------------

def long_quiet_failover(hours: float = 3.0, advbase: int = 30) -> list[tuple[float, bytes]]:
    """Hours of one quiet master (advbase 30) with one failover two thirds of the way:
    A (advskew 0) stops, B (advskew 100) takes over 3 x 30 + 100/256 s after A's last advert."""
    key = bsd_key(b"s3cret")
    vips = ["192.0.2.50"]
    a = Node("192.0.2.1", 1, key, vips, advbase=advbase, real_mac="02:00:00:00:00:01")
    b = Node("192.0.2.2", 1, key, vips, advbase=advbase, advskew=100, real_mac="02:00:00:00:00:02")
    stop = T0 + hours * 3600 * 2 / 3
    last_a = T0 + advbase * int((stop - T0) // advbase)
    return merged(adverts(a, T0, stop), adverts(b, last_a + 3 * advbase + 100 / 256, T0 + hours * 3600))


def hostile_vrrp(auth: bytes = b"<script>") -> list[tuple[float, bytes]]:
    """Two VRRPv2 routers of vrid 9 whose simple-text passwords (auth type 1) differ: one's is
    markup, the other's carries an HTML entity and control bytes; they end in a split brain."""
    frames = []
    for t in every(T0, T0 + 12, 1.0):
        frames.append((t, ip_frame("02:00:00:00:00:03", "192.0.2.3", CARP_V4_GROUP, 112,
                                   vrrp2(9, 150, ["192.0.2.90"], auth_type=1, auth_data=auth))))
        if t >= T0 + 4:
            frames.append((t + 0.5, ip_frame("02:00:00:00:00:04", "192.0.2.4", CARP_V4_GROUP, 112,
                                             vrrp2(9, 100, ["192.0.2.90"], auth_type=1,
                                                   auth_data=b"&lt;\x1b[2J"))))
    return frames


# -- vantage points (issue 15): the same segment captured at two points ----------------------

def at_two_points(lose: tuple[float, float] | None = (5.5, 18.7), skew: float = 0.0, tag_second: int | None = None
                  ) -> tuple[list[tuple[float, bytes]], list[tuple[float, bytes]]]:
    """multicast_loss_proto112 as captured on A's interface and on B's.

    A (192.0.2.1) sees every frame; B misses A's adverts sent within `lose` (seconds
    after T0; None: it misses none). B's clock runs `skew` seconds ahead; with
    `tag_second` B's capture holds the frames with that 802.1Q tag (the link layer
    differs, the bytes from the IP header on do not).
    """
    frames = multicast_loss_proto112()
    at_a, at_b = [], []
    for t, data in frames:
        at_a.append((t, data))
        from_a = data[26:30] == ip("192.0.2.1")
        if from_a and lose is not None and lose[0] <= t - T0 <= lose[1]:
            continue
        if tag_second is not None:
            data = data[:12] + b"\x81\x00" + tag_second.to_bytes(2, "big") + data[12:]
        at_b.append((t + 0.0004 + skew, data))
    return at_a, at_b


def sll2(data: bytes, ifindex: int, pkttype: int = 0) -> bytes:
    """An Ethernet frame as Linux `any` captures it (LINKTYPE_LINUX_SLL2 = 276) on interface `ifindex`."""
    header = (data[12:14] + bytes(2) + ifindex.to_bytes(4, "big") + (1).to_bytes(2, "big")
              + bytes([pkttype, 6]) + data[6:12] + bytes(2))
    return header + data[14:]
