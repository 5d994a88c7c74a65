"""`live --metrics [ADDR:]PORT`: the HTTP endpoint Prometheus scrapes (I/O, not core).

prometheus_client's own WSGI server in a daemon thread, with a CollectorRegistry
of carpscope's own: nothing touches the library's global registry (docs/design.md,
principle 7), so the endpoint shows carpscope's metrics and nothing else.
"""

from __future__ import annotations

import ipaddress

import pcapy

from carpscope.errors import LiveCaptureError, UsageError
from carpscope.metrics import Exporter, Probe, Tap

PUBLISH = 1.0  # seconds between two publishes of the metrics (a scrape is every 15 s or so)


def parse_listen(spec: str) -> tuple[str, int]:
    """[ADDR:]PORT → (addr, port); ADDR may be an IPv6 address in brackets. All addresses by default."""
    addr, sep, port = spec.rpartition(":")
    if sep and addr.startswith("[") and addr.endswith("]"):
        addr = addr[1:-1]
    elif ":" in addr:
        raise UsageError(f"--metrics {spec}: write an IPv6 address in brackets, [ADDR]:PORT")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise UsageError(f"--metrics {spec}: PORT must be 1-65535")
    if sep:
        try:
            addr = str(ipaddress.ip_address(addr))
        except ValueError:
            raise UsageError(f"--metrics {spec}: '{addr}' is not an IP address") from None
    return (addr if sep else "0.0.0.0"), int(port)


class MetricsServer:
    """The endpoint and the exporter behind it; `refresh` publishes at most once a PUBLISH."""

    def __init__(self, spec: str, iface: str, reader=None):
        from prometheus_client import CollectorRegistry, start_http_server

        self.addr, self.port = parse_listen(spec)
        self.reader = reader
        self.exporter = Exporter(Probe(iface))
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self.exporter)
        try:
            started = start_http_server(self.port, self.addr, registry=registry)
        except OSError as err:
            raise LiveCaptureError(f"--metrics {spec}: {err.strerror or err}") from None
        self.httpd = started[0] if isinstance(started, tuple) else None
        self.last: float | None = None

    def tap(self, sink):
        return Tap(sink, self.exporter.probe)

    def refresh(self, pipeline, now: float, force: bool = False) -> None:
        if not force and self.last is not None and now - self.last < PUBLISH:
            return
        self.last = now
        self.exporter.publish(pipeline, now, self._stats())

    def _stats(self) -> tuple[int, ...] | None:
        if self.reader is None:
            return None
        try:
            return tuple(self.reader.stats())
        except pcapy.PcapError:  # a lost interface is reported by the capture loop
            return None

    def close(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
