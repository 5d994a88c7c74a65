"""Time carpscope against tcpdump and tshark on two generated captures.

Why: carpscope promises to stay within a small factor of tcpdump (which only
prints) while doing far more (HMAC checks, election tracking), to beat tshark by a
wide margin, and to keep its memory flat however long the capture. This script
measures exactly those three claims, on the same machine, in one run, and says
whether each target holds.

    python bench/run.py                     # 3M-frame mixed, 200k-advert and 200k-replay captures, 5 runs each
    python bench/run.py --frames 300000 --repeat 3 --no-tshark
    python bench/run.py --dir /var/tmp/carpbench   # keep the captures and reuse them next time

Exit status: 0 when every target that was measured holds, 1 otherwise.
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen  # bench/gen.py, beside this file

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIB = 1024 * 1024
FILTER = "ip proto 112 or ip6 proto 112"

# capture name -> (passphrases for carpscope, max carpscope/tcpdump, min tshark/carpscope)
# (issue 19's targets: mixed ≤ 1.3× tcpdump, adverts ≤ 1.5× tcpdump and ≤ tshark's time,
# replay ≤ 3× tcpdump, peak memory under 100 MiB)
TARGETS = {
    "mixed": (["correct horse", "bravo"], 1.3, 1.0),
    "adverts": (["alpha", "bravo"], 1.5, 1.0),
    # issue 19: every advert a replay of a few recorded ones (gen.write_replay)
    "replay": (["alpha", "bravo"], 3.0, 1.0),
}
MAX_RSS_MIB = 100


# ---------------------------------------------------------------------------
# Running one command
# ---------------------------------------------------------------------------

class Run:
    """One timed execution: wall seconds, peak RSS of that very process, exit code."""

    def __init__(self, wall: float, rss_kib: int, code: int, stderr: str):
        self.wall, self.rss_kib, self.code, self.stderr = wall, rss_kib, code, stderr


GNU_TIME = "/usr/bin/time"

# Fallback when GNU time is missing: a minimal Python that spawns the command and
# reports that child's ru_maxrss. Its own ~8 MiB is the floor of what it can report.
_SPAWN = ("import os,sys\n"
          "pid=os.posix_spawnp(sys.argv[2],sys.argv[2:],os.environ)\n"
          "_,st,ru=os.wait4(pid,0)\n"
          "open(sys.argv[1],'w').write('%d\\n'%ru.ru_maxrss)\n"
          "sys.exit(os.waitstatus_to_exitcode(st))\n")


@functools.cache
def have_gnu_time() -> bool:
    try:
        out = subprocess.run([GNU_TIME, "--version"], capture_output=True, text=True)
    except OSError:
        return False
    return "GNU" in out.stdout + out.stderr


def memory_method() -> str:
    return ("GNU time -f %M" if have_gnu_time()
            else "wait4() in a minimal Python helper (floor ~8 MiB; apt-get install time for exact figures)")


def run_once(cmd: list[str], stdout=subprocess.DEVNULL, cwd=None, env=None) -> Run:
    """Run cmd with stdout to /dev/null (or a file) and measure it.

    Why peak memory goes through a small intermediate process: Linux keeps a
    process's ru_maxrss across fork+exec, so a child forked straight from this
    script would report at least this script's own RSS (100+ MiB after it generated
    the captures). GNU time (or a minimal Python helper) forks the command instead,
    and reports that child's own ru_maxrss from wait4().
    """
    with tempfile.NamedTemporaryFile("r") as rss_file, tempfile.TemporaryFile() as err:
        if have_gnu_time():
            wrapped = [GNU_TIME, "-f", "%M", "-o", rss_file.name] + cmd
        else:
            wrapped = [sys.executable, "-S", "-c", _SPAWN, rss_file.name] + cmd
        t0 = time.perf_counter()
        code = subprocess.run(wrapped, stdin=subprocess.DEVNULL, stdout=stdout, stderr=err, cwd=cwd, env=env).returncode
        wall = time.perf_counter() - t0
        err.seek(0)
        text = err.read().decode(errors="replace")
        lines = rss_file.read().split()
    rss = int(lines[-1]) if lines and lines[-1].isdigit() else 0
    return Run(wall, rss, code, text)


def _ratios(a: list[Run], b: list[Run]) -> list[float]:
    """a's time over b's, round by round (the runs of one round follow each other)."""
    return [x.wall / y.wall for x, y in zip(a, b)]


def _median_ratio(a: list[Run], b: list[Run]) -> float | None:
    ratios = _ratios(a, b)
    return statistics.median(ratios) if ratios else None


def _spread(a: list[Run], b: list[Run]) -> str:
    ratios = _ratios(a, b)
    return f"{min(ratios):.2f}–{max(ratios):.2f}" if ratios else "n/a"


def commands(carpscope: list[str], name: str, path: str) -> dict[str, list[str]]:
    """The three commands the targets compare, for one capture."""
    passes = [a for p in TARGETS[name][0] for a in ("-p", p)]
    return {
        "carpscope": carpscope + ["read", "-q"] + passes + [path],
        "tcpdump": ["tcpdump", "-n", "-r", path, "-T", "carp", FILTER],
        "tshark": ["tshark", "-n", "-r", path, "-d", "ip.proto==112,carp", "-Y", "carp"],
    }


# ---------------------------------------------------------------------------
# The JSON check: does carpscope verify every CARP signature?
# ---------------------------------------------------------------------------

def scan_json(path: str, on_packet) -> dict:
    """Call on_packet for each packet of a `-T json` document; return the rest of it.

    The adverts document is ~100 MB; decoding it whole would need a gigabyte of
    Python objects, so the "packets" array is walked one object at a time with
    raw_decode, and only what follows it (groups, events, findings) is loaded.
    """
    with open(path, encoding="utf-8") as f:
        text = f.read()
    dec = json.JSONDecoder()
    i = text.index("[", text.index('"packets"')) + 1
    ws = " \t\r\n,"
    while True:
        while text[i] in ws:
            i += 1
        if text[i] == "]":
            return json.loads("{" + text[i + 1:].lstrip(ws))
        obj, i = dec.raw_decode(text, i)
        on_packet(obj)


def hmac_check(carpscope: list[str], name: str, path: str, workdir: str, env) -> dict:
    """Run `carpscope read -T json` and tally hmac/checksum verdicts of CARP packets."""
    out_path = os.path.join(workdir, f"{name}.json")
    passes = [a for p in TARGETS[name][0] for a in ("-p", p)]
    with open(out_path, "wb") as out:
        r = run_once(carpscope + ["read", "-T", "json"] + passes + [path], stdout=out, cwd=REPO, env=env)
    result = {"wall": r.wall, "rss_mib": r.rss_kib / 1024, "code": r.code, "stderr": r.stderr.strip()}
    if r.code != 0:
        return result
    hmacs, cksums, protos = collections.Counter(), collections.Counter(), collections.Counter()

    def tally(p: dict) -> None:
        protos[p.get("proto")] += 1
        if p.get("proto") == "carp":
            hmacs[p.get("hmac")] += 1
            cksums[p.get("checksum")] += 1

    tail = scan_json(out_path, tally)
    findings = collections.Counter()
    for f in tail.get("findings", []):
        findings[f["kind"]] += f.get("count") or 1
    result.update(protos=dict(protos), hmac=dict(hmacs), checksum=dict(cksums),
                  events=collections.Counter(e["kind"] for e in tail.get("events", [])), findings=findings)
    os.unlink(out_path)
    return result


# ---------------------------------------------------------------------------
# Machine description
# ---------------------------------------------------------------------------

def first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=carpscope_env())
    except OSError as e:
        return f"unavailable ({e.strerror})"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else f"exit {out.returncode}"


def machine(carpscope: list[str]) -> list[str]:
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
    except OSError:
        pass
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            mem = "%.1f GiB" % (int(f.readline().split()[1]) / MIB)
    except OSError:
        pass
    tcpdump = subprocess.run(["tcpdump", "--version"], capture_output=True, text=True).stdout.splitlines()
    return [
        f"CPU: {model}, nproc {os.cpu_count()} (usable {len(os.sched_getaffinity(0))}), RAM {mem}",
        f"OS: {platform.system()} {platform.release()}; Python {platform.python_version()}",
        f"tcpdump: {' / '.join(tcpdump[:2])}",
        f"tshark: {first_line(['tshark', '--version'])}",
        f"carpscope: {first_line(carpscope + ['--version'])} ({shlex.join(carpscope)})",
        f"peak memory: {memory_method()}",
    ]


def carpscope_env() -> dict:
    """Make `python -m carpscope` find the working tree's package."""
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("NO_COLOR", None)
    # An installed carpscope runs from .pyc files pip compiled; from the working
    # tree, let the warm-up run write them, as a user's first run would.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

