"""The command line: `carpscope read` and `carpscope live`.

Parses the options, builds the pipeline, the sink and the capture, and hands them
to shell.py, which drives them. The only module that exits: `_guard` maps the
status a command earned, and every error, to the exit codes of errors.py
(docs/design.md): 0 success, 1 a finding at the --fail-on level, 2 usage, 3 an
unreadable or damaged capture file, 4 a live capture or filter that cannot be set
up, 130 interrupted.

Longer than 400 lines because click declares each command's options as decorators
(three commands, forty options) next to the output-safety refusals they need.
"""

from __future__ import annotations

import functools
import gc
import os
import stat
import sys
from typing import TextIO, cast

import click

from carpscope import __version__
from carpscope.errors import (  # noqa: F401 (cli.EXIT_* for callers)
    EXIT_CAPTURE,
    EXIT_FINDING,
    EXIT_INTERRUPTED,
    EXIT_LIVE,
    EXIT_USAGE,
    CaptureError,
    CarpscopeError,
    PassphraseError,
    UsageError,
)
from carpscope.shell import FAIL_ON as _FAIL_ON
from carpscope.shell import Unbroken as _Unbroken
from carpscope.shell import say, silence_stdout, terminal_width

MAX_DURATION = 366 * 86400  # live --duration: finite and bounded (issue 20)


