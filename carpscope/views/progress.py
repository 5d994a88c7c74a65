"""A progress bar on standard error while big capture files are read.

Only on a terminal, and only once reading has taken more than a moment, so small
files and pipelines see nothing. A thread polls how far the files have been read
(FileSource.position) a few times a second: the reading loop itself stays as fast
as without a bar.
"""

from __future__ import annotations

import threading

DELAY = 1.0  # seconds before the bar appears
PERIOD = 0.2  # seconds between updates


class FileProgress:
    """Bytes read of the files' total, drawn by rich on `stream` (standard error)."""

    def __init__(self, sources, stream):
        self.sources, self.stream = sources, stream
        self.total = sum(s.size or 0 for s in sources)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="progress", daemon=True)

    def start(self) -> FileProgress:
        if self.total and all(s.size is not None for s in self.sources):
            self._thread.start()
        return self

    def stop(self) -> None:
        """Remove the bar before anything else is printed."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def __enter__(self) -> FileProgress:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _read(self) -> int:
        return sum(min(s.position() or 0, s.size or 0) for s in self.sources)

    def _run(self) -> None:
        if self._stop.wait(DELAY):
            return
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

        console = Console(file=self.stream, stderr=True)
        columns = (TextColumn("reading"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console, transient=True, auto_refresh=False) as bar:
            task = bar.add_task("read", total=self.total)
            while True:
                bar.update(task, completed=self._read(), refresh=True)
                if self._stop.wait(PERIOD):
                    return


def wanted(stderr, stdout, quiet: bool) -> bool:
    """A bar only where someone watches it, and not across per-packet lines on the same terminal."""
    return stderr.isatty() and (quiet or not stdout.isatty())
