"""HMAC keys from passphrases: the forms routers turn a passphrase into (docs/protocol.md §2.2, §9.1).

Pure: no I/O. A Keyring never shows the passphrases it holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

_BSD_KEY = 19  # strlcpy(carpr_key, P, CARP_KEY_LEN=20) keeps 19 bytes + NUL (§2.2)
_RAW_KEY = 20  # netlink CARP_NL_KEY: up to 20 raw bytes (§2.2, FBSD-c)

# Key forms (key_form): how a passphrase became the key that verified (§2.2, §9.1).
PLAIN = None  # the passphrase up to its first NUL, cut to 19 bytes (ifconfig, ucarp)
NETLINK = "netlink-20"  # its first 20 raw bytes (FreeBSD netlink CARP_NL_KEY)
GUI = "pfsense-gui"  # pfSense/OPNsense: spaces removed, ' " \ NUL backslash-escaped, then cut
STALE = "stale-tail"  # a shorter pass set over an older one: new[:19] NUL old-tail (§2.2)


class Key(NamedTuple):
    position: int  # 1-based passphrase position; 0 = the empty key
    key: bytes  # trailing NULs stripped (they do not change an HMAC, §2.1)
    form: str | None  # PLAIN, NETLINK, GUI or STALE
    old: int | None  # STALE: the position of the passphrase whose tail is left


def gui_form(phrase: bytes) -> bytes:
    """pfSense/OPNsense: escapeshellarg(addslashes(str_replace(" ", "", pw))) (docs/protocol.md §9.1).

    PHP's addslashes writes a NUL as backslash and the digit 0.
    """
    out = phrase.replace(b" ", b"")
    out = out.replace(b"\\", b"\\\\").replace(b"'", b"\\'").replace(b'"', b'\\"')
    return out.replace(b"\0", b"\\0")


def _bsd(phrase: bytes) -> bytes:
    """strlcpy(key, P, 20): up to the first NUL, at most 19 bytes (§2.2)."""
    return phrase.split(b"\0", 1)[0][:_BSD_KEY]


def _stale(new: bytes, old: bytes) -> bytes:
    """ifconfig pass NEW over a key OLD: NEW's 19 bytes, a NUL, then what OLD left (§2.2)."""
    cut = _bsd(new)
    tail = _bsd(old).ljust(_RAW_KEY, b"\0")[len(cut) + 1:]
    return (cut + b"\0" + tail).rstrip(b"\0")


class Keyring:
    """HMAC keys derived from the passphrases (§2.2, §9.1); never shows them.

    Per passphrase: its first 19 bytes up to a NUL (BSD ifconfig, ucarp), when longer
    its first 20 raw bytes (netlink), its pfSense/OPNsense GUI form; then, for every
    two passphrases, the key a pass change from one to the other leaves behind on
    OpenBSD/FreeBSD (new, NUL, the old key's tail). The empty key (no passphrase, 20
    zero bytes) is always last, as position 0. Keys are kept stripped and de-duplicated.
    """

    __slots__ = ("_keys", "_long", "_count")

    def __init__(self, passphrases: Sequence[bytes]) -> None:
        phrases = []
        for position, phrase in enumerate(passphrases, 1):
            if isinstance(phrase, str):
                phrase = phrase.encode()
            if not isinstance(phrase, (bytes, bytearray)):
                raise TypeError(f"passphrase {position} must be bytes")
            phrases.append(bytes(phrase))
        keys: list[Key] = []
        seen = {b""}

        def add(position: int, key: bytes, form: str | None, old: int | None = None) -> None:
            key = key.rstrip(b"\0")
            if key not in seen:
                seen.add(key)
                keys.append(Key(position, key, form, old))

        for position, phrase in enumerate(phrases, 1):
            add(position, _bsd(phrase), PLAIN)
            if len(phrase) > _BSD_KEY:
                add(position, phrase[:_RAW_KEY], NETLINK)
            add(position, _bsd(gui_form(phrase)), GUI)
        for position, new in enumerate(phrases, 1):
            for old_position, old in enumerate(phrases, 1):
                if old_position != position:
                    add(position, _stale(new, old), STALE, old_position)
        keys.append(Key(0, b"", PLAIN, None))
        self._keys = tuple(keys)
        self._long = tuple(p for p, phrase in enumerate(phrases, 1) if len(phrase) > _BSD_KEY)
        self._count = len(phrases)

    def __iter__(self):
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def given(self) -> int:
        """How many passphrases the user gave (0: nothing can be 'bad')."""
        return self._count

    @property
    def long(self) -> tuple[int, ...]:
        """1-based positions of passphrases longer than the 19 bytes routers keep."""
        return self._long

    def __repr__(self) -> str:
        return f"<Keyring: {self._count} passphrase(s), hidden>"

    __str__ = __repr__
