"""One error hierarchy; cli.py alone maps it to exit codes (DESIGN.md)."""


class CarpscopeError(Exception):
    """Cannot continue. The message is one line, safe to show, never a secret."""

    exit_code = 1


class UsageError(CarpscopeError):
    """The command line is wrong (exit 2)."""

    exit_code = 2


class PassphraseError(UsageError):
    """A passphrase or pass file cannot be used (exit 2); never quotes the secret."""


class CaptureError(CarpscopeError):
    """A capture file is missing, unreadable or corrupt (exit 3)."""

    exit_code = 3


class LiveCaptureError(CarpscopeError):
    """A live capture or filter cannot be set up or was lost (exit 4)."""

    exit_code = 4