def fmt_s(x):
    return "—" if x is None else f"{x:.3f}" if x < 10 else f"{x:.1f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join(__doc__.split("\n\n")[2:]))
    ap.add_argument("--dir", help="keep the captures here and reuse them when they exist (default: a temp dir)")
    ap.add_argument("--frames", type=int, default=3_000_000, help="frames in the mixed capture (default 3,000,000)")
    ap.add_argument("--adverts", type=int, default=200_000,
                    help="CARP adverts in the adverts and replay captures (default 200,000)")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per tool and capture; the median is reported")
    ap.add_argument("--tshark-repeat", type=int,
                    help="runs of tshark per capture (default: 1 for captures over 500,000 frames, else --repeat)")
    ap.add_argument("--no-tshark", action="store_true", help="skip tshark (minutes on the 3M-frame capture)")
    ap.add_argument("--no-json-check", action="store_true", help="skip the carpscope -T json HMAC check")
    ap.add_argument("--regen", action="store_true", help="regenerate captures even if --dir has them")
    ap.add_argument("--carpscope", default=f"{shlex.quote(sys.executable)} -m carpscope",
                    help="how to start carpscope (default: this Python with -m carpscope, from the repo)")
    ap.add_argument("--only", choices=sorted(TARGETS), action="append", help="bench only this capture (repeatable)")
    args = ap.parse_args()

    carpscope = shlex.split(args.carpscope)
    env = carpscope_env()
    names = args.only or ["mixed", "adverts", "replay"]
    tools = ["carpscope", "tcpdump"] + ([] if args.no_tshark else ["tshark"])
    for tool in tools[1:]:
        if not shutil.which(tool):
            sys.exit(f"{tool} not found (apt-get install {tool}); or use --no-tshark")

    workdir = args.dir or tempfile.mkdtemp(prefix="carpbench-")
    os.makedirs(workdir, exist_ok=True)
    info_lines = machine(carpscope)
    for ln in info_lines:
        print(ln)
    print()

    # 1. the captures
    sizes = {"mixed": args.frames, "adverts": args.adverts, "replay": args.adverts}
    writers = {"mixed": gen.write_mixed, "adverts": gen.write_adverts, "replay": gen.write_replay}
    paths, frames = {}, {}
    for name in names:
        path = os.path.join(workdir, f"{name}-{sizes[name]}.pcap")
        paths[name] = path
        sidecar = path[:-5] + ".json"  # what the generator reported, for a later --dir reuse
        if os.path.exists(path) and os.path.exists(sidecar) and not args.regen:
            with open(sidecar) as f:
                info = json.load(f)
            print(f"reusing {path}: {info}")
        else:
            t = time.perf_counter()
            info = writers[name](path, sizes[name])
            info["seconds"] = round(time.perf_counter() - t, 2)
            with open(sidecar, "w") as f:
                json.dump(info, f)
            print(f"generated {path} in {info['seconds']:.1f} s: {info}")
        frames[name] = info["frames"]

    # 2. the timings (tools interleaved, so drift of the machine hits them alike)
    results: dict[str, dict[str, list[Run]]] = {}
    failed = []
    for name in names:
        cmds = commands(carpscope, name, paths[name])
        tshark_n = args.tshark_repeat or (1 if frames[name] > 500_000 else args.repeat)
        results[name] = {t: [] for t in tools}
        # an untimed warm-up: page cache, .pyc files, shared libraries
        for tool in ("carpscope", "tcpdump"):
            run_once(cmds[tool], cwd=REPO, env=env)
        for i in range(args.repeat):
            for tool in tools:
                if tool == "tshark" and i >= tshark_n:
                    continue
                r = run_once(cmds[tool], cwd=REPO, env=env)
                results[name][tool].append(r)
                print(f"  {name:8} {tool:9} run {i + 1}: {r.wall:8.3f} s  {r.rss_kib / 1024:7.1f} MiB"
                      + (f"  exit {r.code}: {r.stderr.strip()[-300:]}" if r.code else ""), file=sys.stderr)
                if r.code and tool == "carpscope":
                    failed.append(f"{name}: carpscope exited {r.code}")

    # 3. the JSON check
    checks = {}
    if not args.no_json_check:
        for name in names:
            checks[name] = hmac_check(carpscope, name, paths[name], workdir, env)

    # 4. the report
    print()
    print(f"Median wall time of {args.repeat} rounds (tshark: see 'runs'); stdout to /dev/null.")
    print()
    print("| capture | frames | MiB | carpscope s | tcpdump s | tshark s (runs) | carpscope/tcpdump | tshark/tcpdump "
          "| tshark/carpscope | carpscope peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    verdicts, spreads = [], []
    for name in names:
        med = {t: statistics.median(r.wall for r in rs) if rs else None for t, rs in results[name].items()}
        if any(r.code for r in results[name]["carpscope"]):
            med["carpscope"] = None  # a crashed run's time means nothing
        cs, td, ts = med.get("carpscope"), med.get("tcpdump"), med.get("tshark")
        rss = max(r.rss_kib for r in results[name]["carpscope"]) / 1024
        # Ratios per round (runs back to back), then their median: the machine's
        # speed drifts from one round to the next, and this cancels the drift.
        runs = results[name]
        ratio_td = _median_ratio(runs["carpscope"], runs["tcpdump"]) if cs and td else None
        ratio_ts = _median_ratio(runs.get("tshark", []), runs["carpscope"]) if cs and ts else None
        ratio_tt = _median_ratio(runs.get("tshark", []), runs["tcpdump"]) if ts and td else None
        spreads.append(f"{name}: carpscope/tcpdump per round {_spread(runs['carpscope'], runs['tcpdump'])}")
        n_ts = len(results[name].get("tshark", []))
        mib = os.path.getsize(paths[name]) / MIB
        print(f"| {name} | {frames[name]:,} | {mib:.0f} | {fmt_s(cs) if cs else 'failed'} | {fmt_s(td)} "
              f"| {fmt_s(ts)} ({n_ts}) | {fmt_s(ratio_td)} | {fmt_s(ratio_tt)} | {fmt_s(ratio_ts)} | {rss:.1f} |")
        _, max_td, min_ts = TARGETS[name]
        verdicts.append((f"{name}: carpscope ≤ {max_td:g}× tcpdump", ratio_td is not None and ratio_td <= max_td,
                         f"{ratio_td:.2f}×" if ratio_td else "n/a"))
        if ts is not None:
            verdicts.append((f"{name}: tshark/carpscope ≥ {min_ts:g}",
                             ratio_ts is not None and ratio_ts >= min_ts, f"{ratio_ts:.1f}×" if ratio_ts else "n/a"))
        else:
            verdicts.append((f"{name}: tshark/carpscope ≥ {min_ts:g}", None, "tshark skipped"))
        verdicts.append((f"{name}: carpscope peak RSS < {MAX_RSS_MIB} MiB", cs is not None and rss < MAX_RSS_MIB,
                         f"{rss:.1f} MiB" if cs else "carpscope failed"))

    print()
    print("Ratios are medians of per-round ratios; " + "; ".join(spreads) + ".")
    print("Peak RSS of the other tools (MiB): " + ", ".join(
        f"{name} {tool} {max(r.rss_kib for r in rs) / 1024:.1f}"
        for name in names for tool, rs in results[name].items() if tool != "carpscope" and rs))

    for name, c in checks.items():
        print()
        print(f"carpscope -T json on {name}: exit {c['code']}, {c['wall']:.2f} s, peak RSS {c['rss_mib']:.1f} MiB")
        if c["code"] != 0:
            print("  stderr:", c["stderr"][-500:])
            verdicts.append((f"{name}: every CARP packet has hmac ok", False, f"exit {c['code']}"))
            continue
        print(f"  packets by proto: {c['protos']}; CARP hmac: {c['hmac']}; CARP checksum: {c['checksum']}")
        print(f"  events: {dict(c['events'])}")
        print(f"  findings: {dict(c['findings'])}")
        n_carp = sum(c["hmac"].values())
        all_ok = n_carp > 0 and c["hmac"].get("ok", 0) == n_carp
        if name in ("adverts", "replay"):
            all_ok = all_ok and n_carp == args.adverts
        verdicts.append((f"{name}: every CARP packet has hmac ok", all_ok,
                         f"{c['hmac'].get('ok', 0):,}/{n_carp:,} ok"))

    print()
    for what, ok, detail in verdicts:
        mark = "skipped" if ok is None else "PASS" if ok else "FAIL"
        print(f"{mark:7} {what}: {detail}")
    for f in sorted(set(failed)):
        print("FAIL   ", f)

    if not args.dir:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if not failed and all(ok is not False for _, ok, _ in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
