"""The command line: `carpscope read` and `carpscope live`.

The only module that exits or maps errors to exit codes (DESIGN.md): 0 success,
1 a finding at the --fail-on level, 2 usage, 3 an unreadable or damaged capture
file, 4 a live capture or filter that cannot be set up, 130 interrupted.
"""

from __future__ import annotations

import functools
import os
import stat
import sys

import click

from carpscope import __version__
from carpscope import findings as kinds
from carpscope.errors import CaptureError, CarpscopeError, PassphraseError, UsageError
from carpscope.model import Finding, Severity

EXIT_FINDING, EXIT_USAGE, EXIT_CAPTURE, EXIT_LIVE, EXIT_INTERRUPTED = 1, 2, 3, 4, 130
MAX_DURATION = 366 * 86400  # live --duration: finite and bounded (issue 20)
_FAIL_ON = {"critical": Severity.CRITICAL, "warning": Severity.WARNING, "never": None}


def say(message: str) -> None:
    """One line on standard error, escaped: it may quote the user's file names and arguments,
    which can hold control bytes, escape sequences or bidi overrides (issue 20)."""
    from carpscope.views.text import escape

    click.echo(f"carpscope: {escape(message)}", err=True)


def _fail(message: str, code: int) -> None:
    say(message)
    sys.exit(code)


def shared_options(func):
    """The options `read` and `live` share, in tcpdump/tshark spirit (DESIGN.md)."""
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


def _guard(func):
    """Map errors to exit codes; no traceback reaches a user."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except CarpscopeError as err:
            _fail(str(err), err.exit_code)
        except KeyboardInterrupt:
            sys.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:
            # The reader left before the sinks knew (they go on to the earned status, _Unbroken).
            _silence_stdout()
            sys.exit(0)

    return wrapper


def read_passphrases(passphrases: tuple[str, ...], pass_file: str | None) -> list[bytes]:
    """Passphrases as the bytes the shell passed (PROTOCOL.md §2.2); never echoed."""
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


def build_pipeline(passphrases, pass_file, vips, decode_as, timing):
    """The core objects both commands share."""
    from carpscope.auth import Verifier
    from carpscope.election.rules import Timing
    from carpscope.election.tracker import Tracker
    from carpscope.pipeline import Pipeline

    keys = read_passphrases(passphrases, pass_file)
    verifier = Verifier(keys, parse_vips(vips))
    for position in verifier.long_passphrases():
        say(f"note: passphrase {position} is longer than 19 characters; BSD ifconfig and ucarp use only its first 19")
    tracker = Tracker(timing=Timing(timing or "auto"))
    return Pipeline(verifier, tracker, decode_as)


def wants_color(color: str, out) -> bool:
    """--color: always, never, or auto (a terminal, and NO_COLOR unset or empty)."""
    if color != "auto":
        return color == "always"
    return out.isatty() and not os.environ.get("NO_COLOR")


def make_sink(fmt: str, verbose: bool, quiet: bool, color: str):
    """The output sink for -T: text laid out to the terminal's width (80 when piped); colour only colours."""
    from carpscope import output

    out = _Unbroken(click.get_text_stream("stdout"))
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


def terminal_width(out) -> int | None:
    """The columns of the terminal `out` is, or None when it is none."""
    try:
        if not out.isatty():
            return None
        columns = os.get_terminal_size(out.fileno()).columns
    except (OSError, ValueError):
        return None
    return max(columns, 20) if columns else 80


def exit_status(pipeline, fail_on: str) -> int:
    threshold = _FAIL_ON[fail_on]
    worst = pipeline.worst()
    if threshold is not None and worst is not None and worst.rank >= threshold.rank:
        return EXIT_FINDING
    return 0


def run(stream, pipeline, sink, writer, count: int | None, on_step=None) -> str | None:
    """Feed frames (and, live, ticks) through the pipeline into the sink and -w file.

    Returns why the -w file could not be written, if so: a full disk ends the
    writing, not the analysis, so the report is still whole (then exit 3).
    """
    emit = sink.emit
    pipeline.lean = not sink.wants_records
    write_error = None
    try:
        if writer is None and on_step is None and count is None:
            # The common `read`: nothing to do between frames but show what they cause.
            feed = pipeline.feed
            for frame in stream:
                for thing in feed(frame):
                    emit(thing)
        else:
            write_error = _steps(stream, pipeline, emit, writer, count, on_step)
    finally:
        if writer is not None:
            try:
                writer.close()
            except CaptureError as err:
                write_error = write_error or str(err)
    for thing in pipeline.finish():
        emit(thing)
    return write_error


def _steps(stream, pipeline, emit, writer, count: int | None, on_step) -> str | None:
    """run() with ticks, -w, -c or a step callback (live's dashboard and stop conditions)."""
    from carpscope.model import Tick

    write_error = None
    for item in stream:
        if isinstance(item, Tick):
            happened = pipeline.advance(item.now)
        else:
            records = pipeline.records
            happened = pipeline.feed(item)
            if writer is not None and pipeline.records != records and write_error is None:
                try:
                    writer.write(item)
                except CaptureError as err:
                    write_error = str(err)
        for thing in happened:
            emit(thing)
        if on_step is not None and on_step(item):
            break
        if count is not None and pipeline.adverts >= count:
            break
    return write_error


