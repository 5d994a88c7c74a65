"""A throw-away layer-2 segment with real CARP (ucarp) and VRRP (keepalived) peers.

Why this exists: carpscope's claims ("B took over 3.4 s after A went silent",
"split brain because the passphrases differ") can only be trusted if they are
checked against what real implementations do.  This module builds a tiny,
isolated Ethernet segment out of Linux network namespaces, runs unmodified
``ucarp``/``keepalived`` on it, records the wire with ``tcpdump`` and keeps
the peers' own logs, so a test can compare carpscope's view with the truth.

Topology::

    <run>-br   (namespace)  br0 ── p-a ─┐ veth ┌─ eth0  <run>-a  (namespace)
                                ── p-b ─┘ veth └─ eth0  <run>-b  ...

Safety rules this module keeps:

* Nothing is created in the root namespace: veth pairs are created with both
  ends already inside their namespaces (``ip link add ... netns X peer ...
  netns Y``), addresses come from 192.0.2.0/24 (RFC 5737), and the peers only
  talk to each other and to 224.0.0.18 / ff02::12.
* Every namespace name is ``cs-<owner pid>-<random>-<role>``.  A later run
  deletes namespaces whose owner pid is gone (a crashed or SIGKILLed run) and
  never touches live runs or names it does not recognise.
* :class:`Lab` cleans up in ``__exit__`` (also when the body raised) and,
  as a fallback, from an ``atexit`` hook registered while the lab is open.

Clocks: peer log lines are stamped with :func:`time.time` when read, and
tcpdump stamps frames with the kernel's CLOCK_REALTIME, so both are wall-clock
seconds since the epoch on this machine and can be compared directly.

Everything needs root (namespaces, bridges, raw sockets);
:func:`unavailable_reason` says why the lab cannot run here.
"""

from __future__ import annotations

import atexit
import ipaddress
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

PREFIX = "cs-"
SUBNET = ipaddress.ip_network("192.0.2.0/24")
DEFAULT_FILTER = "ip proto 112 or ip6 proto 112 or arp or icmp6"
BRIDGE = "br0"
HOST_IF = "eth0"
TOOLS = ("ip", "bridge", "tcpdump", "ucarp", "keepalived", "stdbuf")

# ucarp: "Switching to state: MASTER"; keepalived: "(VI_5) Entering MASTER STATE".
_UCARP_STATE = re.compile(r"Switching to state: (\w+)")
_KEEPALIVED_STATE = re.compile(r"Entering (\w+) STATE")
_NAME = re.compile(r"^(?P<prefix>.+?)(?P<pid>\d+)-(?P<token>[0-9a-f]{6})-(?P<role>[a-z0-9]+)$")


class LabError(RuntimeError):
    """A lab command failed (the message carries the command and its stderr)."""


# --------------------------------------------------------------------------
# small process / namespace helpers


def unavailable_reason() -> str | None:
    """Why the lab cannot run on this machine, or None if it can."""
    if os.geteuid() != 0:
        return "the lab needs root (network namespaces, bridges, raw sockets)"
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return "missing tools: " + ", ".join(missing)
    return None


def require_lab() -> None:
    """In a pytest test: skip when the lab cannot run, but fail under CI=true.

    CI runs as root and must exercise the real peers, so a missing tool or
    privilege there is an error, not a reason to skip quietly.
    """
    import pytest  # only tests call this; the module itself does not need pytest

    reason = unavailable_reason()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but the real-peer lab cannot run: {reason}")
    pytest.skip(reason)


def run(*argv: str, check: bool = True) -> str:
    """Run a short command, return its stdout; raise LabError on failure."""
    res = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if check and res.returncode != 0:
        raise LabError(f"{' '.join(argv)}: {res.stderr.strip() or res.returncode}")
    return res.stdout


def running(pid: int) -> bool:
    """True if pid exists and is not a zombie (a zombie has already died)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # The state letter follows the parenthesised command name.
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def describe(pid: int) -> str:
    """/proc/PID/stat of a process (name, state, parent), for failure messages."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().strip()
    except OSError:
        return f"{pid} gone"


