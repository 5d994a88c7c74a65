"""The imperative shell around the pure pipeline: drive it, draw the dashboard, stop on signals.

cli.py parses the options and builds the objects; this module feeds frames (and,
live, ticks) through the pipeline into a sink and the -w file, and returns the
exit status the run earned. It never exits: cli.py maps statuses and errors to
the process's exit in one place (docs/design.md, "functional core, imperative shell").
Live capture sleeps until the next deadline of the core (Pipeline.next_deadline),
the dashboard's next refresh, the end of --duration or a signal, whichever is
first, as aioquic's shell re-arms its timer from get_timer().
"""

from __future__ import annotations

import os
import sys
import time

import click

from carpscope import findings as kinds
from carpscope.errors import (
    EXIT_CAPTURE,
    EXIT_FINDING,
    EXIT_INTERRUPTED,
    CaptureError,
)
from carpscope.model import Finding, Severity, Tick

FAIL_ON = {"critical": Severity.CRITICAL, "warning": Severity.WARNING, "never": None}


def say(message: str) -> None:
    """One line on standard error, escaped: it may quote the user's file names and arguments,
    which can hold control bytes, escape sequences or bidi overrides (issue 20)."""
    from carpscope.views.text import escape

    click.echo(f"carpscope: {escape(message)}", err=True)


def silence_stdout() -> None:
    """Standard output to /dev/null: the reader of the pipe has gone."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


class Unbroken:
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
        silence_stdout()

    def __getattr__(self, name):
        return getattr(self._out, name)


def terminal_width(out) -> int | None:
    """The columns of the terminal `out` is, or None when it is none."""
    try:
        if not out.isatty():
            return None
        columns = os.get_terminal_size(out.fileno()).columns
    except (OSError, ValueError):
        return None
    return max(columns, 20) if columns else 80


# -- driving the pipeline ---------------------------------------------------------


def run(stream, pipeline, sink, writer, count: int | None, on_step=None) -> str | None:
    """Feed frames (and, live, ticks) through the pipeline into the sink and -w file.

    Returns why the -w file could not be written, if so: a full disk ends the
    writing, not the analysis, so the report is still whole (then exit 3).
    """
    emit = sink.emit
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
        if hasattr(pipeline, "flush"):  # frames still waiting for copies (vantage.Merger), before -w closes
            for thing in pipeline.flush():
                emit(thing)
            if writer is not None and write_error is None:
                try:
                    for frame in pipeline.fed:
                        writer.write(frame)
                except CaptureError as err:
                    write_error = str(err)
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
    write_error = None
    released = hasattr(pipeline, "fed")  # behind a vantage.Merger: the frames it fed, copies folded
    for item in stream:
        if isinstance(item, Tick):
            happened = pipeline.advance(item.now)
            saved = pipeline.fed if released else ()
        else:
            records = pipeline.records
            happened = pipeline.feed(item)
            saved = pipeline.fed if released else (item,) if pipeline.records != records else ()
        if writer is not None and saved and write_error is None:
            try:
                for frame in saved:
                    writer.write(frame)
            except CaptureError as err:
                write_error = str(err)
        for thing in happened:
            emit(thing)
        if on_step is not None and on_step(item):
            break
        if count is not None and pipeline.adverts >= count:
            break
    return write_error


def exit_status(summary, fail_on: str) -> int:
    """0, or EXIT_FINDING when a finding reached the --fail-on level."""
    threshold = FAIL_ON[fail_on]
    worst = summary.worst()
    if threshold is not None and worst is not None and worst.rank >= threshold.rank:
        return EXIT_FINDING
    return 0


def conclude(pipeline, sink, fail_on: str, damage: str | None = None, damage_code: int = EXIT_CAPTURE,
             write_error: str | None = None, html=None) -> int:
    """Print the report (and write the --html page), then any error on one line each; the exit status."""
    if damage:
        pipeline.note(Finding(kinds.TRUNCATED_CAPTURE if damage_code == EXIT_CAPTURE else kinds.CAPTURE_LOST,
                              Severity.WARNING, f"{damage}; everything before it was analysed",
                              None, pipeline.last_time))
    summary, snapshot = pipeline.summary(), pipeline.tracker.snapshot()
    sink.close(summary, snapshot)
    if html is not None:
        write_error = html.write(summary, snapshot) or write_error
    for message in (damage, write_error):
        if message:
            say(message)
    if damage:
        return damage_code
    return EXIT_CAPTURE if write_error else exit_status(summary, fail_on)


# -- read --------------------------------------------------------------------------


def at_points(pipeline, sources, points: list, named: bool = True):
    """The pipeline for these captures: behind a vantage.Merger when they are several or taken
    on Linux `any` (each frame on several interfaces); else as it is (the fast read).

    Named captures (NAME=FILE) come from several points: their clock offsets are
    estimated from the frames they share. Plain files are taken to share one clock
    (most often they are the rotated files of one capture). Returns (pipeline,
    points for capture/files.frames or None)."""
    from carpscope.wire.linklayer import COOKED

    if points == [None] and sources[0].linktype not in COOKED:
        return pipeline, None  # (the merger and its imports are not needed: a fast start)
    from carpscope.capture import files as capture_files
    from carpscope.multipoint import MultiPoint
    from carpscope.vantage import Merger, estimate

    if points == [None]:
        return MultiPoint(pipeline, Merger(None, learn=False), []), None
    estimated = estimate(capture_files.samples(sources, points), points[0])
    if not named:
        _clock_hint(estimated.shown(), points[0])
    offsets = estimated if named else None  # plain files share one clock
    return MultiPoint(pipeline, Merger(points[0], learn=False, offsets=offsets), points, named), points


def _clock_hint(shown: dict, reference: str) -> None:
    """Plain files share one clock; when their shared frames say otherwise, tell how to align them."""
    from carpscope.vantage import WINDOW

    for point, (offset, shared) in shown.items():
        if abs(offset) > WINDOW and shared >= 3:
            say(f"note: {point} shares {shared} frames with {reference} {offset:+.3f}s apart: if they were "
                f"captured at two points, name them (NAME=FILE) to align their clocks")


def read_files(sources, named, pipeline, sink, writer, write_path: str | None, count: int | None,
               fail_on: str, quiet: bool, html=None, points: list | None = None) -> int:
    """Analyse opened capture files; `named` gives a message the user's spelling of file names."""
    from carpscope.capture import files as capture_files

    try:
        with _progress(sources, quiet):
            write_error = run(capture_files.frames(sources, points), pipeline, sink, writer, count)
    except KeyboardInterrupt:
        # Interrupted: still report what was read, then exit 130 (docs/design.md).
        summary, snapshot = pipeline.summary(), pipeline.tracker.snapshot()
        sink.close(summary, snapshot)
        if html is not None and html.write(summary, snapshot):
            say(html.error)
        return EXIT_INTERRUPTED
    if writer is not None and writer.skipped:
        say(f"note: -w {write_path}: {writer.skipped} frame(s) of another link type than the "
            f"first file's not saved (a pcap holds one link type)")
    damage = next((named(f"{s.damage.path}: {s.damage.reason}") for s in sources if s.damage), None)
    return conclude(pipeline, sink, fail_on, damage, write_error=write_error, html=html)


