"""Benchmark captures for carpscope: a big mixed LAN capture and a dense CARP one.

Why two captures: "mixed" measures the common case (a long LAN capture where
protocol 112 is a needle in a haystack, so reading and filtering dominate);
"adverts" measures the opposite (every frame is decoded, HMAC-verified and fed
to the election tracker).

Why it is built this way: a 3,000,000-frame capture has to be written in seconds,
so no frame is assembled field by field in the hot loop. A few hundred frame
templates are built once (with correct IP/TCP/UDP checksums) and each pcap record
is a packed timestamp plus a template's bytes; TCP and DNS templates patch only
seq/ack or the DNS id and update their checksum incrementally. The recorded
protocol-112 frames are copied as they are. Only the CARP adverts of the
"adverts" capture need real per-frame work (counter, HMAC, two checksums).

Usage: python bench/gen.py DIR [--frames N] [--adverts M] [--check]
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import hmac
import ipaddress
import os
import random
import struct
import subprocess
import sys
import time

import dpkt

TESTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests")
sys.path.insert(0, TESTS)
import stacks  # noqa: E402  (the tests' frame builder: one for tests and bench/)
from stacks import cksum, ip, ipv4_header, mac  # noqa: E402

UCARP_FAILOVER = os.path.join(TESTS, "data", "ucarp_failover.pcap")
PUBLIC_VRRP = os.path.join(TESTS, "data", "tcpdump-vrrp.pcap")

T0_US = 1_795_000_000 * 1_000_000  # 2026-11-18 UTC: recent, and clearly synthetic
PCAP_HEADER = stacks.pcap_header()  # µs, Ethernet
BATCH = 65536  # records joined per write()


# ---------------------------------------------------------------------------
# Small frame builders (run a few hundred times in total, so clarity wins)
# ---------------------------------------------------------------------------

def l4_checksummed(l4: bytes, csum_at: int, pseudo: bytes) -> bytes:
    c = cksum(pseudo + l4)
    if c == 0 and csum_at == 6:  # UDP sends 0 as 0xffff
        c = 0xFFFF
    return l4[:csum_at] + struct.pack("!H", c) + l4[csum_at + 2:]


def ip_headers(src_mac: bytes, dst_mac: bytes, src: bytes, dst: bytes, proto: int,
               l4_len: int, ident: int) -> tuple[bytes, bytes]:
    """Ethernet + IPv4 or IPv6 header (picked from the address length), and the L4 pseudo-header."""
    if len(src) == 4:
        pseudo = struct.pack("!4s4sBBH", src, dst, 0, proto, l4_len)
        ip4h = ipv4_header(src, dst, proto, l4_len, ident=ident, ttl=64, df=True)
        return stacks.ethernet(src_mac, dst_mac, 0x0800, ip4h), pseudo
    pseudo = struct.pack("!16s16sIxxxB", src, dst, l4_len, proto)
    ip6h = stacks.ipv6_header(src, dst, proto, l4_len, hlim=64, flow=ident)
    return stacks.ethernet(src_mac, dst_mac, 0x86DD, ip6h), pseudo


def ip_frame(src_mac: bytes, dst_mac: bytes, src: bytes, dst: bytes, proto: int,
             l4: bytes, csum_at: int, ident: int) -> bytes:
    """A whole frame with every checksum right."""
    head, pseudo = ip_headers(src_mac, dst_mac, src, dst, proto, len(l4), ident)
    return head + l4_checksummed(l4, csum_at, pseudo)


def ones_sum(data: bytes) -> int:
    """One's complement sum folded to 16 bits (not inverted): the base for incremental checksums."""
    return ~cksum(data) & 0xFFFF


def tcp_segment(sport: int, dport: int, seq: int, ack: int, payload: bytes, tsval: int) -> bytes:
    """TCP with the timestamp option (32-byte header), as Linux sends it."""
    flags = 0x18 if payload else 0x10  # PSH+ACK or ACK
    opts = b"\x01\x01\x08\x0a" + struct.pack("!II", tsval, tsval - 7)
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 8 << 4, flags, 502, 0, 0) + opts + payload


