"""The BPF expression `read` and `live` compile (protocol 112, narrowed by the user's -f),
and the program `read` runs per frame for each link type.

One builder for both, because `vlan` shifts the offsets of everything after it
(pcap-filter(7)): a -f like `host 192.0.2.1` has to be repeated at each VLAN depth
along with the protocol test, or it keeps only untagged frames (files.py once did).

No `ip6 protochain`: libpcap runs it in user space (its backward jumps fail the
kernel's checker) and loops for ever on some extension-header chains (issue 20). An
IPv6 frame whose first next header is an extension header passes instead, and the
decoder walks the chain itself, bounded (wire/decode.py).
"""

from __future__ import annotations

import re

import pcapy

from carpscope.errors import LiveCaptureError

# IPv4 protocol 112 (docs/protocol.md §2.1), and VRRPv2 behind an IPv4 AH header (keepalived
# auth_type AH, docs/protocol.md §9.6): protocol 51 whose AH next header (its first byte,
# after the IP header) is 112.
IP4_PARTS = ("ip proto 112", "(ip proto 51 and ip[(ip[0] & 0xf) << 2] == 112)")
# IPv6: 112 right after the IPv6 header, or any chain that starts with an extension
# header (hop-by-hop 0, routing 43, fragment 44, AH 51, destination options 60).
IP6_PARTS = ("ip6 proto 112", "(ip6 and (ip6[6] == 0 or ip6[6] == 43 or ip6[6] == 44 or ip6[6] == 51 "
             "or ip6[6] == 60))")
# What VIP inference needs: ARP and ICMPv6 neighbour advertisements (docs/protocol.md §2.1).
CLAIM_PARTS = ("arp", "(icmp6 and ip6[40] == 136)")

PROTO_FILTER = "(" + " or ".join((*IP4_PARTS, *IP6_PARTS, *CLAIM_PARTS)) + ")"
# Without protochain the same program passes the Linux kernel's checker (live capture).
KERNEL_PROTO_FILTER = PROTO_FILTER

# Keywords that shift the offsets of what follows them: a -f that names one says
# where the packet starts itself (`vlan 20` on QinQ), so it is applied once, first.
_ENCAPSULATION = re.compile(r"(?<![\w.-])(?:vlan|mpls|pppoes|geneve)(?![\w.-])")


def capture_filter(user: str | None, vlan: bool = True, kernel: bool = False) -> str:
    """Untagged, then in one VLAN tag, then in two (QinQ); the -f is checked at each depth.

    `vlan=False` for link types without VLAN tags (they cannot compile `vlan`);
    `kernel` is kept for callers: files and live now compile the same program.
    """
    proto = KERNEL_PROTO_FILTER if kernel else PROTO_FILTER
    if user and _ENCAPSULATION.search(user):
        return f"({user}) and ({capture_filter(None, vlan, kernel)})"
    one = f"(({user}) and {proto})" if user else proto
    return f"{one} or (vlan and ({one} or (vlan and {one})))" if vlan else one


# Link types whose header libpcap's BPF offsets match what carpscope decodes; on
# others (Frame Relay variants, say) the decoder alone decides what is protocol 112.
_BPF_LINKTYPES = {0, 1, 12, 14, 101, 108, 113, 228, 229, 276}
# Raw IP under another number: OpenBSD's DLT_RAW (14) and LINKTYPE_RAW compile as
# this platform's DLT_RAW (libpcap refuses "unknown data link type 14").
_RAW_IP = {14: pcapy.DLT_RAW, 101: pcapy.DLT_RAW}


def program(linktype: int, user: str | None):
    """The BPF program that admits a frame of this link type (None: all; the decoder decides).

    A -f that does not compile is a LiveCaptureError (exit 4), as before.
    """
    dlt = _RAW_IP.get(linktype, linktype)
    if linktype not in _BPF_LINKTYPES:
        return _compile(dlt, user, user) if user else None
    try:
        return pcapy.compile(dlt, 262144, capture_filter(user, vlan=True), 1, 0)
    except pcapy.PcapError:
        return _compile(dlt, capture_filter(user, vlan=False), user)


def _compile(dlt: int, expression: str, user: str | None):
    try:
        return pcapy.compile(dlt, 262144, expression, 1, 0)
    except pcapy.PcapError as err:
        raise LiveCaptureError(f"bad capture filter {user or expression!r}: {err}") from None
