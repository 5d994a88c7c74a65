"""Live capture through pcapy-ng: frames as they arrive, ticks when nothing does.

The only place besides the file readers that touches libpcap, and the only one that reads
the clock: every wake-up ends with a Tick, so the tracker's timeouts fire while the
wire is silent (docs/design.md, principle 2).

Linux hands frames over in TPACKET_V3 blocks, and libpcap 1.9 blocks for ever on
an idle interface whatever the read timeout (an empty block is never retired), so
the handle is non-blocking and select() does the waiting.
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable, Iterator

import pcapy

from carpscope.capture import batch
from carpscope.capture.bpf import capture_filter
from carpscope.capture.linktypes import unsupported
from carpscope.errors import LiveCaptureError
from carpscope.model import Frame, Tick
from carpscope.wire import linklayer

SNAPLEN = 2048  # every header and the whole advert (VRRP's address list) on a 1500-byte MTU
BLOCK_MS = 20  # the kernel hands over a block with frames in it at least this often
LAG = 0.05  # a frame captured longer ago than this has been handed over: a tick may claim it
TICK = 0.1  # how often an idle capture hands the tracker a tick
_BATCH = 256


def interfaces() -> list[str]:
    """What `carpscope live --list` shows, like `tcpdump -D`."""
    try:
        return list(pcapy.findalldevs())
    except pcapy.PcapError as err:
        raise LiveCaptureError(f"cannot list interfaces: {err}") from None


def open_live(iface: str, user_filter: str | None):
    """Open `iface` promiscuously, non-blocking, with the kernel filter; errors read well (exit 4)."""
    try:
        reader = pcapy.open_live(iface, SNAPLEN, 1, BLOCK_MS)
    except pcapy.PcapError as err:
        raise LiveCaptureError(_explain(iface, str(err))) from None
    if reader.datalink() not in linklayer.SUPPORTED:
        raise LiveCaptureError(f"{iface}: {unsupported(reader.datalink())}")
    _set_filter(reader, user_filter)
    reader.setnonblock(1)
    return reader


def _set_filter(reader, user: str | None) -> None:
    """Tagged and untagged; without `vlan` on link types that lack it (Linux "any"); else the -f alone."""
    tagged, untagged = capture_filter(user, kernel=True), capture_filter(user, vlan=False, kernel=True)
    for expression in (tagged, untagged, user):
        if expression is None:
            return  # a link type libpcap cannot filter protocol 112 on: the decoder decides
        try:
            reader.setfilter(expression)
            return
        except pcapy.PcapError as err:
            error = err
    raise LiveCaptureError(f"bad capture filter {user!r}: {error}")


def _explain(iface: str, message: str) -> str:
    message = message.removeprefix(f"{iface}: ")
    lower = message.lower()
    if "permission" in lower or "not permitted" in lower:
        return (f"{iface}: {message}; capturing needs root or CAP_NET_RAW (run it with sudo, or "
                f"setcap cap_net_raw,cap_net_admin=eip on the python interpreter)")
    if "no such device" in lower or "doesn't exist" in lower:
        return f"{iface}: no such interface (carpscope live --list shows them)"
    return f"{iface}: {message}"


def stream(reader, iface: str, clock=time.time, wait=select.select,
           timeout: Callable[[], float | None] = lambda: TICK) -> Iterator[Frame | Tick]:
    """Frames as captured, each wake-up ending with a Tick; LiveCaptureError if the interface goes.

    `timeout` says, after each Tick, how long to wait for frames (None: until one
    comes): the shell's next deadline, or TICK.
    """
    fd, linktype = reader.getfd(), reader.datalink()
    number = 0
    while True:
        now = clock()
        try:
            buf, meta = reader.next_batch(_BATCH)
        except pcapy.PcapError as err:
            raise LiveCaptureError(f"{iface}: capture lost: {err}") from None
        yield from batch.frames(buf, meta, linktype, number)
        number += batch.count(meta)
        if batch.count(meta) < _BATCH:  # drained: nothing captured before now - LAG is still queued
            yield Tick(now - LAG)
            wait([fd], [], [], timeout())
