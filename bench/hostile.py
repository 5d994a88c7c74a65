"""Hostile captures: does any sender pattern make carpscope crawl or grow? (issue 20)

Anyone on a segment can forge protocol-112 frames, and a passive probe reads
whatever the segment carried. Each capture below is one pattern from the issue;
the script writes it, runs `carpscope read -q` and `tcpdump -n -r` on it, and
prints the per-frame cost, the ratio to tcpdump and carpscope's peak memory, next
to the realistic adverts capture of bench/gen.py (the speed work's reference).

    python bench/hostile.py                      # every capture at its issue size
    python bench/hostile.py --scale 0.1          # a tenth of each (quicker; the table says so)
    python bench/hostile.py --only forged,skews --timeout 60
    python bench/hostile.py --repeat 5 --only skews   # the quickest of 5 runs of each program

Frames are built once from templates (tests/stacks.py's checksummed IPv4 headers and
CARP header; signatures are not computed: carpscope runs
without a passphrase, so it only checks checksums). Times are wall seconds; peak
memory is that process's own ru_maxrss (GNU time, else os.wait4). A run past
--timeout is killed and shown as such.
"""

from __future__ import annotations

import argparse
import os
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen  # bench/gen.py, beside this file; it puts tests/ on the path
import stacks  # tests/stacks.py: the tests' frame builder

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
T0 = gen.T0_US  # µs
GROUP, GROUP_MAC = stacks.CARP_V4_GROUP, stacks.CARP_V4_MAC


def carp_header(vhid: int, advbase: int = 1, advskew: int = 0, counter: int = 0x0123456789ABCDEF) -> bytes:
    """A CARPv2 advert (docs/protocol.md §1.1) with its checksum; the md is zeros (no passphrase is given)."""
    return stacks.carp_header(vhid, advbase, advskew, 0, counter, bytes(20))


def tags(vlans: tuple[int, ...]) -> list[tuple[int, int]]:
    """802.1ad/802.1Q tags (TPID, VID), outermost first: 802.1ad outside when there are two or more."""
    return [(0x88A8 if i == 0 and len(vlans) > 1 else 0x8100, v) for i, v in enumerate(vlans)]


def carp_frame(src: str, vhid: int, advbase: int = 1, advskew: int = 0, vlans: tuple[int, ...] = (),
               ident: int = 1) -> bytes:
    carp = carp_header(vhid, advbase, advskew)
    ip = stacks.ipv4_header(src, GROUP, 112, len(carp), ident=ident, tos=0x10, df=True)
    return stacks.ethernet("00:00:5e:00:01:%02x" % vhid, GROUP_MAC, 0x0800, ip + carp, tags(vlans))


def vrrp_frame(src: str, vrid: int, priority: int = 100, vlans: tuple[int, ...] = ()) -> bytes:
    """A VRRPv2 advert (RFC 3768 §5) with one address and its checksum: no signature to search."""
    body = stacks.vrrp2(vrid, priority, ["192.0.2.1"])
    ip = stacks.ipv4_header(src, GROUP, 112, len(body), ident=1, tos=0xC0, df=True)
    return stacks.ethernet("00:00:5e:00:01:%02x" % vrid, GROUP_MAC, 0x0800, ip + body, tags(vlans))


def garp(addr: bytes, vlans: tuple[int, ...]) -> bytes:
    return stacks.gratuitous_arp(addr, "02:00:00:00:00:01", tags(vlans))


def src(i: int) -> str:
    """The i-th forged source (distinct for i < 16,250,000): 10.x.y.1-250."""
    i, z = divmod(i, 250)
    return f"10.{(i >> 8) & 255}.{i & 255}.{z + 1}"


# -- the captures: each yields (µs, frame) in time order --------------------------------

def forged(n: int):
    """One vhid from n forged sources, one advert each, 1 ms apart."""
    for i in range(n):
        yield T0 + i * 1000, carp_frame(src(i + 1), 1)


