"""wire/plain.py, the one-unpack decode of the usual advert frame, gives decode.py's record or steps aside.

Every frame of the test captures and of generated stacks, whole, cut at every
length and with every byte changed, is decoded with and without the fast path:
the records must be the same (class, fields, repr).
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

import stacks
from carpscope.capture.files import frames, open_sources
from carpscope.model import CarpAdvert, Frame, VrrpAdvert
from carpscope.wire import plain
from carpscope.wire.decode import decode_frame

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = sorted(p for d in ("tests/data", "tests/corpus", "captures") for p in (ROOT / d).iterdir()
                  if p.suffix in (".pcap", ".pcapng", ".gz"))


def _general(frame: Frame, monkeypatch, decode_as: str | None = None):
    with monkeypatch.context() as m:
        m.setattr(plain, "decode", lambda frame: None)
        return decode_frame(frame, decode_as)


def _same(frame: Frame, monkeypatch) -> bool:
    """Decoded alike with and without the fast path; True when the fast path gave the record."""
    fast, general = decode_frame(frame), _general(frame, monkeypatch)
    assert type(fast) is type(general) and fast == general and repr(fast) == repr(general), frame
    return frame.linktype == 1 and plain.decode(frame) is not None


def _read(path: Path) -> list[Frame]:
    out = []
    try:
        for frame in frames(open_sources([str(path)], None)):
            out.append(frame)
    except Exception:  # noqa: BLE001 - a damaged corpus file: the frames before the damage are enough
        pass
    return out


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_captures_decode_alike(path, monkeypatch):
    for frame in _read(path):
        _same(frame, monkeypatch)


def test_the_captures_take_the_fast_path(monkeypatch):
    """Not a vacuous equivalence: CARP and VRRP adverts of the captures are plain."""
    fast = [plain.decode(f) for p in CAPTURES for f in _read(p) if f.linktype == 1]
    assert any(isinstance(r, CarpAdvert) for r in fast) and any(isinstance(r, VrrpAdvert) for r in fast)


MAC = "00:00:5e:00:01:07"
GROUP = "01:00:5e:00:00:12"


def _ip(payload: bytes, **options) -> bytes:
    return stacks.ipv4_packet("10.0.0.2", "224.0.0.18", 112, payload, ttl=255, df=True, **options)


def _frames() -> dict[str, bytes]:
    """Adverts of every shape near the plain one: tags, VRRP counts, padding, IP options, v3, AH, IPv6."""
    carp = stacks.carp_advert(7, advskew=100, counter=0x0123456789ABCDEF, md=bytes(range(20)))
    vrrp = [stacks.vrrp2(9, 150, [f"10.0.0.{i}" for i in range(1, n + 1)], auth_type=1, auth_data=b"secret")
            for n in (0, 1, 2, 5, 7)]
    out = {"carp": stacks.ethernet(MAC, GROUP, 0x0800, _ip(carp))}
    for tpid in (0x8100, 0x88A8, 0x9100):
        out[f"carp-{tpid:x}"] = stacks.ethernet(MAC, GROUP, 0x0800, _ip(carp), [(tpid, 0xF00 | 42)])
    out["carp-qinq"] = stacks.ethernet(MAC, GROUP, 0x0800, _ip(carp), [(0x88A8, 5), (0x8100, 6)])
    out["carp-padded"] = out["carp"] + bytes(10)
    out["carp-no-df"] = stacks.ethernet(MAC, GROUP, 0x0800, stacks.ipv4_packet("10.0.0.2", "224.0.0.18", 112, carp))
    options = _ip(carp)
    options = bytes([0x46]) + options[1:3] + struct.pack("!H", 60) + options[5:20] + b"\x01\x01\x01\x00" + carp
    out["carp-ip-options"] = stacks.ethernet(MAC, GROUP, 0x0800, options)
    out["carp-v6"] = stacks.ip_frame(MAC, "fe80::2", "ff02::12", 112, carp)
    out["carp-ah"] = stacks.ethernet(MAC, GROUP, 0x0800, stacks.ipv4_packet("10.0.0.2", "224.0.0.18", 51,
                                                                           stacks.ah(112, carp), ttl=255))
    for payload in vrrp:
        out[f"vrrp2-{payload[3]}"] = stacks.ethernet(MAC, GROUP, 0x0800, _ip(payload))
        out[f"vrrp2-{payload[3]}-tagged"] = stacks.ethernet(MAC, GROUP, 0x0800, _ip(payload), [(0x8100, 3000)])
    v3 = stacks.vrrp3(9, 150, ["10.0.0.1"], "10.0.0.2", "224.0.0.18")
    out["vrrp3"] = stacks.ethernet(MAC, GROUP, 0x0800, _ip(v3))
    out["garp"] = stacks.gratuitous_arp("10.0.0.1", MAC, [(0x8100, 7)])
    return out


FRAMES = _frames()


def _ip_header(data: bytes) -> int | None:
    """Where the IPv4 header of a protocol-112 packet starts, after no or one VLAN tag, or None."""
    off = 18 if data[12:14] in (b"\x81\x00", b"\x88\xa8", b"\x91\x00") else 14
    if data[off - 2 : off] != b"\x08\x00" or data[off + 9] != 112:
        return None
    return off


def _resum(data: bytes, off: int) -> bytes:
    """The frame with its CARP/VRRPv2 checksum (bytes 6-7, over the IP payload) made right again."""
    start, end = off + (data[off] & 0x0F) * 4, off + int.from_bytes(data[off + 2 : off + 4], "big")
    body = data[start:end]
    if len(body) < 8:
        return data
    body = body[:6] + b"\0\0" + body[8:]
    return data[: start + 6] + stacks.cksum(body).to_bytes(2, "big") + data[start + 8 :]


@pytest.mark.parametrize("name", FRAMES)
def test_generated_frames_cut_and_changed_decode_alike(name, monkeypatch):
    data = FRAMES[name]
    fast = _same(Frame(1, 1.5, 1, data, len(data)), monkeypatch)
    assert fast == (name.startswith(("carp", "vrrp2")) and name not in ("carp-qinq", "carp-ip-options",
                                                                        "carp-v6", "carp-ah"))
    for size in range(len(data)):
        _same(Frame(2, 2.5, 1, data[:size], len(data)), monkeypatch)
    off = _ip_header(data)
    start = None if off is None else off + (data[off] & 0x0F) * 4
    for pos in range(min(len(data), 80)):
        for value in {0, 0xFF, data[pos] ^ 0x01, data[pos] ^ 0x80}:
            changed = data[:pos] + bytes([value]) + data[pos + 1 :]
            _same(Frame(3, 3.5, 1, changed, len(changed)), monkeypatch)
            if start is not None and pos >= start and pos not in (start + 6, start + 7):
                changed = _resum(changed, off)  # a change the advert's checksum still covers
                _same(Frame(3, 3.5, 1, changed, len(changed)), monkeypatch)
    _same(Frame(4, 4.5, 113, data, len(data)), monkeypatch)  # another link type: never the fast path
    frame = Frame(5, 5.5, 1, data, len(data))
    assert decode_frame(frame, "vrrp") == _general(frame, monkeypatch, "vrrp")  # --decode-as: never the fast path


def test_fast_records_are_what_the_dataclass_builds():
    """Built through model.Builder, the record is the class's own: equal, same hash and repr."""
    import dataclasses

    for name in ("carp", "carp-8100", "vrrp2-2"):
        data = FRAMES[name]
        record = plain.decode(Frame(1, 1.5, 1, data, len(data)))
        built = type(record)(**{f.name: getattr(record, f.name) for f in dataclasses.fields(record)})
        assert type(record) in (CarpAdvert, VrrpAdvert)
        assert record == built and hash(record) == hash(built) and repr(record) == repr(built)
        with pytest.raises(dataclasses.FrozenInstanceError):
            record.frame = 2  # type: ignore[misc]


