"""Live capture through pcapy-ng: frames as they arrive, ticks when nothing does.

The only place besides files.py that touches libpcap, and the only one that reads
the clock: a read timeout becomes a Tick(now), so the tracker's timeouts fire
while the wire is silent (DESIGN.md, principle 2).
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator

import pcapy

from carpscope.capture.files import set_filter
from carpscope.errors import LiveCaptureError
from carpscope.model import Frame, Tick

SNAPLEN = 256  # Ethernet + two VLAN tags + IPv6 with extension headers + the 36-byte CARP header
TIMEOUT_MS = 100  # how often an idle capture hands the tracker a tick
_BATCH = 64
_META = struct.Struct("=IIII")


def interfaces() -> list[str]:
    """What `carpscope live --list` shows, like `tcpdump -D`."""
    try:
        return list(pcapy.findalldevs())
    except pcapy.PcapError as err:
        raise LiveCaptureError(f"cannot list interfaces: {err}") from None


def open_live(iface: str, user_filter: str | None):
    """Open `iface` promiscuously with the protocol-112 filter; exit 4 errors read well."""
    try:
        reader = pcapy.create(iface)
        reader.set_snaplen(SNAPLEN)
        reader.set_promisc(1)
        reader.set_timeout(TIMEOUT_MS)
        reader.activate()
    except pcapy.PcapError as err:
        raise LiveCaptureError(_explain(iface, str(err))) from None
    set_filter(reader, user_filter)
    return reader


def _explain(iface: str, message: str) -> str:
    lower = message.lower()
    if "permission" in lower or "operation not permitted" in lower:
        return (f"{iface}: {message} (capturing needs root or CAP_NET_RAW: "
                f"run with sudo, or setcap cap_net_raw,cap_net_admin=eip on the python binary)")
    if "no such device" in lower or "doesn't exist" in lower:
        return f"{iface}: no such interface (carpscope live --list shows them)"
    return f"{iface}: {message}"


def stream(reader, iface: str, clock=time.time) -> Iterator[Frame | Tick]:
    """Frames as captured, and a Tick after every idle read timeout."""
    linktype = reader.datalink()
    number = 0
    while True:
        try:
            buf, meta = reader.next_batch(_BATCH)
        except pcapy.PcapError as err:
            raise LiveCaptureError(f"{iface}: capture lost: {err}") from None
        if not meta:
            yield Tick(clock())
            continue
        for sec, usec, offset, caplen in _META.iter_unpack(meta):
            number += 1
            data = buf[offset : offset + caplen]
            yield Frame(number, sec + usec / 1e6, linktype, data, caplen)
