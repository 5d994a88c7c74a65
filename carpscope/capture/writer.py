"""`-w FILE`: the analysed frames saved as a pcap that tcpdump and Wireshark read."""

from __future__ import annotations

from carpscope.errors import CaptureError
from carpscope.model import Frame

# A pcap file holds LINKTYPE_ values; libpcap's datalink() gives DLT_ ones, which
# differ for raw IP (DLT_RAW is 12 or 14 by platform, LINKTYPE_RAW always 101).
_LINKTYPE_OF_DLT = {12: 101, 14: 101}
# The largest time a pcap record holds: 32-bit unsigned seconds.
_MAX_TIME = 4294967295.999998


class PcapWriter:
    """A pcap file of one link type; every record is whole, so a cut run leaves a valid file."""

    def __init__(self, fileobj, linktype: int, path: str):
        import dpkt  # only -w needs it, and importing it takes longer than a small capture's analysis

        self._file, self.linktype, self.path = fileobj, linktype, path
        self._pcap = dpkt.pcap.Writer(fileobj, snaplen=262144, linktype=_LINKTYPE_OF_DLT.get(linktype, linktype))
        self.skipped = 0

    @classmethod
    def open(cls, path: str, linktype: int) -> PcapWriter:
        try:
            return cls(open(path, "wb"), linktype, path)  # closed by close()
        except OSError as err:
            raise CaptureError(f"-w {path}: {err.strerror or err}") from None

    def write(self, frame: Frame) -> None:
        if frame.linktype != self.linktype:
            self.skipped += 1  # a pcap holds one link type
            return
        try:
            # Out-of-range times (a pcapng past 2106, a record's microseconds
            # beyond a second) are clamped into what a pcap record can hold.
            self._pcap.writepkt(frame.data, ts=min(max(frame.time, 0.0), _MAX_TIME))
            self._file.flush()
        except OSError as err:
            raise CaptureError(f"-w {self.path}: {err.strerror or err}") from None

    def close(self) -> None:
        try:
            self._file.close()
        except OSError as err:
            raise CaptureError(f"-w {self.path}: {err.strerror or err}") from None
