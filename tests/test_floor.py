"""bench/floor.py's steps read the whole file: a floor that read nothing would be no floor (issue 19)."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_floor():
    spec = importlib.util.spec_from_file_location("carpscope_bench_floor", ROOT / "bench" / "floor.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_step_reads_every_frame_of_the_file():
    path = ROOT / "tests" / "data" / "carp_synth.pcap"
    lines = subprocess.run(["tcpdump", "-nr", str(path)], capture_output=True, text=True, check=True).stdout
    frames = len(lines.splitlines())
    assert frames > 0
    assert load_floor().counts(str(path)) == {"batches": frames, "frames": frames, "hmac": frames}
