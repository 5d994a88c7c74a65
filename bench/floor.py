"""The floor under issue 19's "1.5× tcpdump" target: what any Python reader pays per advert.

On one capture, in rounds (each tool after the other, as bench/run.py does), this
times the steps a Python analyser cannot skip, each a whole process, beside
`tcpdump -T carp` and `carpscope read -q`:

    start      python3 -c pass: the interpreter starting, nothing else
    batches    + pcapy reads the file in next_batch buffers: no Python per frame
    frames     + one Python step per frame: its bytes sliced out of the buffer
    hmac       + the one HMAC-SHA1 every CARP advert needs (cryptography's keyed
               state copied, the 8-byte counter hashed, compared with the md):
               the least a signature check costs, with no decoding and no election

and prints each median and its ratio to tcpdump. Where `hmac` alone is over 1.5×
tcpdump, so is any tool in Python that checks every signature; the ratio of
carpscope to `hmac` is what decoding, verifying and electing add on top.

    python bench/floor.py FILE.pcap [--repeat 5]
    python bench/floor.py /var/tmp/cb/adverts-200000.pcap
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # bench/run.py: run_once, the tcpdump command, carpscope's environment

_READ = """
import sys, pcapy
reader = pcapy.open_offline(sys.argv[1])
n = 0
while True:
    buf, meta = reader.next_batch(512)
    if not meta:
        break
    n += len(meta) // 16
print(n)
"""
_FRAMES = _READ.replace("    n += len(meta) // 16\n", """    for sec, usec, offset, caplen in META(meta):
        data = buf[offset:offset + caplen]
        n += 1
""").replace("import sys, pcapy", "import struct, sys, pcapy\nMETA = struct.Struct('=IIII').iter_unpack")
_HMAC = _FRAMES.replace("import struct, sys, pcapy", """import struct, sys, pcapy
from hmac import compare_digest
from cryptography.hazmat.primitives import hashes, hmac
KEYED = hmac.HMAC(b"k" * 20, hashes.SHA1())""").replace(
    "        data = buf[offset:offset + caplen]\n", """        data = buf[offset:offset + caplen]
        h = KEYED.copy()
        h.update(data[42:50])
        compare_digest(h.finalize(), data[50:70])
""")
STEPS = {"start": "pass", "batches": _READ, "frames": _FRAMES, "hmac": _HMAC}


def counts(path: str) -> dict[str, int]:
    """Frames each reading step saw: all of the file's, or the floor measured nothing."""
    out = {}
    for name, code in STEPS.items():
        if name != "start":
            done = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, check=True)
            out[name] = int(done.stdout)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("capture", help="a pcap file (bench/gen.py's adverts capture)")
    parser.add_argument("--repeat", type=int, default=5, help="rounds (medians are printed)")
    parser.add_argument("--carpscope", default=None, help="command for carpscope (default: python -m carpscope)")
    args = parser.parse_args()
    env = run.carpscope_env()
    carpscope = args.carpscope.split() if args.carpscope else [sys.executable, "-m", "carpscope"]
    commands = {"tcpdump": run.commands(carpscope, "adverts", args.capture)["tcpdump"]}
    commands.update({name: [sys.executable, "-c", code, args.capture] for name, code in STEPS.items()})
    commands["carpscope"] = run.commands(carpscope, "adverts", args.capture)["carpscope"]
    seen = counts(args.capture)
    if len(set(seen.values())) != 1:
        print(f"the steps read different numbers of frames: {seen}", file=sys.stderr)
        return 1
    for cmd in commands.values():  # warm-up: page cache, .pyc files
        run.run_once(cmd, env=env)
    walls: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.repeat):
        for name, cmd in commands.items():
            result = run.run_once(cmd, env=env)
            if result.code != 0:
                print(f"{name} failed (exit {result.code}): {result.stderr.strip()[:200]}", file=sys.stderr)
                return 1
            walls[name].append(result.wall)
    ratios = {name: statistics.median(w / t for w, t in zip(walls[name], walls["tcpdump"])) for name in commands}
    print(f"{args.capture}: {seen['frames']:,} frames, median of {args.repeat} rounds")
    print(f"{'step':<10} {'seconds':>8} {'× tcpdump':>10}")
    for name in commands:
        print(f"{name:<10} {statistics.median(walls[name]):8.3f} {ratios[name]:10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
