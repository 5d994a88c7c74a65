"""`-w FILE`: the analysed frames saved as a pcap that tcpdump and Wireshark read."""

from __future__ import annotations

import dpkt

from carpscope.errors import CaptureError
from carpscope.model import Frame


class PcapWriter:
    """A pcap file of one link type; every record is whole, so a cut run leaves a valid file."""

    def __init__(self, fileobj, linktype: int, path: str):
        self._file, self.linktype, self.path = fileobj, linktype, path
        self._pcap = dpkt.pcap.Writer(fileobj, snaplen=262144, linktype=linktype)
        self.skipped = 0

    @classmethod
    def open(cls, path: str, linktype: int) -> "PcapWriter":
        try:
            return cls(open(path, "wb"), linktype, path)  # noqa: SIM115 (closed by close())
        except OSError as err:
            raise CaptureError(f"-w {path}: {err.strerror or err}") from None

    def write(self, frame: Frame) -> None:
        if frame.linktype != self.linktype:
            self.skipped += 1  # a pcap holds one link type
            return
        try:
            self._pcap.writepkt(frame.data, ts=frame.time)
            self._file.flush()
        except OSError as err:
            raise CaptureError(f"-w {self.path}: {err.strerror or err}") from None

    def close(self) -> None:
        try:
            self._file.close()
        except OSError as err:
            raise CaptureError(f"-w {self.path}: {err.strerror or err}") from None