def udp_datagram(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def dns_name(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"


def dns_query(ident: int, name: str) -> bytes:
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + dns_name(name) + b"\x00\x01\x00\x01"


def dns_answer(ident: int, name: str, addrs: list[bytes]) -> bytes:
    out = struct.pack("!HHHHHH", ident, 0x8180, 1, len(addrs), 0, 0) + dns_name(name) + b"\x00\x01\x00\x01"
    for a in addrs:
        out += b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 300, 4) + a
    return out


def filler(rng: random.Random, n: int) -> bytes:
    return rng.randbytes(n)


# ---------------------------------------------------------------------------
# Background traffic for the mixed capture
# ---------------------------------------------------------------------------

# Background traffic comes in exchanges, each a short run of frames of one flow, so
# every TCP connection and DNS client behaves like a real one (no storm of duplicate
# ACKs or retransmissions for tshark to chew on). (exchange, weight, frame kinds):
# the mix averages ~475 bytes/frame, like an office LAN: a third bare ACKs, a fifth
# full-sized segments, the rest small requests, DNS and UDP.
EXCHANGES = [
    ("bulk4", 13, ["tcp4-mss", "tcp4-mss", "tcp4-ack"]),      # download: 2 segments, 1 ACK
    ("bulk6", 2, ["tcp6-mss", "tcp6-mss", "tcp6-ack"]),
    ("request4", 10, ["tcp4-250", "tcp4-590", "tcp4-ack"]),  # request, response, ACK
    ("chat4", 20, ["tcp4-154", "tcp4-srvack"]),              # keystrokes/RPC and their ACK
    ("dns", 10, ["dns-query", "dns-answer"]),
    ("udp", 4, ["udp4-1242"]),
]
VARIANTS = 61  # hosts per kind: each is its own TCP connection / DNS client / UDP flow
MASK32 = 0xFFFFFFFF


def tcp_template(head: bytes, pseudo: bytes, seg: bytes, flow: list[int], to_server: bool):
    """A callable returning the next record tail of a TCP connection.

    Why not a fixed frame: a TCP connection whose segments repeat the same sequence
    numbers thousands of times is a retransmission storm to tshark, whose TCP
    analysis then slows down quadratically. So seq/ack advance per segment
    (flow = [client next seq, server next seq]) and the checksum is updated
    incrementally from the sum of the template with seq = ack = 0.
    """
    size = len(seg) - 32  # payload bytes
    base = ones_sum(pseudo + seg)
    lead = struct.pack("<II", len(head) + len(seg), len(head) + len(seg)) + head + seg[:4]
    pack = struct.Struct("!II4sH").pack
    mid, post = seg[12:16], seg[18:]
    me, peer = (0, 1) if to_server else (1, 0)

    def tail() -> bytes:
        seq, ack = flow[me], flow[peer]
        flow[me] = (seq + size) & MASK32
        c = base + (seq >> 16) + (seq & 0xFFFF) + (ack >> 16) + (ack & 0xFFFF)
        c = (c & 0xFFFF) + (c >> 16)
        c = (c & 0xFFFF) + (c >> 16)
        return lead + pack(seq, ack, mid, ~c & 0xFFFF) + post

    return tail


def dns_template(head: bytes, pseudo: bytes, dgram: bytes, flow: list[int], query: bool):
    """A callable returning the next DNS query (new transaction id) or its answer."""
    base = ones_sum(pseudo + dgram)
    lead = struct.pack("<II", len(head) + len(dgram), len(head) + len(dgram)) + head + dgram[:6]
    pack = struct.Struct("!HH").pack
    post = dgram[10:]

    def tail() -> bytes:
        if query:
            flow[0] = (flow[0] + 1) & 0xFFFF
        ident = flow[0]
        c = base + ident
        c = (c & 0xFFFF) + (c >> 16)
        return lead + pack((~c & 0xFFFF) or 0xFFFF, ident) + post

    return tail


def background_templates(rng: random.Random) -> dict[str, list]:
    """For each background kind, VARIANTS record tails: bytes, or callables for live flows."""
    router = mac("02:00:5e:10:00:01")
    out: dict[str, list] = {k: [] for _, _, kinds in EXCHANGES for k in kinds}
    for v in range(VARIANTS):
        host_mac = mac("02:00:00:10:%02x:%02x" % (v // 256, v % 256 + 1))
        h4, s4 = ip(f"10.20.{v % 8}.{10 + v}"), ip(f"198.51.100.{1 + v % 50}")
        h6, s6 = ip(f"2001:db8:20::{10 + v:x}"), ip(f"2001:db8:ff::{1 + v % 50:x}")
        eph, srv = 40000 + rng.randrange(20000), 9000 + v % 5  # ports no dissector claims
        ts, ident = rng.getrandbits(31) + 1000, rng.getrandbits(16)
        flow4 = [rng.getrandbits(32), rng.getrandbits(32)]
        flow6 = [rng.getrandbits(32), rng.getrandbits(32)]

        def tcp(flow, to_server, src, dst, payload_len):
            sport, dport = (eph, srv) if to_server else (srv, eph)
            macs = (host_mac, router) if to_server else (router, host_mac)
            seg = tcp_segment(sport, dport, 0, 0, filler(rng, payload_len), ts)
            head, pseudo = ip_headers(*macs, src, dst, 6, len(seg), ident)
            return tcp_template(head, pseudo, seg, flow, to_server)

        out["tcp4-ack"].append(tcp(flow4, True, h4, s4, 0))
        out["tcp6-ack"].append(tcp(flow6, True, h6, s6, 0))
        out["tcp4-mss"].append(tcp(flow4, False, s4, h4, 1448))
        out["tcp6-mss"].append(tcp(flow6, False, s6, h6, 1428))
        out["tcp4-590"].append(tcp(flow4, False, s4, h4, 524))
        out["tcp4-250"].append(tcp(flow4, True, h4, s4, 184))
        out["tcp4-154"].append(tcp(flow4, True, h4, s4, 88))
        out["tcp4-srvack"].append(tcp(flow4, False, s4, h4, 0))

        name = ["www.example.com", "mail.example.org", "cdn.example.net", "ntp.example.com"][v % 4]
        resolver = ip("10.20.0.53")
        dns_flow = [rng.getrandbits(16)]
        query = udp_datagram(eph, 53, dns_query(0, name))
        head, pseudo = ip_headers(host_mac, router, h4, resolver, 17, len(query), ident)
        out["dns-query"].append(dns_template(head, pseudo, query, dns_flow, True))
        answer = udp_datagram(53, eph, dns_answer(0, name, [ip(f"203.0.113.{1 + (v + i) % 200}") for i in range(5)]))
        head, pseudo = ip_headers(router, host_mac, resolver, h4, 17, len(answer), ident)
        out["dns-answer"].append(dns_template(head, pseudo, answer, dns_flow, False))

        # a leading zero byte: random data would look like RTCP (version 2) to tshark's heuristics
        out["udp4-1242"].append(record_tail(ip_frame(router, host_mac, s4, h4, 17,
                                                     udp_datagram(srv + 100, eph, b"\0" + filler(rng, 1199)), 6,
                                                     ident)))
    return out


def record_tail(frame: bytes) -> bytes:
    """The part of a pcap record after the timestamp: caplen, len, frame bytes."""
    return struct.pack("<II", len(frame), len(frame)) + frame


# ---------------------------------------------------------------------------
# Protocol-112 stream for the mixed capture: recorded adverts, re-timed
# ---------------------------------------------------------------------------

def read_pcap(path: str) -> list[tuple[int, bytes]]:
    with open(path, "rb") as f:
        return [(round(ts * 1_000_000), bytes(buf)) for ts, buf in dpkt.pcap.Reader(f)]


def is_proto112(frame: bytes) -> bool:
    eth = frame[12:14]
    return (eth == b"\x08\x00" and frame[23] == 112) or (eth == b"\x86\xdd" and frame[20] == 112)


UCARP_KEY, UCARP_VIP = b"correct horse", ip("192.0.2.100")  # tests/data/README.md
REPLAY_STEP = 1 << 32  # counters of the n-th replay are moved on by n * REPLAY_STEP


def cycled(frames: list[tuple[int, bytes]], start_us: int, gap_us: int, recount=None):
    """Replay a recording over and over, keeping its own spacing, `gap_us` between replays.

    `recount(frame, n)` rewrites a frame for its n-th replay (see `recounted`).
    """
    first, last = frames[0][0], frames[-1][0]
    period = last - first + gap_us
    n = 0
    while True:
        base = start_us + n * period - first
        for ts, buf in frames:
            yield base + ts, (recount(buf, n) if recount and n else buf)
        n += 1


def recounted(frame: bytes, n: int) -> bytes:
    """A recorded ucarp advert as its n-th replay: counter moved on, HMAC and checksum redone.

    Replayed as recorded, every replay would repeat old counters, which carpscope
    rightly reports as replayed adverts (docs/protocol.md §3) and which no real capture
    of a running pair shows. Each ucarp advert is signed with `correct horse` over
    02 01 vhid VIP counter (docs/protocol.md §2.1); anything else is kept as recorded.
    """
    p = 34
    if not (is_proto112(frame) and frame[12:14] == b"\x08\x00" and frame[14] == 0x45 and len(frame) >= p + 36):
        return frame
    head = b"\x02\x01" + frame[p + 1 : p + 2] + UCARP_VIP
    counter = frame[p + 8 : p + 16]
    if hmac.new(UCARP_KEY, head + counter, hashlib.sha1).digest() != frame[p + 16 : p + 36]:
        return frame
    counter = ((int.from_bytes(counter, "big") + n * REPLAY_STEP) % (1 << 64)).to_bytes(8, "big")
    carp = frame[p : p + 6] + b"\0\0" + counter + hmac.new(UCARP_KEY, head + counter, hashlib.sha1).digest()
    carp = carp[:6] + struct.pack("!H", cksum(carp)) + carp[8:]
    return frame[:p] + carp + frame[p + 36 :]


def special_stream(n112: int):
    """Time-ordered (µs, frame) list holding exactly n112 protocol-112 frames.

    ucarp_failover (A master, A dies, B takes over, with GARPs) replayed every
    ~18 s — B's silence between replays reads as a master-down, then A comes back;
    its counters move on from one replay to the next — merged with the public VRRP v2/v3 recording
    replayed every ~5.7 min.
    """
    carp = cycled(read_pcap(UCARP_FAILOVER), T0_US + 500_000, 4_000_000, recounted)
    vrrp = cycled(read_pcap(PUBLIC_VRRP), T0_US + 2_000_000, 30_000_000)
    out, count = [], 0
    for ts, buf in heapq.merge(carp, vrrp, key=lambda e: e[0]):
        if count == n112:
            break
        out.append((ts, buf))
        count += is_proto112(buf)
    return out


def write_mixed(path: str, frames: int, seed: int = 112) -> dict:
    """The mixed capture: `frames` frames, 1% protocol 112, ~475 bytes/frame."""
    if frames < 1000:
        raise ValueError("the mixed capture needs at least 1000 frames")
    rng = random.Random(seed)
    specials = special_stream(frames // 100)
    if len(specials) > frames:
        raise ValueError(f"--frames {frames} is too small")
    bg = background_templates(rng)
    # which template each background frame uses: ~BATCH frames of whole exchanges, repeated
    pattern = []
    while len(pattern) < BATCH:
        _, _, kinds = rng.choices(EXCHANGES, [w for _, w, _ in EXCHANGES])[0]
        v = rng.randrange(VARIANTS)
        pattern += [bg[k][v] for k in kinds]
    plen = len(pattern)
    special_tails = [(ts, record_tail(buf)) for ts, buf in specials]

    ts_pack = struct.Struct("<II").pack
    n_special = len(special_tails)
    # The k-th special frame sits at frame index (2k+1)*frames // (2*n_special); the
    # background frames between two specials share the time between them evenly.
    positions = [((2 * k + 1) * frames) // (2 * n_special) for k in range(n_special)] + [frames]
    times = [t for t, _ in special_tails]
    first_gap = (times[1] - times[0]) if n_special > 1 else 1_000_000
    times = [times[0] - first_gap] + times + [times[-1] + first_gap]
    tails = [b""] + [tail for _, tail in special_tails]

    total_bytes = 0
    with open(path, "wb") as f:
        f.write(PCAP_HEADER)
        chunk = []
        i = 0  # frame index
        for k in range(n_special + 1):
            # background frames up to (not including) the next special frame
            stop = positions[k]
            t_prev, t_next = times[k], times[k + 1]
            gap = stop - i
            if gap > 0:
                step = (t_next - t_prev) / (gap + 1)
                for j in range(1, gap + 1):
                    t = t_prev + int(j * step)
                    tail = pattern[i % plen]
                    chunk.append(ts_pack(t // 1_000_000, t % 1_000_000))
                    chunk.append(tail if tail.__class__ is bytes else tail())
                    i += 1
            if k < n_special:
                t = times[k + 1]
                chunk.append(ts_pack(t // 1_000_000, t % 1_000_000))
                chunk.append(tails[k + 1])
                i += 1
            if len(chunk) >= 2 * BATCH:
                data = b"".join(chunk)
                total_bytes += len(data)
                f.write(data)
                chunk = []
        data = b"".join(chunk)
        total_bytes += len(data)
        f.write(data)
    assert i == frames, (i, frames)
    n112 = sum(is_proto112(b) for _, b in specials)
    wire = total_bytes - 16 * frames
    return {"frames": frames, "proto112": n112, "garp": n_special - n112,
            "avg_frame": wire / frames, "bytes": total_bytes + len(PCAP_HEADER),
            "span_s": (times[-2] - times[1]) / 1e6}


# ---------------------------------------------------------------------------
# The adverts capture: synthetic CARP groups with valid checksums and HMACs
# ---------------------------------------------------------------------------

class Group:
    """One CARP group: a master/backup pair, its passphrase, VIPs and history.

    style: "openbsd" — constant per-node counter (replay cookie), TOS 0x10, and a
           graceful shutdown sends a bow-out advert (advbase 255, advskew 255);
           "freebsd" — random counters until the node has heard a peer, then the
           last heard counter + 1, +2 …; TOS 0xE0 (DSCP CS7);
           "ucarp"  — as freebsd, TOS 0x10, advert source MAC 00:00:5e:00:00:vhid
           and GARPs from the node's real MAC.
    failovers: list of (fraction of the capture, "crash" | "bowout").
    (docs/protocol.md §1.3, §1.4, §3, §4.4)
    """

    def __init__(self, vhid, style, passphrase, advbase, vips, failovers, skews=(0, 100),
                 heard_peer=False):
        self.vhid, self.style, self.advbase = vhid, style, advbase
        self.key = passphrase.encode()
        self.vips = sorted(ip(v) for v in vips)  # ascending numeric order (§2.3)
        self.failovers = failovers
        self.skews = skews
        self.heard_peer = heard_peer  # FreeBSD-style node that already counts up at t=0
        self.nodes = [ip(f"10.8.{vhid}.2"), ip(f"10.8.{vhid}.3")]
        self.real_macs = [mac(f"02:00:00:08:{vhid:02x}:0a"), mac(f"02:00:00:08:{vhid:02x}:0b")]
        prefix = "00:00:5e:00:00" if style == "ucarp" else "00:00:5e:00:01"
        self.virtual_mac = mac(f"{prefix}:{vhid:02x}")
        self.tos = 0xE0 if style == "freebsd" else 0x10
        self.mac_ctx = hmac.new(self.key, b"\x02\x01" + bytes([vhid]) + b"".join(self.vips), hashlib.sha1)

    def md(self, counter: bytes) -> bytes:
        h = self.mac_ctx.copy()
        h.update(counter)
        return h.digest()

    def interval_us(self, node: int) -> int:
        return self.advbase * 1_000_000 + self.skews[node] * 1_000_000 // 256

    def down_us(self, node: int) -> int:
        """Master-down time of `node` as backup: 3*advbase + advskew/256 (BSD, ucarp)."""
        return 3 * self.advbase * 1_000_000 + self.skews[node] * 1_000_000 // 256


MCAST_MAC, CARP_GROUP = mac("01:00:5e:00:00:12"), ip("224.0.0.18")


def advert_frame(g: Group, node: int, counter: bytes, ident: int, advbase=None, advskew=None) -> bytes:
    advbase = g.advbase if advbase is None else advbase
    advskew = g.skews[node] if advskew is None else advskew
    carp = stacks.carp_header(g.vhid, advbase, advskew, 0, int.from_bytes(counter, "big"), g.md(counter))
    ip = ipv4_header(g.nodes[node], CARP_GROUP, 112, 36, ident=ident, tos=g.tos, df=True)
    return stacks.ethernet(g.virtual_mac, MCAST_MAC, 0x0800, ip + carp)


def garp_frames(g: Group, node: int) -> list[bytes]:
    """Gratuitous ARP requests (who-has VIP tell VIP), one per VIP, at takeover."""
    src = g.real_macs[node] if g.style == "ucarp" else g.virtual_mac
    return [stacks.garp(str(ipaddress.ip_address(vip)), stacks.mac_text(src)) for vip in g.vips]


def group_events(g: Group, span_us: int, start_us: int, rng: random.Random):
    """(µs, is_advert, frame) for one group over span_us, in time order."""
    events = []
    master = 0
    t = start_us

    def jitter() -> int:
        return rng.randrange(1500)  # timer slop, µs

    # counter state per node: a constant cookie (OpenBSD) or None = random until a peer was heard
    if g.style == "openbsd":
        cookie = [rng.randbytes(8), rng.randbytes(8)]
    counter = rng.getrandbits(64) if g.heard_peer else None
    changes = [(start_us + int(f * span_us), how) for f, how in g.failovers] + [(start_us + span_us, "end")]

    def send(node, ts, **kw):
        nonlocal counter
        if g.style == "openbsd":
            ctr = cookie[node]
        else:
            if counter is None:
                ctr = rng.randbytes(8)
            else:
                counter = (counter + 1) & (2**64 - 1)
                ctr = counter.to_bytes(8, "big")
        events.append((ts, True, advert_frame(g, node, ctr, rng.getrandbits(16), **kw)))
        return ctr

    # the first master comes up: advert, then GARP(s)
    last = send(master, t)
    for fr in garp_frames(g, master):
        events.append((t + 20, False, fr))
    for change_at, how in changes:
        n = 1
        base = t
        while base + n * g.interval_us(master) < change_at:
            last = send(master, base + n * g.interval_us(master) + jitter())
            n += 1
        t = base + (n - 1) * g.interval_us(master)
        if how == "end":
            break
        backup = 1 - master
        if g.style != "openbsd":
            # the backup heard every advert: it continues from the last counter it saw
            counter = int.from_bytes(last, "big")
        if how == "bowout":
            t += g.interval_us(master) + jitter()
            send(master, t, advbase=255, advskew=255)
            t += 300 + jitter()  # the backup takes over as soon as it sees the bow-out
        else:  # crash: the backup waits for its master-down timer
            t += g.down_us(backup) + jitter()
        master = backup
        last = send(master, t)
        for fr in garp_frames(g, master):
            events.append((t + 20, False, fr))
    return events


def default_groups() -> list[Group]:
    """8 vhids: OpenBSD, FreeBSD and ucarp styles; passphrases alpha and bravo."""
    return [
        Group(1, "openbsd", "alpha", 1, ["10.8.1.1"], [(0.40, "crash")]),
        Group(2, "openbsd", "alpha", 1, ["10.8.2.1"], [(0.25, "bowout"), (0.70, "crash")]),
        Group(3, "freebsd", "alpha", 1, ["10.8.3.1"], [(0.50, "crash")]),
        Group(4, "freebsd", "alpha", 2, ["10.8.4.1"], [(0.30, "crash"), (0.80, "crash")]),
        Group(5, "openbsd", "bravo", 1, ["10.8.5.1", "10.8.5.200"], [(0.60, "crash")], skews=(10, 50)),
        Group(6, "freebsd", "bravo", 1, ["10.8.6.1"], [(0.45, "crash")], heard_peer=True),
        Group(7, "ucarp", "bravo", 1, ["10.8.7.1"], [(0.35, "crash")]),
        Group(8, "freebsd", "bravo", 3, ["10.8.8.1"], [(0.20, "crash"), (0.65, "crash")], skews=(0, 20)),
    ]


def write_adverts(path: str, adverts: int, seed: int = 7) -> dict:
    """The adverts capture: exactly `adverts` CARP adverts plus the takeover GARPs."""
    groups = default_groups()
    # adverts per second, at worst (the slower node of each pair is master)
    rate = sum(1_000_000 / max(g.interval_us(0), g.interval_us(1)) for g in groups)
    span_us = int(adverts / rate * 1_000_000) + 10_000_000
    for _ in range(4):
        # Failovers sit at fractions of the span, so the span must be about what the
        # cut at `adverts` keeps: scale it until the streams hold just enough adverts.
        rng = random.Random(seed)
        streams = [group_events(g, span_us, T0_US + 137_000 * i, rng) for i, g in enumerate(groups)]
        have = sum(is_adv for s in streams for _, is_adv, _ in s)
        if adverts <= have <= adverts * 1.002 + 16:
            break
        span_us = int(span_us * (adverts * 1.001 + 8) / have)
    ts_pack = struct.Struct("<II").pack
    n_adv = n_other = 0
    with open(path, "wb") as f:
        f.write(PCAP_HEADER)
        chunk = []
        for ts, is_adv, frame in heapq.merge(*streams, key=lambda e: e[0]):
            if n_adv == adverts:
                break
            chunk.append(ts_pack(ts // 1_000_000, ts % 1_000_000) + record_tail(frame))
            n_adv += is_adv
            n_other += not is_adv
            if len(chunk) >= BATCH:
                f.write(b"".join(chunk))
                chunk = []
        f.write(b"".join(chunk))
    if n_adv < adverts:
        raise RuntimeError(f"generated only {n_adv} adverts")
    return {"frames": n_adv + n_other, "adverts": n_adv, "garp": n_other, "bytes": os.path.getsize(path)}


REPLAYED = 4  # recorded adverts of each group a replay storm resends


def write_replay(path: str, adverts: int, seed: int = 7, recorded: int = REPLAYED) -> dict:
    """The replay storm (issue 19): `adverts` adverts, each a replay of a few recorded ones.

    The first `recorded` adverts of each group of the adverts capture (signed and
    checksummed; FreeBSD and ucarp counters differ from one to the next), after one
    round of the masters' gratuitous ARPs, sent again in turn every 5 ms with their
    own bytes: what an attacker resending captured adverts, or a loop, puts on a
    segment. Each advert repeats one its sender sent before, but not its last one.
    """
    groups = default_groups()
    rng = random.Random(seed)
    streams = [group_events(g, 60_000_000, T0_US + 137_000 * i, rng) for i, g in enumerate(groups)]
    kept: dict[bytes, list[bytes]] = {}
    for _ts, is_adv, frame in heapq.merge(*streams, key=lambda e: e[0]):
        if is_adv:
            sender = frame[26:30]  # the IPv4 source
            if len(kept.setdefault(sender, [])) < recorded:
                kept[sender].append(frame)
    order = [frame for i in range(recorded) for frames in kept.values() if i < len(frames)
             for frame in frames[i : i + 1]]
    claims = [frame for g in groups for frame in garp_frames(g, 0)]
    ts_pack = struct.Struct("<II").pack
    tails = [record_tail(frame) for frame in order]
    with open(path, "wb") as f:
        f.write(PCAP_HEADER)
        chunk = [ts_pack(T0_US // 1_000_000, i) + record_tail(frame) for i, frame in enumerate(claims)]
        for i in range(adverts):
            ts = T0_US + 1_000 + i * 5_000
            chunk.append(ts_pack(ts // 1_000_000, ts % 1_000_000) + tails[i % len(tails)])
            if len(chunk) >= BATCH:
                f.write(b"".join(chunk))
                chunk = []
        f.write(b"".join(chunk))
    return {"frames": adverts + len(claims), "adverts": adverts, "garp": len(claims), "recorded": len(tails),
            "bytes": os.path.getsize(path)}


# ---------------------------------------------------------------------------
# Validation with the reference tools
# ---------------------------------------------------------------------------

def check(path: str, tshark: bool = True) -> list[str]:
    """Problems tcpdump -T carp -v and tshark see in the capture's protocol-112 frames.

    tcpdump prints "bad carp cksum" for a wrong CARP checksum and "bad cksum" for a
    wrong IPv4 header checksum; tshark marks undecodable frames as malformed and
    (with checksum validation on) flags bad CARP/IP checksums as expert errors.
    """
    problems = []
    out = subprocess.run(["tcpdump", "-n", "-v", "-T", "carp", "-r", path, "ip proto 112 or ip6 proto 112"],
                         capture_output=True, text=True).stdout
    lines = out.count("CARPv2")
    bad = sum("bad carp cksum" in ln or "bad cksum" in ln for ln in out.splitlines())
    if bad:
        problems.append(f"tcpdump: {bad} lines with a bad checksum")
    if not lines:
        problems.append("tcpdump: no CARP advert decoded")
    if tshark:
        out = subprocess.run(["tshark", "-n", "-r", path, "-d", "ip.proto==112,carp",
                              "-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
                              "-o", "udp.check_checksum:TRUE",
                              "-Y", "_ws.malformed or _ws.expert.severity >= error"],
                             capture_output=True, text=True)
        bad_frames = [ln for ln in out.stdout.splitlines() if ln.strip()]
        if bad_frames:
            problems.append(f"tshark: {len(bad_frames)} malformed/error frames, e.g. {bad_frames[0].strip()}")
        if out.returncode:
            problems.append(f"tshark exited {out.returncode}: {out.stderr.strip()[:200]}")
    return problems


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--frames", type=int, default=3_000_000, help="frames in the mixed capture")
    ap.add_argument("--adverts", type=int, default=200_000, help="CARP adverts in the adverts capture")
    ap.add_argument("--check", action="store_true", help="validate both captures with tcpdump and tshark")
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    for name, writer, n in (("mixed", write_mixed, args.frames), ("adverts", write_adverts, args.adverts),
                            ("replay", write_replay, args.adverts)):
        path = os.path.join(args.dir, f"{name}-{n}.pcap")
        t = time.perf_counter()
        info = writer(path, n)
        print(f"{path}: {info} in {time.perf_counter() - t:.1f} s")
        if args.check:
            problems = check(path)
            print("  check:", "; ".join(problems) if problems else "tcpdump and tshark see no problem")
            if problems:
                sys.exit(1)


if __name__ == "__main__":
    main()