def list_namespaces() -> list[str]:
    """Names of all named network namespaces (``ip netns list``)."""
    return [line.split()[0] for line in run("ip", "netns", "list").splitlines() if line.strip()]


def namespace_pids(netns: str) -> list[int]:
    """Pids of the processes living in a named namespace."""
    return [int(p) for p in run("ip", "netns", "pids", netns, check=False).split()]


def _wait_gone(pids: set[int], timeout: float) -> None:
    """Wait until killed processes have finished dying.

    A SIGKILLed process leaves its network namespace early in its exit, so
    an empty ``ip netns pids`` does not yet mean it is gone from /proc
    (CI once found one still there right after close).
    """
    deadline = time.time() + timeout
    while any(running(pid) for pid in pids) and time.time() < deadline:
        time.sleep(0.02)


def delete_namespace(netns: str) -> None:
    """Kill whatever still runs inside netns, then delete it.

    Only called for namespaces this module created, so every process inside
    was started (directly or as a grandchild) by a lab.
    """
    deadline = time.time() + 3
    while (pids := namespace_pids(netns)) and time.time() < deadline:
        for pid in pids:  # SIGKILL is asynchronous: repeat until they are gone
            _signal_pid(pid, signal.SIGKILL)
        time.sleep(0.05)
    run("ip", "netns", "del", netns, check=False)


def remove_stale_namespaces(prefix: str = PREFIX) -> list[str]:
    """Delete lab namespaces left by runs whose owner process is dead.

    A name that does not follow ``<prefix><pid>-<token>-<role>`` is not ours
    and is left alone; so is every namespace whose owner is still running.
    This is what cleans up after a run that was SIGKILLed (no atexit).  The
    owner check assumes runs sharing /run/netns also share a pid namespace.
    """
    removed = []
    for netns in list_namespaces():
        match = _NAME.match(netns)
        if not match or match["prefix"] != prefix or running(int(match["pid"])):
            continue
        delete_namespace(netns)
        removed.append(netns)
    return removed


def _signal_pid(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    """Signal the process group a lab child leads (it was started with setsid).

    Only while the child is unreaped: until then its pid, and so its group
    id, cannot have been reused by an unrelated process.
    """
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass


def _start(argv: Sequence[str]) -> subprocess.Popen:
    """Start a long-running lab child in its own session (so it can be group-killed).

    stderr is merged into stdout: one pipe keeps ucarp's stdout (INFO) and
    stderr (WARNING: the state changes) lines in the order they were written.
    """
    return subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)


class _LineLog:
    """Collects (wall-clock time read, line) from a pipe in a daemon thread."""

    def __init__(self, stream, label: str):
        self._lines: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._pump, args=(stream,), name=label, daemon=True)
        self._thread.start()

    def _pump(self, stream) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._lock:
                self._lines.append((time.time(), line))
        stream.close()

    def lines(self) -> list[tuple[float, str]]:
        with self._lock:
            return list(self._lines)

    def join(self, timeout: float = 2.0) -> None:
        self._thread.join(timeout)


# --------------------------------------------------------------------------
# the handles a test works with


@dataclass(frozen=True)
class Host:
    """One machine on the segment: its own namespace with ``eth0`` on the bridge."""

    name: str
    netns: str
    addr: str
    mac: str
    port: str  # the host's veth end inside the bridge namespace
    ifname: str = HOST_IF


