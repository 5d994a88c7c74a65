"""The BPF expression `read` and `live` compile: protocol 112, narrowed by the user's -f.

One builder for both, because `vlan` shifts the offsets of everything after it
(pcap-filter(7)): a -f like `host 192.0.2.1` has to be repeated at each VLAN depth
along with the protocol test, or it keeps only untagged frames (files.py once did).
"""

from __future__ import annotations

import re

# Protocol 112 over IPv4 and IPv6 (extension headers included), plus what VIP
# inference needs: ARP and ICMPv6 neighbour advertisements (PROTOCOL.md §2.1).
# VRRPv2 behind an IPv4 AH header (keepalived auth_type AH, PROTOCOL.md §9.6): protocol 51
# whose AH next header (its first byte, after the IP header) is 112.
_AH_112 = "(ip proto 51 and ip[(ip[0] & 0xf) << 2] == 112)"
PROTO_FILTER = f"(ip proto 112 or {_AH_112} or ip6 protochain 112 or arp or (icmp6 and ip6[40] == 136))"

# `ip6 protochain` compiles to backward jumps, which the kernel's BPF checker refuses
# (libpcap then filters every frame in user space); so live capture names the usual
# chains instead: 112 right after the IPv6 header or after one hop-by-hop or
# destination-options header.
_IP6_112 = "ip6 proto 112 or (ip6 and (ip6[6] == 0 or ip6[6] == 60) and ip6[40] == 112)"
KERNEL_PROTO_FILTER = f"(ip proto 112 or {_AH_112} or {_IP6_112} or arp or (icmp6 and ip6[40] == 136))"

# Keywords that shift the offsets of what follows them: a -f that names one says
# where the packet starts itself (`vlan 20` on QinQ), so it is applied once, first.
_ENCAPSULATION = re.compile(r"(?<![\w.-])(?:vlan|mpls|pppoes|geneve)(?![\w.-])")


def capture_filter(user: str | None, vlan: bool = True, kernel: bool = False) -> str:
    """Untagged, then in one VLAN tag, then in two (QinQ); the -f is checked at each depth.

    `vlan=False` for link types without VLAN tags (they cannot compile `vlan`);
    `kernel=True` for a filter the Linux kernel runs (live capture).
    """
    proto = KERNEL_PROTO_FILTER if kernel else PROTO_FILTER
    if user and _ENCAPSULATION.search(user):
        return f"({user}) and ({capture_filter(None, vlan, kernel)})"
    one = f"(({user}) and {proto})" if user else proto
    return f"{one} or (vlan and ({one} or (vlan and {one})))" if vlan else one
