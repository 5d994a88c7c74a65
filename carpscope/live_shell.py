"""The live side of the shell: `carpscope live` until -c, --duration, a signal or a lost capture.

I/O on purpose: the clock, signals, the rich dashboard and the capture loop. The
capture sleeps until the core's next deadline (tracker.next_deadline), a redraw of
the dashboard, or the end of --duration, whichever is first; a signal wakes it.
shell.py has what read and live share (run, conclude, the output helpers).
"""

from __future__ import annotations

import os
import time

from carpscope import findings as kinds
from carpscope.errors import EXIT_LIVE, LiveCaptureError
from carpscope.model import Finding, Severity
from carpscope.shell import conclude, run, say, terminal_width

_MIN_SLEEP = 0.005  # a deadline already past wakes the capture at once, without spinning
_SLACK = 0.001  # wake just after a deadline, not just before it


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
            _close(pipes, dashboard, server)
    if dashboard is not None:
        sink.follow_dashboard(terminal_width(stdout))  # the report follows, at the terminal's width now
    return conclude(pipeline, sink, fail_on, lost, EXIT_LIVE, write_error, html)


def _close(pipes, dashboard, server) -> None:
    """What a live capture started besides the capture: stream children, the screen, the endpoint."""
    if pipes is not None:
        from carpscope.capture import pipes as capture_pipes

        capture_pipes.close(pipes)
    if dashboard is not None:
        dashboard.stop()
    if server is not None:
        server.close()


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