def test_builder_and_copier_give_what_the_class_gives():
    """model.Builder and model.Copier against the dataclass itself, for every record class and for
    classes they must leave to the slow way (no slots, a __post_init__)."""
    import dataclasses

    from carpscope.model import AddressClaim, Builder, Copier, Damaged, Finding, GroupKey, Severity

    @dataclasses.dataclass(frozen=True)
    class Unslotted:
        a: int
        b: str = "x"

    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        a: int
        b: str = "x"

        def __post_init__(self):
            if isinstance(self.a, int) and self.a < 0:
                raise ValueError("negative")

    finding = Finding("kind", Severity.WARNING, "detail", 3, 1.5, "carp", 7, 4, (5,))
    carp = plain.decode(Frame(1, 1.5, 1, FRAMES["carp-8100"], 0))
    vrrp = plain.decode(Frame(1, 1.5, 1, FRAMES["vrrp2-2"], 0))
    samples = [finding, carp, vrrp, AddressClaim(1, 2.0, 4, "10.0.0.1", "00:00:5e:00:01:07", (), "garp"),
               Damaged(1, 2.0, (finding,)), GroupKey("carp", 7, 4, (5,)), Unslotted(1), Checked(2, "y")]
    for record in samples:
        cls, fields = type(record), dataclasses.fields(record)
        names = tuple(f.name for f in fields)
        values = tuple(getattr(record, n) for n in names)
        built = Builder(cls, names)(*values)
        assert type(built) is cls and built == record and repr(built) == repr(record) and hash(built) == hash(record)
        required = tuple(f.name for f in fields if f.default is dataclasses.MISSING)
        assert Builder(cls, required)(*(getattr(record, n) for n in required)) == cls(
            **{n: getattr(record, n) for n in required})
        for some in (names[:1], names[-2:], names[::3]):
            new = tuple(f"new {n}" for n in some)
            copied = Copier(cls, some)(record, new)
            expected = dataclasses.replace(record, **dict(zip(some, new)))
            assert type(copied) is cls and copied == expected and repr(copied) == repr(expected)
    with pytest.raises(ValueError):
        Builder(Checked, ("a",))(-1)  # the __post_init__ still runs
    with pytest.raises(TypeError):
        Builder(Finding, ("kind",))  # required fields missing
    with pytest.raises(dataclasses.FrozenInstanceError):
        Builder(Finding, ("kind", "severity", "detail"))("k", Severity.INFO, "d").kind = "x"  # type: ignore[misc]