def skews(n: int):
    """n forged sources with distinct (advbase, advskew), one advert each, 1 ms apart."""
    for i in range(n):
        yield T0 + i * 1000, carp_frame(src(i + 1), 1, advbase=1 + i // 256, advskew=i % 256)


def vlans(n: int):
    """255 vhids on each of n VLANs (n ≤ 4094), one advert per group, 10 µs apart."""
    k = 0
    for v in range(1, n + 1):
        for vhid in range(1, 256):
            yield T0 + k * 10, carp_frame("10.0.0.1", vhid, vlans=(v,))
            k += 1


def vlans_vrrp(n: int):
    """255 VRRP vrids on each of n VLANs (n ≤ 4094), one advert per group: the groups without CARP's signatures."""
    k = 0
    for v in range(1, n + 1):
        for vrid in range(1, 256):
            yield T0 + k * 10, vrrp_frame("10.0.0.1", vrid, vlans=(v,))
            k += 1


def contenders(n: int):
    """255 forged sources of one vhid advertising every second at once (a lasting split brain), n adverts."""
    frames = [carp_frame(src(i), 1, advskew=i) for i in range(255)]
    for k in range(n // 255):
        for i, frame in enumerate(frames):
            yield T0 + k * 1_000_000 + i * 100, frame


def flapping(n: int):
    """100 groups whose two members take turns, 3.5 s apart: every advert is a master change (n adverts)."""
    frames = [[carp_frame("10.1.%d.1" % g, g + 1), carp_frame("10.1.%d.2" % g, g + 1)] for g in range(100)]
    for k in range(n // 100):
        for g in range(100):
            yield T0 + k * 3_500_000 + g * 10_000, frames[g][k % 2]


def qinq_arps(n: int):
    """n gratuitous ARPs, each for its own address in its own QinQ (outer, inner) VLAN pair."""
    for i in range(n):
        yield T0 + i * 10, garp(struct.pack("!I", 0x0A000000 + i + 1), (1 + i // 4094, 1 + i % 4094))


def copies(n: int):
    """One advert, n times, 1 ms apart."""
    frame = carp_frame("10.0.0.1", 1)
    for i in range(n):
        yield T0 + i * 1000, frame


# name -> (generator, issue size, what the size counts)
CAPTURES = {
    "forged": (forged, 10_000, "forged senders"),
    "skews": (skews, 1_000, "senders with distinct advbase/advskew"),
    "vlans": (vlans, 4_094, "VLANs x 255 vhids"),
    "vlans-vrrp": (vlans_vrrp, 4_094, "VLANs x 255 VRRP vrids"),
    "contenders": (contenders, 255_000, "adverts from 255 sources at once"),
    "flapping": (flapping, 200_000, "adverts in 100 flapping groups"),
    "qinq": (qinq_arps, 500_000, "QinQ gratuitous ARPs"),
    "copies": (copies, 1_000_000, "copies of one advert"),
}


def write(path: str, frames) -> int:
    n = 0
    with open(path, "wb") as f:
        f.write(stacks.pcap_header())
        chunk = []
        for us, frame in frames:
            chunk.append(stacks.pcap_record(us // 1_000_000, us % 1_000_000, frame))
            n += 1
            if len(chunk) >= gen.BATCH:
                f.write(b"".join(chunk))
                chunk = []
        f.write(b"".join(chunk))
    return n


# -- running -------------------------------------------------------------------------------

GNU_TIME = "/usr/bin/time"


def run(cmd: list[str], timeout: float) -> tuple[float | None, float]:
    """(wall seconds or None on timeout, peak RSS MiB) of one process.

    Peak RSS is the process's own ru_maxrss, read by GNU time where it is installed: a
    child forked straight from this script would count this script's own memory
    (it wrote the captures) in its peak; os.wait4's rusage is the fallback.
    """
    env = dict(os.environ, PYTHONPATH=REPO)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # (as bench/run.py: from .pyc files, as an installed carpscope runs)
    gnu = os.access(GNU_TIME, os.X_OK)
    start = time.perf_counter()
    p = subprocess.Popen([GNU_TIME, "-f", "%M"] + cmd if gnu else cmd, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE if gnu else subprocess.DEVNULL, env=env)
    deadline = start + timeout
    while True:
        pid, _status, usage = os.wait4(p.pid, os.WNOHANG)
        if pid:
            wall = time.perf_counter() - start
            rss = usage.ru_maxrss / 1024
            if gnu:
                tail = p.stderr.read().decode(errors="replace").split()
                rss = int(tail[-1]) / 1024 if tail and tail[-1].isdigit() else rss
            return wall, rss
        if time.perf_counter() > deadline:
            victims = [p.pid]
            if gnu:  # kill carpscope itself; GNU time then still reports its peak
                try:
                    with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
                        victims = [int(c) for c in f.read().split()] or victims
                except OSError:
                    pass
            for pid in victims:
                os.kill(pid, 9)
            _, _, usage = os.wait4(p.pid, 0)
            rss = usage.ru_maxrss / 1024
            if gnu:
                tail = p.stderr.read().decode(errors="replace").split()
                rss = int(tail[-1]) / 1024 if tail and tail[-1].isdigit() else rss
            return None, rss
        time.sleep(0.02)


def carpscope(path: str, *passes: str) -> list[str]:
    return [sys.executable, "-m", "carpscope", "read", "-q", *(a for p in passes for a in ("-p", p)), path]


def tcpdump(path: str) -> list[str]:
    return ["tcpdump", "-n", "-r", path]


def measure(name: str, path: str, frames: int, cs_cmd: list[str], timeout: float, startup: float = 0.0,
            repeat: int = 1) -> dict:
    """One capture: µs/frame leaves out carpscope's start-up (its time on an empty capture).

    With repeat > 1 each program runs that many times and the quickest run counts (the
    others met other work on the machine); a run killed at the timeout is not repeated.
    """
    cs, rss = run(cs_cmd, timeout)
    td, _ = run(tcpdump(path), timeout)
    for _ in range(repeat - 1 if cs is not None else 0):
        again, again_rss = run(cs_cmd, timeout)
        cs, rss = cs if again is None else min(cs, again), max(rss, again_rss)
        again = run(tcpdump(path), timeout)[0]
        td = again if td is None else td if again is None else min(td, again)
    return {"name": name, "frames": frames, "cs": cs, "td": td, "rss": rss,
            "us": None if cs is None else max(cs - startup, 0.0) / frames * 1e6,
            "ratio": None if cs is None or not td else cs / td}


def row(r: dict, ref_us: float | None, timeout: float) -> str:
    cs = f"{r['cs']:.2f}" if r["cs"] is not None else f"> {timeout:.0f} (killed)"
    us = f"{r['us']:.1f}" if r["us"] is not None else "-"
    ratio = f"{r['ratio']:.1f}" if r["ratio"] is not None else "-"
    vs = f"{r['us'] / ref_us:.2f}" if r["us"] is not None and ref_us else "-"
    td = f"{r['td']:.2f}" if r["td"] is not None else "-"
    return f"| {r['name']} | {r['frames']:,} | {cs} | {td} | {us} | {ratio} | {vs} | {r['rss']:.0f} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every capture's size (default 1)")
    ap.add_argument("--only", default="", help="comma-separated capture names: " + ", ".join(CAPTURES))
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds before a run is killed")
    ap.add_argument("--reference", type=int, default=50_000, help="adverts in the realistic reference capture "
                    "(bench/gen.py); 0 to skip it")
    ap.add_argument("--dir", help="keep the captures here (default: a temporary directory)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each program per capture; the quickest "
                    "counts (default 1)")
    args = ap.parse_args()
    names = [n for n in args.only.split(",") if n] or list(CAPTURES)
    work = args.dir or tempfile.mkdtemp(prefix="carpscope-hostile-")
    os.makedirs(work, exist_ok=True)
    results, ref_us = [], None
    empty = os.path.join(work, "empty.pcap")
    write(empty, ())
    startup = min(run(carpscope(empty), args.timeout)[0] or 0.0 for _ in range(max(3, args.repeat)))
    print(f"carpscope start-up (empty capture): {startup:.3f} s, left out of µs/frame", flush=True)
    if args.reference:
        path = os.path.join(work, f"adverts-{args.reference}.pcap")
        if not os.path.exists(path):
            gen.write_adverts(path, args.reference)
        frames = write_count(path)
        r = measure("reference (gen.py adverts)", path, frames, carpscope(path, "alpha", "bravo"), args.timeout,
                    startup, args.repeat)
        ref_us = r["us"]
        results.append(r)
    for name in names:
        maker, size, what = CAPTURES[name]
        n = max(1, round(size * args.scale))
        if name.startswith("vlans"):
            n = min(n, 4094)
        path = os.path.join(work, f"{name}-{n}.pcap")
        frames = write(path, maker(n))
        results.append(measure(f"{name} ({n:,} {what})", path, frames, carpscope(path), args.timeout, startup,
                               args.repeat))
        print(row(results[-1], ref_us, args.timeout), flush=True)
    print()
    print("| capture | frames | carpscope s | tcpdump s | µs/frame | ×tcpdump | µs/frame ÷ reference "
          "| peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(row(r, ref_us, args.timeout))
    if not args.dir:
        for f in os.listdir(work):
            os.unlink(os.path.join(work, f))
        os.rmdir(work)


def write_count(path: str) -> int:
    """Records in a little-endian µs pcap."""
    n, pos = 0, 24
    with open(path, "rb") as f:
        data = f.read()
    while pos + 16 <= len(data):
        pos += 16 + struct.unpack_from("<I", data, pos + 8)[0]
        n += 1
    return n


if __name__ == "__main__":
    main()