class Peer:
    """A running ucarp or keepalived, with its log lines and state transitions.

    Output is read through a pipe; ``stdbuf -oL`` keeps ucarp's INFO lines
    (stdout) from sitting in a stdio buffer, so the read time is the time the
    line was written, give or take a few milliseconds.
    """

    def __init__(self, kind: str, host: Host, argv: Sequence[str], workdir: Path | None = None):
        self.kind = kind
        self.host = host
        self.argv = list(argv)
        self.workdir = workdir
        self.proc = _start(argv)
        self._log = _LineLog(self.proc.stdout, f"{kind}@{host.name}")

    def __repr__(self) -> str:
        return f"<Peer {self.kind} on {self.host.name} pid={self.pid} state={self.state}>"

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def lines(self) -> list[tuple[float, str]]:
        """All output lines so far as (time read, text)."""
        return self._log.lines()

    def text(self) -> str:
        """The log as one string (for assertion messages)."""
        return "\n".join(line for _, line in self.lines())

    def transitions(self) -> list[tuple[float, str]]:
        """(time, state) for every state change the peer logged, in order."""
        pattern = _UCARP_STATE if self.kind == "ucarp" else _KEEPALIVED_STATE
        found = ((t, pattern.search(line)) for t, line in self.lines())
        return [(t, m.group(1).upper()) for t, m in found if m]

    @property
    def state(self) -> str | None:
        """The last state logged, or None before the first transition."""
        changes = self.transitions()
        return changes[-1][1] if changes else None

    def wait_for(self, state: str, timeout: float, since: float = 0.0) -> float | None:
        """Wait until the peer logs `state` at or after `since`; its time, or None."""
        deadline = time.time() + timeout
        while True:
            for t, s in self.transitions():
                if s == state and t >= since:
                    return t
            if time.time() >= deadline or not self.alive:
                return None
            time.sleep(0.05)

    def kill(self) -> float:
        """SIGKILL the peer (and any helper it forked): it dies without a goodbye.

        Returns the wall-clock time of the kill.
        """
        when = time.time()
        _signal_group(self.proc, signal.SIGKILL)
        self._reap()
        return when

    def stop(self, timeout: float = 5.0) -> float:
        """SIGTERM: an orderly shutdown (keepalived then sends priority 0).

        Falls back to kill() if the peer does not exit within `timeout`.
        Returns the wall-clock time of the SIGTERM.
        """
        when = time.time()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self._reap()
        return when

    def _reap(self) -> None:
        self.proc.wait()
        self._log.join()


