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
    EXIT_LIVE,
    CaptureError,
    LiveCaptureError,
)
from carpscope.model import Finding, Severity, Tick

FAIL_ON = {"critical": Severity.CRITICAL, "warning": Severity.WARNING, "never": None}
_MIN_SLEEP = 0.005  # a deadline already past wakes the capture at once, without spinning
_SLACK = 0.001  # wake just after a deadline, not just before it


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
    from carpscope.capture import files as capture_files
    from carpscope.multipoint import MultiPoint
    from carpscope.vantage import COOKED, Merger, estimate

    if points == [None]:
        if sources[0].linktype not in COOKED:
            return pipeline, None
        return MultiPoint(pipeline, Merger(None, learn=False), []), None
    offsets = estimate(capture_files.samples(sources, points), points[0])
    if not named:
        _clock_hint(offsets.shown(), points[0])
        offsets = None
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


# -- live --------------------------------------------------------------------------


def watch(reader, iface: str, pipeline, sink, writer, stdout, count: int | None, duration: float | None,
          fail_on: str, dashboard_color: bool | None, html=None, server=None, pipes=None) -> int:
    """Watch a live interface until -c, --duration, a signal or a lost interface; the exit status.

    dashboard_color: None streams the sink's output; else a dashboard (coloured or
    not) is drawn and the report follows it. `pipes`: pcap streams (stdin, --from
    commands, capture/pipes.py) instead of the interface.
    """
    from carpscope.capture import live as capture_live

    stop_at = time.time() + duration if duration else None
    dashboard = _Dashboard(pipeline, iface, stdout, dashboard_color) if dashboard_color is not None else None
    lost = write_error = None
    if server is not None:  # live --metrics (serve.py): it counts what the sink is given
        sink = server.tap(sink)
        server.refresh(pipeline, time.time(), force=True)

    def step(item) -> bool:
        now = time.time()
        if server is not None:
            server.refresh(pipeline, now)
        if dashboard is not None:
            dashboard.refresh(now)
        else:
            stdout.flush()  # piped text streams as it happens
        return stopping.requested or (stop_at is not None and now >= stop_at)

    def sleep() -> float | None:
        """Seconds until something is due: the core's next deadline, a redraw, the end."""
        return _sleep(time.time(), pipeline.next_deadline(), dashboard, stop_at)

    with _StopOnSignals() as stopping:
        try:
            if dashboard is not None:
                dashboard.start(time.time())
            if pipes is None:
                frames = capture_live.stream(reader, iface, wait=stopping.wait, timeout=sleep)
            else:
                frames = _from_pipes(pipes, pipeline, stopping.wait, sleep)
            write_error = run(frames, pipeline, sink, writer, count, step)
        except LiveCaptureError as err:  # the interface went away: report what came before
            lost = str(err)
            for thing in pipeline.finish():
                sink.emit(thing)
        finally:
            if pipes is not None:
                from carpscope.capture import pipes as capture_pipes

                capture_pipes.close(pipes)
            if dashboard is not None:
                dashboard.stop()
            if server is not None:
                server.close()
    if dashboard is not None:
        sink.follow_dashboard(terminal_width(stdout))  # the report follows, at the terminal's width now
    return conclude(pipeline, sink, fail_on, lost, EXIT_LIVE, write_error, html)


def _from_pipes(pipes, pipeline, wait, sleep):
    """The frames of pcap streams; a stream that ends is said at once (its command's stderr, one
    line) and noted as capture-lost, and the others go on."""
    from carpscope.capture import pipes as capture_pipes

    def ended(pipe) -> None:
        if pipe.process is None or pipe.process.returncode == 0:
            return  # the stream ended: the end of the capture, once every stream has
        what = f"{pipe.label}" + (f" ({pipe.command})" if pipe.command else "")
        message = f"{what}: {pipe.ended}"
        say(message)
        pipeline.note(Finding(kinds.CAPTURE_LOST, Severity.WARNING, message, None, pipeline.last_time,
                              vantage=pipe.name))

    def timeout() -> float:
        wake = sleep()
        return 0.5 if wake is None else min(wake, 0.5)

    return capture_pipes.stream(pipes, ended, wait=wait, timeout=timeout)


def _sleep(now: float, deadline: float | None, dashboard, stop_at: float | None) -> float | None:
    """How long live capture may wait for frames: None, until one arrives or a signal.

    A tick claims only what was captured LAG ago (capture/live.py), so a deadline is
    met by waking LAG after it.
    """
    from carpscope.capture.live import LAG

    wakes = [] if deadline is None else [deadline + LAG + _SLACK]
    if dashboard is not None:
        wakes.append(dashboard.last + dashboard.PERIOD)
    if stop_at is not None:
        wakes.append(stop_at)
    return max(min(wakes) - now, _MIN_SLEEP) if wakes else None


class _StopOnSignals:
    """SIGINT/SIGTERM end a live capture between two packets; a second SIGINT interrupts at once.

    A signal also wakes the capture from its sleep (signal.set_wakeup_fd), which may
    last until the next deadline.
    """

    def __init__(self):
        self.requested = False

    def __enter__(self):
        import signal

        self.saved = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._saved_fd = signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        return self

    def _handle(self, signum, frame) -> None:
        import signal

        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def wait(self, readable: list, writable: list, errors: list, timeout: float | None):
        """select() on the capture and on the signals' wake-up pipe (drained here)."""
        import select

        ready = select.select([*readable, self._wake_r], writable, errors, timeout)
        if self._wake_r in ready[0]:
            try:
                os.read(self._wake_r, 512)
            except OSError:
                pass
            if self.requested:
                # As with the fixed tick before: the capture ends at the next frame or within
                # TICK, and a second SIGINT meanwhile still interrupts at once (exit 130).
                from carpscope.capture.live import TICK

                ready = select.select(readable, writable, errors, TICK)
        return ready

    def __exit__(self, *exc_info) -> None:
        import signal

        signal.set_wakeup_fd(self._saved_fd)
        os.close(self._wake_r)
        os.close(self._wake_w)
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
        summary = self.pipeline.summary()
        width, height = self.console.size
        screen = tui.dashboard(self.pipeline.tracker.snapshot(), summary.events, list(summary.findings), now,
                               self.iface, summary.adverts, max(width, 20), max(height - 1, 8), summary.hearing)
        self.live.update(screen, refresh=True)

    def stop(self) -> None:
        self.live.stop()
