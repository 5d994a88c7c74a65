"""One error hierarchy and the exit statuses; cli.py alone maps them to an exit (docs/design.md).

0 success, 1 a finding at the --fail-on level, 2 usage, 3 an unreadable or
damaged capture file, 4 a live capture or filter that cannot be set up, 130
interrupted.
"""

EXIT_FINDING, EXIT_USAGE, EXIT_CAPTURE, EXIT_LIVE, EXIT_INTERRUPTED = 1, 2, 3, 4, 130


class CarpscopeError(Exception):
    """Cannot continue. The message is one line, safe to show, never a secret."""

    exit_code = 1


class UsageError(CarpscopeError):
    """The command line is wrong (exit 2)."""

    exit_code = EXIT_USAGE


class PassphraseError(UsageError):
    """A passphrase or pass file cannot be used (exit 2); never quotes the secret."""


class CaptureError(CarpscopeError):
    """A capture file is missing, unreadable or corrupt (exit 3)."""

    exit_code = EXIT_CAPTURE


class LiveCaptureError(CarpscopeError):
    """A live capture or filter cannot be set up or was lost (exit 4)."""

    exit_code = EXIT_LIVE