def shared_options(func):
    """The options `read` and `live` share, in tcpdump/tshark spirit (docs/design.md)."""
    options = [
        click.option("-p", "--pass", "passphrases", multiple=True, metavar="TEXT",
                     help="Candidate CARP passphrase, tried against every group (repeatable)."),
        click.option("--pass-file", metavar="PATH",
                     help="File with one passphrase per line (keeps them out of shell history and ps)."),
        click.option("--vip", "vips", multiple=True, metavar="[VHID=]ADDR",
                     help="Virtual address covered by the CARP HMAC (repeatable); inferred when absent."),
        click.option("-f", "--filter", "bpf", metavar="BPF",
                     help="Capture filter, added to the protocol-112 default."),
        click.option("-c", "--count", type=click.IntRange(min=1), metavar="N",
                     help="Stop after N protocol-112 packets."),
        click.option("-w", "--write", "write_path", metavar="FILE",
                     help="Save the analysed packets as pcap."),
        click.option("--html", "html_path", metavar="FILE",
                     help="Also write the report as one self-contained HTML file with a timeline chart, when the "
                          "run ends."),
        click.option("-q", "--quiet", is_flag=True, help="No per-packet lines, only the report."),
        click.option("-V", "--verbose", is_flag=True, help="Protocol tree per packet."),
        click.option("-T", "--format", "fmt", type=click.Choice(["text", "json", "jsonl"]), default="text",
                     show_default=True, help="Output format."),
        click.option("--fail-on", type=click.Choice(list(_FAIL_ON)), default="never", show_default=True,
                     help="Exit 1 when a finding of that severity or worse is seen."),
        click.option("--decode-as", type=click.Choice(["carp", "vrrp"]),
                     help="Decode every protocol-112 packet as this protocol, whatever its shape."),
        click.option("--timing", type=click.Choice(["auto", "bsd", "openbsd"]), default="auto", show_default=True,
                     help="Master-down formula: auto = each backup's stack as its adverts show it "
                          "(OpenBSD's for OpenBSD, else the BSD one); bsd = 3*advbase+advskew/256 (FreeBSD, "
                          "pfSense, OPNsense, ucarp, OpenBSD<7.8); openbsd = 3*(advbase+advskew/256) (current "
                          "OpenBSD)."),
        click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto",
                     show_default=True, help="Colour the text output (auto: only on a terminal)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="carpscope")
def main() -> None:
    """carpscope: a Wireshark-style analyzer for IP protocol 112 (CARP and VRRP).

    Decodes CARP and VRRP advertisements, verifies CARP signatures against
    passphrases, follows each group's master elections and explains failovers.
    """
    _tune_gc()


def _tune_gc() -> None:
    """Issue 19: the objects of start-up live for the whole run, and a capture of many groups
    keeps many more: collections need not walk the former, nor run so often (callgrind, pipeline
    only: 4% fewer instructions a realistic advert, 6% a new group, 3% a flapping advert; peak
    memory unchanged)."""
    gc.freeze()
    gc.set_threshold(10_000, 50, 100)


def _guard(func):
    """The one place that exits: the status the command returned, or its error's; no traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            status = func(*args, **kwargs)
        except CarpscopeError as err:
            say(str(err))
            status = err.exit_code
        except KeyboardInterrupt:
            status = EXIT_INTERRUPTED
        except BrokenPipeError:
            # The reader left before the sinks knew (they go on to the earned status, _Unbroken).
            silence_stdout()
            status = 0
        sys.exit(status or 0)

    return wrapper


def read_passphrases(passphrases: tuple[str, ...], pass_file: str | None) -> list[bytes]:
    """Passphrases as the bytes the shell passed (docs/protocol.md §2.2); never echoed."""
    keys = [os.fsencode(p) for p in passphrases]
    if pass_file:
        try:
            st = os.stat(pass_file)
            with open(pass_file, "rb") as f:
                data = f.read()
        except OSError as err:
            raise PassphraseError(f"--pass-file {pass_file}: {err.strerror or err}") from None
        if st.st_mode & (stat.S_IRGRP | stat.S_IROTH):
            say(f"warning: {pass_file} is readable by other users; chmod 600 it")
        keys += [line.rstrip(b"\r") for line in data.split(b"\n") if line.rstrip(b"\r")]
    return keys


def parse_vips(vips: tuple[str, ...]) -> dict[int | None, list[str]]:
    """--vip [VHID=]ADDR → {vhid or None: [addresses]}."""
    import ipaddress

    out: dict[int | None, list[str]] = {}
    for item in vips:
        vhid_text, _, addr = item.rpartition("=")
        try:
            vhid = int(vhid_text) if vhid_text else None
            if vhid is not None and not 1 <= vhid <= 255:
                raise ValueError
        except ValueError:
            raise UsageError(f"--vip {item}: VHID must be 1-255") from None
        try:
            out.setdefault(vhid, []).append(str(ipaddress.ip_address(addr)))
        except ValueError:
            raise UsageError(f"--vip {item}: '{addr}' is not an IP address") from None
    return out


def build_pipeline(passphrases, pass_file, vips, decode_as, timing, lean: bool = False):
    """The core objects both commands share; `lean` when no sink wants per-packet records (-q)."""
    from carpscope.auth import Verifier
    from carpscope.election.rules import Timing
    from carpscope.election.tracker import Tracker
    from carpscope.pipeline import Pipeline

    keys = read_passphrases(passphrases, pass_file)
    verifier = Verifier(keys, parse_vips(vips))
    for position in verifier.long_passphrases():
        say(f"note: passphrase {position} is longer than 19 characters; BSD ifconfig and ucarp use only its first 19")
    tracker = Tracker(timing=Timing(timing or "auto"))
    return Pipeline(verifier, tracker, decode_as, lean)


def wants_color(color: str, out) -> bool:
    """--color: always, never, or auto (a terminal, and NO_COLOR unset or empty)."""
    if color != "auto":
        return color == "always"
    return out.isatty() and not os.environ.get("NO_COLOR")


def make_sink(fmt: str, verbose: bool, quiet: bool, color: str):
    """The output sink for -T: text laid out to the terminal's width (80 when piped); colour only colours."""
    from carpscope import output

    # Unbroken stands for the TextIO it wraps (it hands on what it does not define itself).
    out = cast(TextIO, _Unbroken(click.get_text_stream("stdout")))
    if fmt == "json":
        return output.JsonDocumentSink(out, quiet)
    if fmt == "jsonl":
        return output.JsonLinesSink(out, quiet)
    console = None
    if wants_color(color, out):
        from rich.console import Console

        console = Console(file=out, force_terminal=True, no_color=False, highlight=False, soft_wrap=True)
    width = terminal_width(out)
    return output.TextSink(out, console, verbose=verbose, quiet=quiet, width=width or output.PIPE_WIDTH,
                           wrap=width is not None)


@main.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@shared_options
@_guard
def read(files, passphrases, pass_file, vips, bpf, count, write_path, html_path, quiet, verbose, fmt, fail_on,
         decode_as, timing, color):
    """Analyse capture files: pcap, pcapng, gzip-compressed, or '-' for stdin.

    Several files are merged by timestamp. Ends with a post-mortem report:
    groups, a timeline of elections and failovers, and findings.
    """
    from carpscope import shell
    from carpscope.capture import files as capture_files

    files, points, named = vantage_points(files)
    if write_path:
        refuse_overwriting_inputs(write_path, files, pass_file)
    if html_path:
        HtmlReport.refuse(html_path, files, pass_file, write_path)
    pipeline = build_pipeline(passphrases, pass_file, vips, decode_as, timing, lean=quiet and not _several(points))
    names = _openable(files)
    try:
        sources = capture_files.open_sources([path for path, _ in names], bpf)
    except CarpscopeError as err:
        raise type(err)(_named(str(err), names)) from None
    pipeline, points = shell.at_points(pipeline, sources, points, named)
    if any(s.streaming for s in sources):
        # a pipe in, each frame's line out as it arrives
        getattr(sys.stdout, "reconfigure", lambda **_: None)(line_buffering=True)
    # The -w file before the sink: a -w that cannot be created fails before any output.
    writer = _pcap_writer(write_path, sources[0].linktype) if write_path else None
    html = HtmlReport.open(html_path, files) if html_path else None
    sink = make_sink(fmt, verbose, quiet, color)
    return shell.read_files(sources, lambda message: _named(message, names), pipeline, sink, writer, write_path,
                            count, fail_on, quiet, html, points)


def _several(points: list) -> bool:
    """multipoint.several, without importing the vantage merger for one plain file (a fast start)."""
    if points == [None]:
        return False
    from carpscope.multipoint import several

    return several(points)


def _pcap_writer(write_path: str, linktype: int):
    """The -w file (capture/writer.py is imported only when -w is given)."""
    from carpscope.capture.writer import PcapWriter

    return PcapWriter.open(write_path, linktype)


_CAPTURE_SUFFIXES = (".gz", ".pcapng", ".pcap", ".cap", ".dmp")


def vantage_points(args) -> tuple[list[str], list[str | None], bool]:
    """NAME=FILE arguments: (the files, the vantage point of each, whether any was named).

    A plain FILE is named after its file name (without a capture suffix); a file whose
    name holds '=' is given with a '/' before it ('./a=b.pcap'). Names must differ.
    """
    files, points, explicit = [], [], []
    for arg in args:
        name, eq, path = arg.partition("=")
        explicit.append(bool(eq and name and "/" not in name and path))
        if explicit[-1]:
            files.append(path)
            points.append(name)
        else:
            files.append(arg)
            base = os.path.basename(arg.rstrip("/")) or arg
            for suffix in _CAPTURE_SUFFIXES:
                if base.endswith(suffix) and len(base) > len(suffix):
                    base = base[: -len(suffix)]
            points.append("stdin" if arg == "-" else base)
    if not any(explicit) and len(files) == 1:
        return files, [None], False
    given = [p for p, e in zip(points, explicit) if e]
    twice = next((p for p in given if given.count(p) > 1), None)
    if twice is not None:
        raise UsageError(f"{twice}=: the vantage point {twice} is named twice")
    seen = set(given)
    for i, point in enumerate(points):
        if explicit[i]:
            continue
        if point in seen:
            n = 2
            while f"{point}#{n}" in seen:
                n += 1
            points[i] = point = f"{point}#{n}"
        seen.add(point)
    return files, points, any(explicit)


def _openable(files) -> list[tuple[str, str]]:
    """(path libpcap can open, name the user gave) per file. libpcap (through pcapy) takes only
    UTF-8 names; a name that is not (the OS gives bytes) is opened here, as bytes, and read
    through /proc/PID/fd/N, which the child that scans big files can open as well."""
    names = []
    for name in files:
        try:
            name.encode()
            names.append((name, name))
        except UnicodeEncodeError:
            try:
                fd = os.open(os.fsencode(name), os.O_RDONLY | os.O_CLOEXEC)
            except OSError as err:
                raise CaptureError(f"{name}: {err.strerror or err}") from None
            names.append((f"/proc/{os.getpid()}/fd/{fd}", name))
    return names


def _named(message: str, names: list[tuple[str, str]]) -> str:
    """A capture layer message with the user's own spelling of the file names."""
    for path, name in names:
        if path != name:
            message = message.replace(path, name)
    return message


def refuse_unsafe_output(write_path: str, option: str = "-w", writes: str = "pcap bytes") -> None:
    """-w onto standard output or a terminal would mix pcap bytes into the text or JSON, or send
    bytes from packets (escape sequences among them) to the screen (issue 20); --html likewise."""
    try:
        out = os.stat(write_path)
    except OSError:
        return
    if stat.S_ISDIR(out.st_mode):
        raise UsageError(f"{option} {write_path}: is a directory")
    for fd, what in ((1, "the standard output"), (2, "the standard error")):
        try:
            if not stat.S_ISCHR(out.st_mode) and os.path.samestat(out, os.fstat(fd)):  # /dev/null is fine
                raise UsageError(f"{option} {write_path}: that is {what}; {option} writes {writes}, give it a file")
        except OSError:
            continue
    if stat.S_ISCHR(out.st_mode) and _is_terminal(write_path):
        raise UsageError(f"{option} {write_path}: that is a terminal; {option} writes {writes}, give it a file")


def _is_terminal(path: str) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        return os.isatty(fd)
    finally:
        os.close(fd)


def refuse_overwriting_inputs(write_path: str, files, pass_file: str | None = None, option: str = "-w",
                              writes: str = "pcap bytes") -> None:
    """-w onto an input (a capture, the --pass-file) would empty it, whatever the path's spelling."""
    refuse_unsafe_output(write_path, option, writes)
    try:
        out = os.stat(write_path)
    except OSError:
        return  # a file that does not exist yet is no input
    if not stat.S_ISREG(out.st_mode):
        return  # /dev/null and the like
    inputs = [(name, name == "-", f"the input {name}") for name in files]  # capture "-": standard input
    if pass_file:
        inputs.append((pass_file, False, "the --pass-file"))
    for name, stdin, what in inputs:
        try:
            st = os.fstat(sys.stdin.fileno()) if stdin else os.stat(name)
        except (OSError, ValueError):
            continue  # reading it will say what is wrong
        if os.path.samestat(out, st):
            raise UsageError(f"{option} {write_path}: that is {what}; it would be overwritten")


class HtmlReport:
    """--html FILE: refused like -w, opened (so created) once the inputs open, before any
    output, and written when the run ends (issue 17).

    A path that cannot be written is a one-line error and exit 3, as for -w: before the
    run when it cannot be created, after the report when writing it fails.
    """

    def __init__(self, path: str, handle, sources):
        self.path, self.handle, self.sources = path, handle, list(sources)
        self.error: str | None = None

    @staticmethod
    def refuse(path: str, files, pass_file: str | None, write_path: str | None) -> None:
        """The usage errors: an input, the -w file, standard output or a terminal, '-'."""
        refuse_overwriting_inputs(path, files, pass_file, "--html", "HTML")
        if path == "-":
            raise UsageError("--html -: --html writes HTML, give it a file")
        if write_path and os.path.realpath(write_path) == os.path.realpath(path):
            raise UsageError(f"--html {path}: that is the -w file; it would be overwritten")

    @classmethod
    def open(cls, path: str, sources) -> HtmlReport:
        try:
            return cls(path, open(path, "w", encoding="utf-8", errors="surrogateescape"), sources)
        except OSError as err:
            raise CaptureError(f"--html {path}: {err.strerror or err}") from None

    def write(self, summary, snapshot) -> str | None:
        """The page from the run's summary; returns why it could not be written, if so."""
        from carpscope.views import html

        page = html.render(snapshot, summary.events, list(summary.findings), summary.first_time,
                           summary.last_time, self.sources)
        try:
            with self.handle:
                self.handle.write(page)
        except OSError as err:
            self.error = f"--html {self.path}: {err.strerror or err}"
        return self.error


@main.command()
@click.argument("iface", required=False, metavar="IFACE")
@click.option("--list", "list_interfaces", is_flag=True, help="List the interfaces to capture on, like tcpdump -D.")
@click.option("--duration", type=float, metavar="SECONDS",
              help="Stop after this many seconds and print the report.")
@click.option("--metrics", "metrics", metavar="[ADDR:]PORT",
              help="Serve Prometheus metrics over HTTP on this port (all addresses unless ADDR is given).")
@click.option("--from", "commands", multiple=True, metavar="NAME=COMMAND",
              help="Run COMMAND (a pcap stream on its output, e.g. ssh fw1 tcpdump -U -w -) as vantage point NAME "
                   "(repeatable).")
@shared_options
@_guard
def live(iface, list_interfaces, duration, metrics, commands, passphrases, pass_file, vips, bpf, count, write_path,
         html_path, quiet, verbose, fmt, fail_on, decode_as, timing, color):
    """Watch a live interface, or pcap streams ('-' for stdin, --from commands): a dashboard on a
    terminal, streamed output otherwise.

    Ctrl-C or the end of --duration stops the capture and prints the report.
    """
    from carpscope import live_shell
    from carpscope.capture import live as capture_live
    from carpscope.capture.writer import PcapWriter

    if list_interfaces:
        from carpscope.views.text import escape

        for number, name in enumerate(capture_live.interfaces(), 1):
            click.echo(f"{number}.{escape(name)}")
        return
    if not iface and not commands:
        raise UsageError("live needs an interface (carpscope live --list shows them), '-' or --from")
    if commands or iface == "-":
        return _live_pipes(iface, commands, duration, metrics, passphrases, pass_file, vips, bpf, count, write_path,
                           html_path, quiet, verbose, fmt, fail_on, decode_as, timing, color)
    if duration is not None and not (0 < duration <= MAX_DURATION):  # also refuses nan and inf
        raise UsageError(f"--duration {duration}: give a number of seconds above 0 and at most {MAX_DURATION}"
                         " (a year)")
    _utf8_interface(iface)
    if write_path:
        refuse_overwriting_inputs(write_path, (), pass_file)
    if html_path:
        HtmlReport.refuse(html_path, (), pass_file, write_path)
    if metrics:
        from carpscope.serve import parse_listen

        parse_listen(metrics)  # a malformed --metrics is a usage error before the capture opens
    stdout = _Unbroken(click.get_text_stream("stdout"))
    use_dashboard = fmt == "text" and not quiet and not verbose and stdout.isatty()
    # The metrics count every advert's verdict, so they need the per-packet records.
    lean = (quiet or use_dashboard) and not metrics
    pipeline = build_pipeline(passphrases, pass_file, vips, decode_as, timing, lean=lean)
    reader = capture_live.open_live(iface, bpf)
    pipeline = _any_once(pipeline, reader.datalink())
    writer = PcapWriter.open(write_path, reader.datalink()) if write_path else None
    html = HtmlReport.open(html_path, [f"live capture on {iface}"]) if html_path else None
    server = _metrics_server(metrics, iface, reader)  # before the sink: a taken port fails before any output
    sink = make_sink(fmt, verbose, quiet or use_dashboard, color)
    dashboard_color = wants_color(color, stdout) if use_dashboard else None
    return live_shell.watch(reader, iface, pipeline, sink, writer, stdout, count, duration, fail_on,
                            dashboard_color, html, server)


def _any_once(pipeline, linktype: int):
    """Linux `any` (SLL, SLL2) sees a bridged frame on every interface it crosses: one packet each."""
    from carpscope.wire.linklayer import COOKED

    if linktype not in COOKED:
        return pipeline
    from carpscope.multipoint import MultiPoint
    from carpscope.vantage import Merger

    return MultiPoint(pipeline, Merger(None, learn=False), [])


def from_commands(iface: str | None, commands) -> list[tuple[str | None, str | None]]:
    """(vantage point, command) per pcap stream: '-' is standard input, --from NAME=COMMAND runs one."""
    if iface not in (None, "-"):
        raise UsageError(f"{iface}: give an interface, or pcap streams ('-', --from), not both")
    streams: list[tuple[str | None, str | None]] = []
    for spec in commands:
        name, eq, command = spec.partition("=")
        if not (eq and name and command.strip()) or "/" in name:
            raise UsageError(f"--from {spec}: give NAME=COMMAND (the command writes pcap: tcpdump -U -w -)")
        if any(name == n for n, _ in streams):
            raise UsageError(f"--from {name}=: the vantage point {name} is named twice")
        streams.append((name, command))
    if iface == "-":
        streams.insert(0, ("stdin" if streams else None, None))
    return streams


def _live_pipes(iface, commands, duration, metrics, passphrases, pass_file, vips, bpf, count, write_path, html_path,
                quiet, verbose, fmt, fail_on, decode_as, timing, color):
    """live from pcap streams (capture/pipes.py): stdin and --from commands, one vantage point each."""
    from carpscope import live_shell
    from carpscope.capture import pipes as capture_pipes
    from carpscope.multipoint import MultiPoint, several
    from carpscope.vantage import Merger

    streams = from_commands(iface, commands)
    for option, value in (("-f", bpf), ("-w", write_path), ("--metrics", metrics)):
        if value:
            raise UsageError(f"{option}: not with pcap streams ('-', --from); filter and save in the command")
    if duration is not None and not (0 < duration <= MAX_DURATION):
        raise UsageError(f"--duration {duration}: give a number of seconds above 0 and at most {MAX_DURATION}"
                         " (a year)")
    if html_path:
        HtmlReport.refuse(html_path, (), pass_file, None)
    stdout = _Unbroken(click.get_text_stream("stdout"))
    use_dashboard = fmt == "text" and not quiet and not verbose and stdout.isatty()
    points = [name for name, _ in streams]
    lean = (quiet or use_dashboard) and not several(points)
    pipeline = build_pipeline(passphrases, pass_file, vips, decode_as, timing, lean=lean)
    merger = Merger(points[0], learn=len(points) > 1, delay=capture_pipes.LAG)
    pipeline = MultiPoint(pipeline, merger, points)
    pipes = []
    try:
        for name, command in streams:
            pipes.append(capture_pipes.stdin(name) if command is None else capture_pipes.spawn(name, command))
    except CarpscopeError:
        capture_pipes.close(pipes)
        raise
    label = " ".join(p.label for p in pipes)
    html = HtmlReport.open(html_path, [f"live capture from {label}"]) if html_path else None
    sink = make_sink(fmt, verbose, quiet or use_dashboard, color)
    dashboard_color = wants_color(color, stdout) if use_dashboard else None
    return live_shell.watch(None, label, pipeline, sink, None, stdout, count, duration, fail_on,
                            dashboard_color, html, None, pipes)


def _metrics_server(spec: str | None, iface: str, reader):
    """live --metrics: the Prometheus endpoint (serve.py), or None."""
    if not spec:
        return None
    from carpscope.serve import MetricsServer

    return MetricsServer(spec, iface, reader)


class _PluginCommand(click.Command):
    """A monitoring plugin: a usage error is UNKNOWN (3) with a status line, not click's exit 2."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as err:
            from carpscope import check as plugin

            click.echo(plugin.unknown(err.format_message()))
            raise click.exceptions.Exit(3) from None


@main.command(cls=_PluginCommand)
@click.option("-r", "--read", "path", metavar="FILE", help="Check a capture file.")
@click.option("-i", "--interface", "iface", metavar="IFACE", help="Check a live interface for --duration seconds.")
@click.option("--duration", type=float, default=10.0, show_default=True, metavar="SECONDS",
              help="How long -i listens.")
@click.option("--expect-master", multiple=True, metavar="ID=ADDR",
              help="The master vhid (or vrid) ID should have; another is WARNING, none CRITICAL (repeatable).")
@click.option("--max-gap", type=click.FloatRange(min=0), metavar="SECONDS",
              help="A failover gap longer than this is WARNING.")
@click.option("-p", "--pass", "passphrases", multiple=True, metavar="TEXT",
              help="Candidate CARP passphrase (repeatable).")
@click.option("--pass-file", metavar="PATH", help="File with one passphrase per line.")
@click.option("--vip", "vips", multiple=True, metavar="[VHID=]ADDR", help="Virtual address covered by the CARP HMAC.")
@click.option("-f", "--filter", "bpf", metavar="BPF", help="Capture filter, added to the protocol-112 default.")
@click.option("--timing", type=click.Choice(["auto", "bsd", "openbsd"]), default="auto", show_default=True,
              help="Master-down formula, as for read and live.")
@_guard
def check(path, iface, duration, expect_master, max_gap, passphrases, pass_file, vips, bpf, timing):
    """A Nagios/Icinga check: one status line with performance data.

    Exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (unreadable file or interface, usage).
    """
    from carpscope import check as plugin
    from carpscope import shell

    try:
        if (path is None) == (iface is None):
            raise UsageError("check needs either -r FILE or -i IFACE")
        if not 0 < duration <= MAX_DURATION:
            raise UsageError(f"--duration {duration}: give a number of seconds above 0 and at most {MAX_DURATION}")
        limits = plugin.Thresholds(plugin.parse_expect(expect_master), max_gap)
        pipeline = build_pipeline(passphrases, pass_file, vips, None, timing)
        if path is not None:
            names = _openable((path,))
            shell.check_file(pipeline, [p for p, _ in names], bpf, lambda message: _named(message, names))
        else:
            _utf8_interface(iface)
            shell.check_interface(pipeline, iface, duration, bpf)
    except CarpscopeError as err:
        click.echo(plugin.unknown(str(err)))
        return plugin.UNKNOWN
    except KeyboardInterrupt:
        click.echo(plugin.unknown("interrupted"))
        return plugin.UNKNOWN
    state, line = plugin.judge(pipeline.tracker.snapshot(), pipeline.events, pipeline.tallies(),
                               pipeline.adverts, limits)
    click.echo(line)
    return state


def _utf8_interface(iface: str) -> None:
    """libpcap opens interfaces by UTF-8 name; another (the OS gives bytes) is none it can open."""
    from carpscope.errors import LiveCaptureError

    try:
        iface.encode()
    except UnicodeEncodeError:
        raise LiveCaptureError(f"{iface}: no such interface (an interface name libpcap can open is UTF-8)") \
            from None


if __name__ == "__main__":  # pragma: no cover
    main()
