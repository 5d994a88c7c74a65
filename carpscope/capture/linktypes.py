"""Link types: which ones the decoder reads, and how an unsupported one is named to the user."""

from __future__ import annotations

from carpscope.errors import CaptureError
from carpscope.wire import linklayer


def check_linktype(name: str, linktype: int) -> None:
    """A link type the decoder cannot read is named in one line, never skipped in silence."""
    if linktype not in linklayer.SUPPORTED:
        raise CaptureError(f"{name}: {unsupported(linktype)}")


def unsupported(linktype: int) -> str:
    return (f"link type {linktype} ({linktype_name(linktype)}) is not supported; carpscope reads "
            + ", ".join(sorted(set(linklayer.SUPPORTED.values()))))


def linktype_name(linktype: int) -> str:
    """libpcap's description of a DLT_ value (pcap_datalink_val_to_description), if it has one."""
    try:
        import ctypes
        import ctypes.util

        lib = ctypes.CDLL(ctypes.util.find_library("pcap") or "libpcap.so")
        lib.pcap_datalink_val_to_description.restype = ctypes.c_char_p
        text = lib.pcap_datalink_val_to_description(linktype)
        return text.decode("ascii", "replace") if text else "unknown"
    except (OSError, AttributeError):
        return "unknown"
