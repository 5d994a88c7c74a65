"""Any bytes, any link type: a record (with findings when damaged) or None, never an exception."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

import stacks
from carpscope.model import AddressClaim, CarpAdvert, Damaged, Frame, VrrpAdvert
from carpscope.wire import linklayer
from carpscope.wire.checksum import internet_sum
from carpscope.wire.decode import decode_frame

LINKTYPES = sorted(linklayer.SUPPORTED) + [147, 9999]


def ipv4_frame(payload: bytes, ttl: int = 255, length: int | None = None) -> bytes:
    """CARP's addresses, the IPv4 checksum left 0 (the decoder does not need it), any total length."""
    header = stacks.ipv4_header("192.0.2.1", "224.0.0.18", 112, len(payload), ttl=ttl, tos=0x10, ident=1,
                                df=True, length=length, checksum=False)
    return stacks.ethernet("00:00:5e:00:00:07", "01:00:5e:00:00:12", 0x0800, header + payload)


@settings(max_examples=400)
@given(st.sampled_from(LINKTYPES), st.binary(max_size=200))
def test_any_frame_decodes_or_is_skipped(linktype, data):
    record = decode_frame(Frame(1, 0.0, linktype, data, len(data)))
    assert record is None or isinstance(record, (CarpAdvert, VrrpAdvert, AddressClaim, Damaged))


@settings(max_examples=600)
@given(st.binary(max_size=120), st.integers(0, 255), st.sampled_from([None, "carp", "vrrp"]))
def test_any_protocol_112_payload_gives_a_record(payload, ttl, decode_as):
    record = decode_frame(Frame(7, 1.5, 1, ipv4_frame(payload, ttl), 0), decode_as)
    assert isinstance(record, (CarpAdvert, VrrpAdvert))
    assert record.frame == 7 and record.caplen == len(payload)
    if ttl != 255:
        assert any(f.kind == "bad-ttl" for f in record.findings)
    well_formed = record.checksum == "ok" and not any(
        f.kind in ("malformed", "ambiguous", "short-capture") for f in record.findings)
    if not well_formed:
        assert record.findings or record.checksum == "bad" or len(payload) < 8


@given(st.binary(min_size=36, max_size=36))
def test_carp_checksum_verdict_matches_the_sum(header):
    header = bytes([0x21]) + header[1:3] + bytes([7]) + header[4:]
    record = decode_frame(Frame(1, 0.0, 1, ipv4_frame(header), 0))
    assert isinstance(record, CarpAdvert)
    assert (record.checksum == "ok") == (internet_sum(header) == 0xFFFF)


@given(st.binary(max_size=60), st.integers(0, 200))
def test_announced_length_beyond_the_capture_is_a_finding(payload, extra):
    record = decode_frame(Frame(1, 0.0, 1, ipv4_frame(payload, length=20 + len(payload) + extra), 0))
    assert record is not None
    if extra and isinstance(record, (CarpAdvert, VrrpAdvert)):
        assert record.findings


def _word_sum(data: bytes, start: int) -> int:
    """RFC 1071 as written: 16-bit words, zero-padded, end-around carry."""
    if len(data) & 1:
        data += b"\0"
    total = start + sum(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


@given(st.one_of(st.binary(max_size=80), st.lists(st.sampled_from([b"\0", b"\xff"]), max_size=80).map(b"".join)),
       st.one_of(st.just(0), st.just(0xFFFF), st.integers(0, 0xFFFF)))
def test_internet_sum_is_the_word_by_word_sum(data, start):
    """checksum.internet_sum reads the bytes as one integer (issue 20): the same sum, all-zero data included."""
    assert internet_sum(data, start) == _word_sum(data, start)