class Capture:
    """tcpdump writing a pcap; ``stop()`` leaves a complete, flushed file.

    ``-U --immediate-mode`` hands every frame to the file at once (no kernel
    block buffering), ``-Z root`` stops Debian's tcpdump from dropping to the
    ``tcpdump`` user before it opens the output file.
    """

    def __init__(self, netns: str, ifname: str, path: Path, bpf: str, ready_timeout: float = 5.0):
        self.path = Path(path).resolve()
        self.netns = netns
        self.ifname = ifname
        argv = ["ip", "netns", "exec", netns, "tcpdump", "-i", ifname, "-n", "-s", "0",
                "-U", "--immediate-mode", "-Z", "root", "-w", str(self.path), bpf]
        self.proc = _start(argv)
        self._log = _LineLog(self.proc.stdout, f"tcpdump@{netns}")
        self.started: float | None = None
        self.stopped: float | None = None
        self._wait_ready(ready_timeout)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _wait_ready(self, timeout: float) -> None:
        """Block until tcpdump says it is listening: frames sent later are recorded."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for t, line in self._log.lines():
                if "listening on" in line:
                    self.started = t
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.stop(linger=0)
        raise LabError(f"tcpdump did not start: {self.messages()}")

    def messages(self) -> str:
        return "\n".join(line for _, line in self._log.lines())

    def stop(self, linger: float = 0.3) -> Path:
        """Wait `linger` s for frames in flight, then SIGINT; tcpdump closes the file."""
        if self.stopped is None:
            time.sleep(linger)
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                _signal_group(self.proc, signal.SIGKILL)
                self.proc.wait()
            self._log.join()
            self.stopped = time.time()
        return self.path


# --------------------------------------------------------------------------
# the lab


class Lab:
    """Context manager owning a bridge namespace, host namespaces and their processes.

    >>> with Lab() as lab:                                    # doctest: +SKIP
    ...     a, b = lab.host("a", "192.0.2.1"), lab.host("b", "192.0.2.2")
    ...     cap = lab.capture("/tmp/x.pcap")
    ...     pa = lab.ucarp(a, vhid=1, password="s3cret", vip="192.0.2.50")
    ...     pa.wait_for("MASTER", timeout=5)
    """

    def __init__(self, prefix: str = PREFIX, ipv6: bool = False):
        self.prefix = prefix
        self.ipv6 = ipv6
        self.run_id = f"{prefix}{os.getpid()}-{secrets.token_hex(3)}"
        self.bridge_ns = f"{self.run_id}-br"
        self.hosts: dict[str, Host] = {}
        self.peers: list[Peer] = []
        self.captures: list[Capture] = []
        self.workdir: Path | None = None
        self._namespaces: list[str] = []
        self._closed = False

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self) -> Lab:
        atexit.register(self.close)
        try:
            remove_stale_namespaces(self.prefix)
            self.workdir = Path(tempfile.mkdtemp(prefix=f"{self.run_id}-"))
            self._make_bridge()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info) -> bool:
        self.close()
        return False

    def close(self) -> None:
        """Stop captures (complete files), kill peers, delete namespaces. Idempotent."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        pids = _best_effort(self.pids) or set()
        for capture in self.captures:
            _best_effort(capture.stop, 0)
        for peer in self.peers:
            _best_effort(peer.kill)
        for netns in reversed(self._namespaces):
            _best_effort(delete_namespace, netns)
        _wait_gone(pids, timeout=5)
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def namespaces(self) -> list[str]:
        """The namespaces this lab created (bridge first)."""
        return list(self._namespaces)

    def pids(self) -> set[int]:
        """Every pid the lab started or that runs in its namespaces right now."""
        started = {p.pid for p in self.peers} | {c.pid for c in self.captures}
        inside = {pid for ns in self._namespaces for pid in namespace_pids(ns)}
        return started | inside

    # -- topology ----------------------------------------------------------

    def _add_namespace(self, netns: str) -> None:
        run("ip", "netns", "add", netns)
        self._namespaces.append(netns)
        self.exec(netns, "ip", "link", "set", "lo", "up")
        if not self.ipv6 or netns == self.bridge_ns:
            # No DAD/RS/MLD chatter: the captures hold only what the peers send.
            self.exec(netns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                      "net.ipv6.conf.default.disable_ipv6=1")

    def _make_bridge(self) -> None:
        """The switch: br0 without STP or multicast snooping, 224.0.0.18 floods every port."""
        self._add_namespace(self.bridge_ns)
        run("ip", "-n", self.bridge_ns, "link", "add", "name", BRIDGE, "type", "bridge",
            "stp_state", "0", "mcast_snooping", "0")
        run("ip", "-n", self.bridge_ns, "link", "set", BRIDGE, "up")

    def host(self, name: str, addr: str, mac: str | None = None) -> Host:
        """Add a host namespace with eth0 (addr/24, MAC 02:00:00:00:00:<last octet>) on the bridge.

        With ``Lab(ipv6=True)`` eth0 also gets its EUI-64 link-local address
        (fe80::ff:fe00:<last octet>); otherwise IPv6 is off in the lab.
        """
        ip = ipaddress.ip_address(addr)
        if ip not in SUBNET or ip in (SUBNET.network_address, SUBNET.broadcast_address):
            raise ValueError(f"{addr} is not a host address in {SUBNET}")
        if not re.fullmatch(r"[a-z0-9]{1,8}", name) or name in self.hosts or name == "br":
            raise ValueError(f"bad or duplicate host name {name!r} (1-8 of [a-z0-9])")
        if any(h.addr == addr for h in self.hosts.values()):
            raise ValueError(f"{addr} already in use")
        mac = mac or f"02:00:00:00:00:{int(ip) & 0xFF:02x}"
        host = Host(name=name, netns=f"{self.run_id}-{name}", addr=addr, mac=mac, port=f"p-{name}")
        self._add_namespace(host.netns)
        run("ip", "link", "add", "name", HOST_IF, "netns", host.netns, "address", mac,
            "type", "veth", "peer", "name", host.port, "netns", self.bridge_ns)
        run("ip", "-n", self.bridge_ns, "link", "set", host.port, "master", BRIDGE, "up")
        run("ip", "-n", host.netns, "addr", "add", f"{addr}/{SUBNET.prefixlen}", "dev", HOST_IF)
        run("ip", "-n", host.netns, "link", "set", HOST_IF, "up")
        self.hosts[name] = host
        return host

    def exec(self, where: Host | str, *argv: str, check: bool = True) -> str:
        """Run a short command inside a host (or named namespace); its stdout."""
        netns = where.netns if isinstance(where, Host) else where
        return run("ip", "netns", "exec", netns, *argv, check=check)

    # -- faults ------------------------------------------------------------

    def link_down(self, host: Host) -> None:
        """Unplug the host: its bridge port goes down, eth0 loses carrier."""
        run("ip", "-n", self.bridge_ns, "link", "set", host.port, "down")

    def link_up(self, host: Host) -> None:
        """Plug the host back in."""
        run("ip", "-n", self.bridge_ns, "link", "set", host.port, "up")

    def multicast_flood_off(self, host: Host) -> None:
        """One-way multicast loss: the bridge stops flooding multicast towards host.

        Frames to 01:00:5e:00:00:12 from the others no longer reach it, while
        its own multicast still reaches them and broadcast (ARP) and unicast
        are unaffected.  Works because br0 has no snooping/querier, so all
        multicast goes through the flood path that honours ``mcast_flood``.
        """
        run("bridge", "-n", self.bridge_ns, "link", "set", "dev", host.port, "mcast_flood", "off")

    def multicast_flood_on(self, host: Host) -> None:
        """Undo multicast_flood_off."""
        run("bridge", "-n", self.bridge_ns, "link", "set", "dev", host.port, "mcast_flood", "on")

    # -- processes ---------------------------------------------------------

    def capture(self, path: str | os.PathLike, on: Host | None = None,
                filter: str = DEFAULT_FILTER) -> Capture:
        """Start tcpdump on br0 (every frame crossing the switch) or on host's eth0."""
        netns, ifname = (self.bridge_ns, BRIDGE) if on is None else (on.netns, on.ifname)
        capture = Capture(netns, ifname, Path(path), filter)
        self.captures.append(capture)
        return capture

    def ucarp(self, host: Host, vhid: int, password: str, vip: str, advskew: int = 0,
              advbase: int = 1, preempt: bool = False, extra: Iterable[str] = ()) -> Peer:
        """Start ucarp in the foreground; up/down scripts are /bin/true (no VIP is configured)."""
        if len(password) > 19:
            raise ValueError("ucarp passwords are at most 19 characters")
        argv = [*self._in(host), "ucarp", f"--interface={host.ifname}", f"--srcip={host.addr}",
                f"--vhid={vhid}", f"--pass={password}", f"--addr={vip}",
                f"--advbase={advbase}", f"--advskew={advskew}",
                "--upscript=/bin/true", "--downscript=/bin/true"]
        if preempt:
            argv.append("--preempt")
        return self._add_peer(Peer("ucarp", host, [*argv, *extra]))

    def keepalived(self, host: Host, vrid: int, priority: int, vip: str, advert_int: float = 1,
                   version: int = 2, preempt: bool = True, auth_pass: str | None = None) -> Peer:
        """Start keepalived (VRRP only) in the foreground, console logging, no syslog.

        Each instance gets its own directory with the config and private pid
        files, so several keepalived processes can run on one machine.
        """
        conf_dir = self._private_dir(f"keepalived-{host.name}-{vrid}")
        conf = conf_dir / "keepalived.conf"
        conf.write_text(keepalived_config(host, vrid, priority, vip, advert_int, version,
                                          preempt, auth_pass))
        argv = [*self._in(host), "keepalived", "--dont-fork", "--log-console", "--no-syslog",
                "--vrrp", f"--use-file={conf}", f"--pid={conf_dir / 'keepalived.pid'}",
                f"--vrrp_pid={conf_dir / 'vrrp.pid'}"]
        return self._add_peer(Peer("keepalived", host, argv, conf_dir))

    def _in(self, host: Host) -> list[str]:
        """Prefix that runs a command in host's namespace with line-buffered stdio."""
        return ["ip", "netns", "exec", host.netns, "stdbuf", "-oL", "-eL"]

    def _add_peer(self, peer: Peer) -> Peer:
        self.peers.append(peer)
        return peer

    def _private_dir(self, stem: str) -> Path:
        assert self.workdir is not None, "use Lab as a context manager"
        return Path(tempfile.mkdtemp(prefix=f"{stem}-", dir=self.workdir))


