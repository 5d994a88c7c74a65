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
from carpscope.errors import CaptureError, CarpscopeError, PassphraseError, UsageError
from carpscope.model import Finding, Severity

EXIT_FINDING, EXIT_USAGE, EXIT_CAPTURE, EXIT_LIVE, EXIT_INTERRUPTED = 1, 2, 3, 4, 130
_FAIL_ON = {"critical": Severity.CRITICAL, "warning": Severity.WARNING, "never": None}


def _fail(message: str, code: int) -> None:
    click.echo(f"carpscope: {message}", err=True)
    sys.exit(code)


def shared_options(func):
    """The options `read` and `live` share, in tcpdump/tshark spirit (DESIGN.md)."""
    options = [
        click.option("-p", "--pass", "passphrases", multiple=True, metavar="TEXT",
                     help="Candidate CARP passphrase, tried against every group (repeatable)."),
        click.option("--pass-file", type=click.Path(dir_okay=False), metavar="PATH",
                     help="File with one passphrase per line (keeps them out of shell history and ps)."),
        click.option("--vip", "vips", multiple=True, metavar="[VHID=]ADDR",
                     help="Virtual address covered by the CARP HMAC (repeatable); inferred when absent."),
        click.option("-f", "--filter", "bpf", metavar="BPF",
                     help="Capture filter, added to the protocol-112 default."),
        click.option("-c", "--count", type=click.IntRange(min=1), metavar="N",
                     help="Stop after N protocol-112 packets."),
        click.option("-w", "--write", "write_path", type=click.Path(dir_okay=False), metavar="FILE",
                     help="Save the analysed packets as pcap."),
        click.option("-q", "--quiet", is_flag=True, help="No per-packet lines, only the report."),
        click.option("-V", "--verbose", is_flag=True, help="Protocol tree per packet."),
        click.option("-T", "--format", "fmt", type=click.Choice(["text", "json", "jsonl"]), default="text",
                     show_default=True, help="Output format."),
        click.option("--fail-on", type=click.Choice(list(_FAIL_ON)), default="never", show_default=True,
                     help="Exit 1 when a finding of that severity or worse is seen."),
        click.option("--decode-as", type=click.Choice(["carp", "vrrp"]),
                     help="Decode every protocol-112 packet as this protocol, whatever its shape."),
        click.option("--timing", type=click.Choice(["bsd", "openbsd"]), default="bsd", show_default=True,
                     help="Master-down formula: 3*advbase+advskew/256 (FreeBSD, ucarp, OpenBSD<7.8) "
                          "or 3*(advbase+advskew/256) (current OpenBSD)."),
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
            # `carpscope read … | head`: the reader left; say nothing more.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
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
            click.echo(f"carpscope: warning: {pass_file} is readable by other users; chmod 600 it", err=True)
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
            raise UsageError(f"--vip {item}: {addr!r} is not an IP address") from None
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
        click.echo(f"carpscope: note: passphrase {position} is longer than 19 characters; "
                   "BSD ifconfig and ucarp use only its first 19", err=True)
    tracker = Tracker(timing=Timing.OPENBSD if timing == "openbsd" else Timing.BSD)
    return Pipeline(verifier, tracker, decode_as)


def make_sink(fmt: str, verbose: bool, quiet: bool, color: str):
    """The output sink for -T; rich colours only on a terminal unless asked."""
    from carpscope import output

    out = click.get_text_stream("stdout")
    if fmt == "json":
        return output.JsonDocumentSink(out)
    if fmt == "jsonl":
        return output.JsonLinesSink(out)
    use_color = color == "always" or (color == "auto" and out.isatty() and "NO_COLOR" not in os.environ)
    console = None
    if use_color:
        from rich.console import Console

        console = Console(file=out, force_terminal=True, highlight=False)
    return output.TextSink(out, console, verbose=verbose, quiet=quiet)


def exit_status(pipeline, fail_on: str) -> int:
    threshold = _FAIL_ON[fail_on]
    worst = pipeline.worst()
    if threshold is not None and worst is not None and worst.rank >= threshold.rank:
        return EXIT_FINDING
    return 0


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

    pipeline = build_pipeline(passphrases, pass_file, vips, decode_as, timing)
    sources = capture_files.open_sources(list(files), bpf)
    sink = make_sink(fmt, verbose, quiet, color)
    writer = PcapWriter.open(write_path, sources[0].linktype) if write_path else None
    emit = sink.emit
    try:
        for frame in capture_files.frames(sources):
            happened = pipeline.feed(frame)
            if not happened:
                continue
            if writer is not None:
                writer.write(frame)
            for item in happened:
                emit(item)
            if count is not None and pipeline.adverts >= count:
                break
    finally:
        if writer is not None:
            writer.close()
    for item in pipeline.finish():
        emit(item)
    damage = [s.damage for s in sources if s.damage]
    for d in damage:
        f = Finding("truncated-capture", Severity.WARNING,
                    f"{d.path}: {d.reason}; everything before the damage was analysed",
                    None, pipeline.last_time)
        pipeline._tally((f,))
        emit(f)
    sink.close(pipeline, pipeline.tracker.snapshot())
    if damage:
        click.echo(f"carpscope: {damage[0].path}: {damage[0].reason}", err=True)
        sys.exit(EXIT_CAPTURE)
    sys.exit(exit_status(pipeline, fail_on))


if __name__ == "__main__":  # pragma: no cover
    main()