def conclude(pipeline, sink, fail_on: str, damage: str | None = None, damage_code: int = EXIT_CAPTURE,
             write_error: str | None = None) -> None:
    """Print the report, then any error on one line each, and exit with the documented status."""
    if damage:
        pipeline.note(Finding(kinds.TRUNCATED_CAPTURE if damage_code == EXIT_CAPTURE else kinds.CAPTURE_LOST,
                              Severity.WARNING, f"{damage}; everything before it was analysed",
                              None, pipeline.last_time))
    sink.close(pipeline, pipeline.tracker.snapshot())
    for message in (damage, write_error):
        if message:
            say(message)
    if damage:
        sys.exit(damage_code)
    sys.exit(EXIT_CAPTURE if write_error else exit_status(pipeline, fail_on))


@main.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@shared_options
@_guard
def read(files, passphrases, pass_file, vips, bpf, count, write_path, quiet, verbose, fmt, fail_on,
         decode_as, timing, color):
    """Analyse capture files: pcap, pcapng, gzip-compressed, or '-' for stdin.

    Several files are merged by timestamp. Ends with a post-mortem report:
    groups, a timeline of elections and failovers, and findings.
    """
    from carpscope.capture import files as capture_files
    from carpscope.capture.writer import PcapWriter

    if write_path:
        refuse_overwriting_inputs(write_path, files, pass_file)
    pipeline = build_pipeline(passphrases, pass_file, vips, decode_as, timing)
    names = _openable(files)
    try:
        sources = capture_files.open_sources([path for path, _ in names], bpf)
    except CarpscopeError as err:
        raise type(err)(_named(str(err), names)) from None
    if any(s.streaming for s in sources):
        getattr(sys.stdout, "reconfigure", lambda **_: None)(line_buffering=True)  # a pipe in, each frame's line out as it arrives
    # The -w file before the sink: a -w that cannot be created fails before any output.
    writer = PcapWriter.open(write_path, sources[0].linktype) if write_path else None
    sink = make_sink(fmt, verbose, quiet, color)
    try:
        with _progress(sources, quiet):
            write_error = run(capture_files.frames(sources), pipeline, sink, writer, count)
    except KeyboardInterrupt:
        # Interrupted: still report what was read, then exit 130 (DESIGN.md).
        sink.close(pipeline, pipeline.tracker.snapshot())
        sys.exit(EXIT_INTERRUPTED)
    if writer is not None and writer.skipped:
        say(f"note: -w {write_path}: {writer.skipped} frame(s) of another link type than the "
            f"first file's not saved (a pcap holds one link type)")
    damage = next((_named(f"{s.damage.path}: {s.damage.reason}", names) for s in sources if s.damage), None)
    conclude(pipeline, sink, fail_on, damage, write_error=write_error)


def _progress(sources, quiet: bool):
    """A progress bar on standard error while big files are read (views/progress.py)."""
    import contextlib

    from carpscope.views import progress

    if not progress.wanted(sys.stderr, sys.stdout, quiet):
        return contextlib.nullcontext()
    return progress.FileProgress(sources, sys.stderr)


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


def _silence_stdout() -> None:
    """Standard output to /dev/null: the reader of the pipe has gone."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


class _Unbroken:
    """Standard output that outlives its reader: `carpscope read … | head -1` still reads to the
    end and exits with the status the run earned (1 for --fail-on, 3 for damage), not 0."""

    def __init__(self, out):
        self._out, self.broken = out, False

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                return self._out.write(text)
            except BrokenPipeError:
                self._break()
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self._out.flush()
            except BrokenPipeError:
                self._break()

    def _break(self) -> None:
        self.broken = True
        _silence_stdout()

    def __getattr__(self, name):
        return getattr(self._out, name)


def refuse_unsafe_output(write_path: str) -> None:
    """-w onto standard output or a terminal would mix pcap bytes into the text or JSON, or send
    bytes from packets (escape sequences among them) to the screen (issue 20)."""
    try:
        out = os.stat(write_path)
    except OSError:
        return
    if stat.S_ISDIR(out.st_mode):
        raise UsageError(f"-w {write_path}: is a directory")
    for fd, what in ((1, "the standard output"), (2, "the standard error")):
        try:
            if not stat.S_ISCHR(out.st_mode) and os.path.samestat(out, os.fstat(fd)):  # /dev/null is fine
                raise UsageError(f"-w {write_path}: that is {what}; -w writes pcap bytes, give it a file")
        except OSError:
            continue
    if stat.S_ISCHR(out.st_mode) and _is_terminal(write_path):
        raise UsageError(f"-w {write_path}: that is a terminal; -w writes pcap bytes, give it a file")


def _is_terminal(path: str) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        return os.isatty(fd)
    finally:
        os.close(fd)


def refuse_overwriting_inputs(write_path: str, files, pass_file: str | None = None) -> None:
    """-w onto an input (a capture, the --pass-file) would empty it, whatever the path's spelling."""
    refuse_unsafe_output(write_path)
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
            raise UsageError(f"-w {write_path}: that is {what}; it would be overwritten")


