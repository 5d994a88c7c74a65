"""The running probe: memory and CPU per advert of `carpscope live --metrics` on a busy segment.

A generated segment of GROUPS CARP masters advertising once a second (tests/stacks.py,
steady_segment) goes through what live runs: the pipeline, the metrics tap, a tick when a
second's frames are drained, and a metrics publish every 15 s. Frames are generated a
chunk at a time, outside the timed part, so the CPU figure is the probe's alone. Memory
should stay flat: the resident size and the objects the garbage collector tracks are
printed at every checkpoint.

Usage: python bench/probe.py [--groups 50] [--hours 2] [--checkpoints 8]
A simulated week at 50 groups is 30M adverts (`--hours 168`: an hour or more of CPU);
the default two hours (360,000 adverts) take about 15 s here.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import stacks  # noqa: E402
from carpscope import cli, metrics  # noqa: E402
from carpscope.check import Quiet  # noqa: E402
from carpscope.model import Frame, Tick  # noqa: E402


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=50)
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--checkpoints", type=int, default=8)
    args = parser.parse_args()
    seconds = int(args.hours * 3600)
    pipeline = cli.build_pipeline(("s3cret",), None, (), None, "auto")
    probe = metrics.Probe("sim")
    exporter = metrics.Exporter(probe)
    sink = metrics.Tap(Quiet(), probe)
    frames = stacks.steady_segment(args.groups, seconds)
    chunk = max(seconds // args.checkpoints, 1) * args.groups
    state = {"number": 0, "published": 0.0, "second": None}
    cpu = 0.0

    def stream(batch):
        for t, data in batch:
            if state["second"] is not None and int(t) != state["second"]:
                yield Tick(t - 0.5)
            state["second"] = int(t)
            state["number"] += 1
            yield Frame(state["number"], t, 1, data, len(data))

    def step(item) -> bool:
        if isinstance(item, Tick) and item.now - state["published"] >= 15:
            state["published"] = item.now
            exporter.publish(pipeline, item.now, (pipeline.adverts, 0, 0))
        return False

    print(f"{args.groups} groups, 1 advert/s each, {args.hours:g} simulated hours")
    print(f"{'simulated':>10} {'adverts':>10} {'RSS MiB':>8} {'gc objects':>11} {'CPU µs/advert':>14}")
    pipeline.lean = not sink.wants_records
    while True:
        batch = [f for _, f in zip(range(chunk), frames)]
        if not batch:
            break
        before, start = pipeline.adverts, time.process_time()
        cli._steps(stream(batch), pipeline, sink.emit, None, None, step)
        spent = time.process_time() - start
        cpu += spent
        gc.collect()
        done = (batch[-1][0] - stacks.T0) / 3600
        print(f"{done:9.2f}h {pipeline.adverts:10d} {rss_mib():8.1f} {len(gc.get_objects()):11d} "
              f"{spent / max(pipeline.adverts - before, 1) * 1e6:14.1f}")
    for thing in pipeline.finish():
        sink.emit(thing)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"total: {pipeline.adverts} adverts, {cpu / pipeline.adverts * 1e6:.1f} µs CPU per advert "
          f"({cpu / (seconds / 3600):.2f} s CPU per simulated hour), peak RSS {peak:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
