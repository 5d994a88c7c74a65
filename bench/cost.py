"""Instructions per frame of the pipeline, per capture: the noise-free measure of issues 19 and 20.

Wall time on a shared 2-core machine moves by up to 2× between runs; the count of
instructions a frame costs does not (±1–2%, hash randomisation). For each capture
the script reads its first N frames into memory with carpscope's own reader, then
runs them through the pipeline `read -q` builds (lean, the passphrases given) under
`valgrind --tool=callgrind`, once with the N frames and once with none, and divides
the difference by N: imports, start-up and reading are left out.

    python bench/cost.py                                # every capture, 5,000 frames each
    python bench/cost.py --frames 20000 reference replay
    python bench/cost.py --dir /var/tmp/cost forged flapping
    python bench/cost.py --warm 5000 vlans-vrrp forged   # frames 5,001-10,000: past the caps

`--warm K` feeds the first K frames in both runs and measures the N after them: the
steady state of a capture at the issue's size, where most frames come after the caps
(4,096 groups, 256 sources a group) are reached.

Captures: `reference` and `replay` are bench/gen.py's (passphrases alpha and bravo,
as bench/run.py reads them), the others bench/hostile.py's (no passphrase, as
hostile.py reads them). Prints instructions per frame and the ratio to `reference`
(issue 20's target: at most 3).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen  # bench/gen.py
import hostile  # bench/hostile.py

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSES = {"reference": ("alpha", "bravo"), "replay": ("alpha", "bravo")}
# Each hostile capture at a size past the first N frames: the patterns are periodic.
SIZES = {"forged": 60_000, "skews": 60_000, "vlans": 240, "vlans-vrrp": 240, "contenders": 255_000,
         "flapping": 100_000, "qinq": 60_000, "copies": 60_000}
NAMES = ["reference", "replay", *SIZES]


def write(name: str, path: str) -> None:
    if name == "reference":
        gen.write_adverts(path, 60_000)
    elif name == "replay":
        gen.write_replay(path, 60_000)
    else:
        hostile.write(path, hostile.CAPTURES[name][0](SIZES[name]))


def inner(path: str, warm: int, n: int, feed: bool, passes: list[str]) -> None:
    """Under valgrind: read warm + n frames, feed the first warm, then the n others (or not)."""
    sys.path.insert(0, REPO)
    from carpscope.capture.files import open_sources
    from carpscope.cli import build_pipeline

    source = open_sources([path], None)[0]
    source.scan_in_child = False
    frames = []
    for frame in source.packets():
        frames.append(frame)
        if len(frames) == warm + n:
            break
    pipeline = build_pipeline(passes, None, (), None, None, lean=True)
    for frame in frames[:warm]:
        pipeline.feed(frame)
    if feed:
        for frame in frames[warm:]:
            pipeline.feed(frame)
        pipeline.finish()


def instructions(path: str, warm: int, n: int, feed: bool, passes: tuple[str, ...]) -> int:
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__,
           "--inner", path, "--warm", str(warm), "--frames", str(n),
           *(["--feed"] if feed else []), *[f"--pass={p}" for p in passes]]
    err = subprocess.run(cmd, capture_output=True, text=True, check=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    found = re.search(r"Collected : (\d+)", err.stderr)
    if found is None:
        raise SystemExit(f"no instruction count from valgrind: {err.stderr[-500:]}")
    return int(found.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="captures (default: all): " + ", ".join(NAMES))
    ap.add_argument("--frames", type=int, default=5000, help="frames measured from each capture (default 5,000)")
    ap.add_argument("--warm", type=int, default=0, help="frames fed first, in both runs (default 0)")
    ap.add_argument("--dir", help="keep the captures here and reuse them")
    ap.add_argument("--inner", help=argparse.SUPPRESS)
    ap.add_argument("--feed", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--pass", dest="passes", action="append", default=[], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inner:
        return inner(args.inner, args.warm, args.frames, args.feed, args.passes)
    names = args.names or NAMES
    if "reference" not in names:
        names = ["reference", *names]
    workdir = args.dir or tempfile.mkdtemp(prefix="carpscope-cost-")
    os.makedirs(workdir, exist_ok=True)
    print(f"{'capture':<12} {'instructions/frame':>19} {'÷ reference':>12}")
    reference = None
    for name in names:
        path = os.path.join(workdir, name + ".pcap")
        if not os.path.exists(path):
            write(name, path)
        passes = PASSES.get(name, ())
        n = args.frames
        w = args.warm
        cost = (instructions(path, w, n, True, passes) - instructions(path, w, n, False, passes)) / n
        reference = reference or cost
        print(f"{name:<12} {cost:>19,.0f} {cost / reference:>12.2f}", flush=True)


if __name__ == "__main__":
    main()