@main.command()
@click.argument("iface", required=False, metavar="IFACE")
@click.option("--list", "list_interfaces", is_flag=True, help="List the interfaces to capture on, like tcpdump -D.")
@click.option("--duration", type=float, metavar="SECONDS",
              help="Stop after this many seconds and print the report.")
@shared_options
@_guard
def live(iface, list_interfaces, duration, passphrases, pass_file, vips, bpf, count, write_path, quiet,
         verbose, fmt, fail_on, decode_as, timing, color):
    """Watch a live interface: a dashboard on a terminal, streamed output otherwise.

    Ctrl-C or the end of --duration stops the capture and prints the report.
    """
    import time

    from carpscope.capture import live as capture_live
    from carpscope.capture.writer import PcapWriter
    from carpscope.errors import LiveCaptureError

    if list_interfaces:
        from carpscope.views.text import escape

        for number, name in enumerate(capture_live.interfaces(), 1):
            click.echo(f"{number}.{escape(name)}")
        return
    if not iface:
        raise UsageError("live needs an interface (carpscope live --list shows them)")
    if duration is not None and not (0 < duration <= MAX_DURATION):  # also refuses nan and inf
        raise UsageError(f"--duration {duration}: give a number of seconds above 0 and at most {MAX_DURATION}"
                         " (a year)")
    try:
        iface.encode()
    except UnicodeEncodeError:
        raise LiveCaptureError(f"{iface}: no such interface (an interface name libpcap can open is UTF-8)") \
            from None
    if write_path:
        refuse_overwriting_inputs(write_path, (), pass_file)
    pipeline = build_pipeline(passphrases, pass_file, vips, decode_as, timing)
    reader = capture_live.open_live(iface, bpf)
    writer = PcapWriter.open(write_path, reader.datalink()) if write_path else None
    stdout = _Unbroken(click.get_text_stream("stdout"))
    use_dashboard = fmt == "text" and not quiet and not verbose and stdout.isatty()
    sink = make_sink(fmt, verbose, quiet or use_dashboard, color)
    stop_at = time.time() + duration if duration else None
    dashboard = _Dashboard(pipeline, iface, stdout, wants_color(color, stdout)) if use_dashboard else None
    lost = write_error = None

    def step(item) -> bool:
        now = time.time()
        if dashboard is not None:
            dashboard.refresh(now)
        else:
            stdout.flush()  # piped text streams as it happens
        return stopping.requested or (stop_at is not None and now >= stop_at)

    with _StopOnSignals() as stopping:
        try:
            if dashboard is not None:
                dashboard.start(time.time())
            write_error = run(capture_live.stream(reader, iface), pipeline, sink, writer, count, step)
        except LiveCaptureError as err:  # the interface went away: report what came before
            lost = str(err)
            for thing in pipeline.finish():
                sink.emit(thing)
        finally:
            if dashboard is not None:
                dashboard.stop()
    if use_dashboard:
        sink.quiet = False  # the report follows the dashboard,
        sink.width = terminal_width(stdout) or sink.width  # at the terminal's width now
    conclude(pipeline, sink, fail_on, lost, EXIT_LIVE, write_error)


class _StopOnSignals:
    """SIGINT/SIGTERM end a live capture between two packets; a second SIGINT interrupts at once."""

    def __init__(self):
        self.requested = False

    def __enter__(self):
        import signal

        self.saved = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def _handle(self, signum, frame) -> None:
        import signal

        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc_info) -> None:
        import signal

        for signum, handler in self.saved.items():
            signal.signal(signum, handler)


class _Dashboard:
    """A rich Live on the terminal, redrawn a few times a second from immutable snapshots."""

    PERIOD = 0.25

    def __init__(self, pipeline, iface: str, out, color: bool):
        from rich.console import Console
        from rich.live import Live

        self.pipeline, self.iface = pipeline, iface
        self.console = Console(file=out, force_terminal=True, no_color=not color, highlight=False)
        # The dashboard fits the screen itself (views/tui.py): rich never cuts a line with "...".
        self.live = Live(console=self.console, auto_refresh=False, transient=True, vertical_overflow="crop")
        self.last = 0.0

    def start(self, now: float) -> None:
        self.live.start()
        self.refresh(now, force=True)

    def refresh(self, now: float, force: bool = False) -> None:
        if not force and now - self.last < self.PERIOD:
            return
        from carpscope.views import tui

        self.last = now
        p = self.pipeline
        findings = [(t.first, t.count) for t in p.tallies()]
        width, height = self.console.size
        screen = tui.dashboard(p.tracker.snapshot(), p.events, findings, now, self.iface, p.adverts,
                               max(width, 20), max(height - 1, 8))
        self.live.update(screen, refresh=True)

    def stop(self) -> None:
        self.live.stop()


if __name__ == "__main__":  # pragma: no cover
    main()