def keepalived_config(host: Host, vrid: int, priority: int, vip: str, advert_int: float,
                      version: int, preempt: bool, auth_pass: str | None) -> str:
    """A minimal keepalived.conf with one vrrp_instance named VI_<vrid>."""
    if version not in (2, 3):
        raise ValueError("VRRP version is 2 or 3")
    if auth_pass is not None and (version != 2 or len(auth_pass) > 8):
        raise ValueError("auth_pass needs VRRPv2 and at most 8 characters")
    lines = [
        "global_defs {",
        f"  router_id {host.name}",
        f"  vrrp_version {version}",
        "}",
        f"vrrp_instance VI_{vrid} {{",
        "  state BACKUP",
        f"  interface {host.ifname}",
        f"  virtual_router_id {vrid}",
        f"  priority {priority}",
        f"  advert_int {advert_int}",
    ]
    if not preempt:
        lines.append("  nopreempt")
    if auth_pass is not None:
        lines += ["  authentication {", "    auth_type PASS", f"    auth_pass {auth_pass}", "  }"]
    lines += ["  virtual_ipaddress {", f"    {vip}", "  }", "}"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# reading a capture back with tcpdump: an independent decoder, not carpscope


@dataclass(frozen=True)
class CarpAdvert:
    """One protocol-112 frame as ``tcpdump -T carp`` decodes it."""

    time: float
    mac: str
    src: str
    vhid: int
    advbase: int
    advskew: int


@dataclass(frozen=True)
class VrrpAdvert:
    """One protocol-112 frame as tcpdump's default VRRP decoder sees it."""

    time: float
    mac: str
    src: str
    version: int
    vrid: int
    priority: int


_FRAME = r"^(?P<time>\d+\.\d+) (?P<mac>\S+) > \S+, .*?: (?P<src>[0-9.]+) > [0-9.]+: "
_CARP_FRAME = re.compile(_FRAME + r"CARPv2-advertise \d+: vhid=(?P<vhid>\d+) "
                         r"advbase=(?P<advbase>\d+) advskew=(?P<advskew>\d+)")
_VRRP_FRAME = re.compile(_FRAME + r"VRRPv(?P<version>\d), Advertisement, vrid (?P<vrid>\d+), "
                         r"prio (?P<priority>\d+)")


def _tcpdump_lines(path: str | os.PathLike, *options: str) -> list[str]:
    return run("tcpdump", "-n", "-e", "-tt", *options, "-r", str(path)).splitlines()


def carp_adverts(path: str | os.PathLike) -> list[CarpAdvert]:
    """Every IPv4 protocol-112 frame in path, decoded as CARP."""
    found = (_CARP_FRAME.match(line) for line in _tcpdump_lines(path, "-T", "carp"))
    return [CarpAdvert(float(m["time"]), m["mac"], m["src"], int(m["vhid"]),
                       int(m["advbase"]), int(m["advskew"])) for m in found if m]


def vrrp_adverts(path: str | os.PathLike) -> list[VrrpAdvert]:
    """Every IPv4 protocol-112 frame in path, decoded as VRRP."""
    found = (_VRRP_FRAME.match(line) for line in _tcpdump_lines(path))
    return [VrrpAdvert(float(m["time"]), m["mac"], m["src"], int(m["version"]),
                       int(m["vrid"]), int(m["priority"])) for m in found if m]


def frame_times(path: str | os.PathLike) -> list[float]:
    """Timestamps of all frames in path (epoch seconds, this machine's wall clock)."""
    lines = run("tcpdump", "-n", "-tt", "-r", str(path)).splitlines()
    return [float(line.split()[0]) for line in lines if line.strip()]


def _best_effort(fn, *args):
    """Cleanup must go on after one step failed (e.g. a namespace already gone)."""
    try:
        return fn(*args)
    except Exception:  # noqa: BLE001 (cleanup continues whatever happened)
        return None