def check_file(pipeline, paths, bpf, named) -> None:
    """`check -r`: feed the capture through the pipeline; damage is judged as a warning."""
    from carpscope.capture import files as capture_files
    from carpscope.check import Quiet

    sources = capture_files.open_sources(paths, bpf)
    run(capture_files.frames(sources), pipeline, Quiet(), None, None)
    damage = sources[0].damage
    if damage:  # what came before the damage was read: judged, with the damage as a warning
        pipeline.note(Finding(kinds.TRUNCATED_CAPTURE, Severity.WARNING, named(damage.reason), None,
                              pipeline.last_time))


def check_interface(pipeline, iface: str, duration: float, bpf) -> None:
    """`check -i`: feed the interface through the pipeline for `duration` seconds."""
    from carpscope.capture import live as capture_live
    from carpscope.check import Quiet

    reader = capture_live.open_live(iface, bpf)
    stop_at = time.time() + duration
    run(capture_live.stream(reader, iface), pipeline, Quiet(), None, None, lambda item: time.time() >= stop_at)


def _progress(sources, quiet: bool):
    """A progress bar on standard error while big files are read (views/progress.py)."""
    import contextlib

    from carpscope.views import progress

    if not progress.wanted(sys.stderr, sys.stdout, quiet):
        return contextlib.nullcontext()
    return progress.FileProgress(sources, sys.stderr)
