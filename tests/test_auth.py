"""carpscope.auth: HMAC verdicts on docs/protocol.md §2.8 vectors and the ucarp recordings."""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import hmac
import socket
from pathlib import Path

import dpkt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carpscope import auth
from carpscope.auth import Keyring, Verifier
from carpscope.model import AddressClaim, CarpAdvert

GENERATED = Path(__file__).resolve().parent / "data"  # the ucarp recordings (tests/data/README.md)


def advert(vhid=1, counter="0000000100000002", md="00" * 20, *, src="192.0.2.1", family=4,
           src_mac="00:00:5e:00:01:01", vlan=(), frame=1) -> CarpAdvert:
    """A CARP record as the wire layer would build it; only what auth reads matters."""
    return CarpAdvert(
        frame=frame, time=1700000000.0 + frame, family=family, src=src,
        dst="224.0.0.18" if family == 4 else "ff02::12", src_mac=src_mac,
        dst_mac="01:00:5e:00:00:12", vlan=vlan, ttl=255, length=36, caplen=36,
        version=2, type=1, checksum="ok", why="test", vhid=vhid, advskew=0, authlen=7,
        demote=0, advbase=1, cksum=0,
        counter=int(counter, 16) if isinstance(counter, str) else counter,
        md=bytes.fromhex(md) if isinstance(md, str) else md,
    )


def claim(addr, mac="02:00:00:00:00:0a", vlan=(), family=None) -> AddressClaim:
    family = family or (6 if ":" in addr else 4)
    return AddressClaim(1, 0.0, family, addr, mac, vlan, "garp" if family == 4 else "unsolicited-na")


# ---------------------------------------------------------------------------
# docs/protocol.md §2.8 vectors
# ---------------------------------------------------------------------------

V1 = dict(vhid=7, counter="18e5f13d247d06e2", md="63135ec220c17db7cbb7c7701640f76b0d50aade")
A_VIPS = ["192.168.1.10", "10.0.0.1", "2001:db8::10", "fe80::200:5eff:fe00:101"]
A_SORTED = ("10.0.0.1", "192.168.1.10", "2001:db8::10", "fe80::200:5eff:fe00:101")
D_VIPS = ["192.168.1.10", "10.0.0.1"]
CTR = "0000000100000002"
MD = {
    "A": "82e50949d51e2e8b493219aa05bd5592b2fe4e5d",
    "B": "81ab11b42e269dde429aaa9367e96e91ee79385e",
    "C": "0c523aee676d8b2476b2ed390104c4085613603b",
    "D": "56f9cd2fcd0407aef43100b7bf509e4d8c133022",
    "E": "e55b6539a30e459f7d217f13db714f61e2457a29",
    "F": "b9a1564ad12be508b510d819c4b89a7125744dd5",
}
MEK = b"mekmitasdigoat"


def outcome(r: CarpAdvert) -> tuple:
    return r.hmac, r.hmac_variant, r.passphrase, r.vips, r.vips_from


def test_v1_real_ucarp_advert_given_vip():
    r = Verifier([b"correct horse"], {7: ["192.0.2.100"]}).verify(advert(**V1, src_mac="00:00:5e:00:00:07"))
    assert outcome(r) == ("ok", "ucarp", 1, ("192.0.2.100",), "given")
    assert r.hmac_hint is None


def test_v1_from_the_full_frame_of_protocol_md():
    frame = bytes.fromhex(
        "01005e00001200005e0000070800451000388ad34000ff704e5ec0000201e0000012210700070001f01c"
        "18e5f13d247d06e263135ec220c17db7cbb7c7701640f76b0d50aade")
    carp = frame[34:70]
    rec = advert(vhid=carp[1], counter=int.from_bytes(carp[8:16], "big"), md=carp[16:36],
                 src=socket.inet_ntoa(frame[26:30]), src_mac=frame[6:12].hex(":"))
    r = Verifier([b"correct horse"], {None: ["192.0.2.100"]}).verify(rec)
    assert outcome(r) == ("ok", "ucarp", 1, ("192.0.2.100",), "given")


def test_v1_from_a_kernel_virtual_mac_is_plain_sorted():
    r = Verifier([b"correct horse"], {7: ["192.0.2.100"]}).verify(advert(**V1, src_mac="00:00:5e:00:01:07"))
    assert outcome(r) == ("ok", "sorted", 1, ("192.0.2.100",), "given")


@pytest.mark.parametrize("name, variant, mac", [
    ("A", "sorted", "00:00:5e:00:01:01"),
    ("B", "openbsd-nov6ll", "00:00:5e:00:01:01"),
    ("C", "openbsd-lladdr", "02:00:00:00:00:99"),
])
def test_vectors_a_b_c(name, variant, mac):
    r = Verifier([b"other", MEK], {1: A_VIPS}).verify(advert(1, CTR, MD[name], src_mac=mac))
    assert outcome(r) == ("ok", variant, 2, A_SORTED, "given")


def test_vector_c_needs_the_lladdr_of_the_frame():
    # A virtual source MAC means no lladdr was hashed (§2.4): C cannot verify.
    r = Verifier([MEK], {1: A_VIPS}).verify(advert(1, CTR, MD["C"], src_mac="00:00:5e:00:01:01"))
    assert r.hmac == "bad"


def test_vectors_a_b_inferred_from_claims_of_the_virtual_mac():
    v = Verifier([MEK])
    for addr in A_VIPS:
        v.learn(claim(addr, mac="00:00:5e:00:01:01"))
    for name, variant in (("A", "sorted"), ("B", "openbsd-nov6ll")):
        assert outcome(v.verify(advert(1, CTR, MD[name]))) == ("ok", variant, 1, A_SORTED, "inferred")


def test_vector_d_ipv4_only():
    r = Verifier([MEK], {None: D_VIPS}).verify(advert(1, CTR, MD["D"]))
    assert outcome(r) == ("ok", "sorted", 1, ("10.0.0.1", "192.168.1.10"), "given")


@pytest.mark.parametrize("passphrases", [[], [MEK]])
def test_vector_e_empty_key_is_position_0(passphrases):
    r = Verifier(passphrases, {1: D_VIPS}).verify(advert(1, CTR, MD["E"]))
    assert outcome(r) == ("ok", "sorted", 0, ("10.0.0.1", "192.168.1.10"), "given")


def test_vector_f_long_passphrase_truncated_to_19_and_flagged():
    v = Verifier([b"short", b"abcdefghijklmnopqrstuvwxy"], {1: D_VIPS})
    assert v.long_passphrases() == (2,)
    assert outcome(v.verify(advert(1, CTR, MD["F"]))) == ("ok", "sorted", 2, ("10.0.0.1", "192.168.1.10"), "given")


def test_raw_20_byte_netlink_key():
    phrase = b"abcdefghijklmnopqrstuvwxy"
    msg = bytes.fromhex("0201010a000001c0a8010a") + bytes.fromhex(CTR)
    md = hmac.new(phrase[:20], msg, hashlib.sha1).hexdigest()
    assert outcome(Verifier([phrase], {1: D_VIPS}).verify(advert(1, CTR, md)))[:3] == ("ok", "sorted", 1)


def test_legacy_interface_order():
    msg = bytes.fromhex("020101c0a8010a0a000001") + bytes.fromhex(CTR)  # given order, unsorted
    md = hmac.new(MEK, msg, hashlib.sha1).hexdigest()
    r = Verifier([MEK], {1: D_VIPS}).verify(advert(1, CTR, md))
    assert outcome(r) == ("ok", "legacy-unsorted", 1, ("192.168.1.10", "10.0.0.1"), "given")


# ---------------------------------------------------------------------------
# Failures, hints, caches
# ---------------------------------------------------------------------------

def test_nothing_given_and_empty_key_fails_is_unverified():
    r = Verifier([]).verify(advert(**V1))
    assert r.hmac == "unverified" and r.hmac_hint is None and r.passphrase is None


def test_wrong_passphrase_is_bad_with_a_hint():
    r = Verifier([b"correct horsf"], {7: ["192.0.2.100"]}).verify(advert(**V1))
    assert r.hmac == "bad" and r.passphrase is None and r.vips is None
    assert "192.0.2.0/24" in r.hmac_hint and "hors" not in r.hmac_hint


def test_ipv6_advert_is_not_searched_until_its_vip_is_claimed():
    v = Verifier([b"secret"])
    ctr, md = _synth_v6()
    rec = advert(1, ctr, md, src="fe80::1", family=6)
    first = v.verify(rec)
    # No VIP known for vhid 1: a failed check proves nothing (docs/protocol.md §9.7).
    assert (first.hmac, first.hmac_reason) == ("unverified", "vips-unknown") and "IPv6" in first.hmac_hint
    assert v.verify(rec).hmac == "unverified"  # negative cache
    v.learn(claim("2001:db8::100", mac="00:00:5e:00:01:01"))
    assert outcome(v.verify(rec)) == ("ok", "sorted", 1, ("2001:db8::100",), "inferred")


def _synth_v6():
    ctr = "0123456789abcdef"
    msg = b"\x02\x01\x01" + socket.inet_pton(socket.AF_INET6, "2001:db8::100") + bytes.fromhex(ctr)
    return ctr, hmac.new(b"secret", msg, hashlib.sha1).digest()


def test_searched_vip_becomes_inferred_once_claimed():
    v = Verifier([b"correct horse"])
    assert outcome(v.verify(advert(**V1, src_mac="00:00:5e:00:00:07")))[4] == "searched"
    v.learn(claim("192.0.2.100"))
    again = v.verify(advert(**V1, src_mac="00:00:5e:00:00:07", frame=2))
    assert outcome(again) == ("ok", "ucarp", 1, ("192.0.2.100",), "inferred")


def test_cached_verdict_is_the_same_and_keeps_the_new_frame():
    v = Verifier([MEK], {1: A_VIPS})
    one, two = v.verify(advert(1, CTR, MD["B"], frame=1)), v.verify(advert(1, CTR, MD["B"], frame=2))
    assert outcome(one) == outcome(two) and (one.frame, two.frame) == (1, 2)


def test_result_equals_dataclasses_replace():
    rec = advert(**V1, src_mac="00:00:5e:00:00:07")
    r = Verifier([b"correct horse"], {7: ["192.0.2.100"]}).verify(rec)
    assert r == dataclasses.replace(rec, hmac="ok", hmac_variant="ucarp", passphrase=1, vips=("192.0.2.100",),
                                    vips_from="given", hmac_hint=None)
    assert type(r) is CarpAdvert and rec.hmac == "unverified"


@pytest.mark.parametrize("changes", [dict(vhid=None), dict(counter=None), dict(md=None)])
def test_incomplete_adverts_are_returned_unchanged(changes):
    rec = dataclasses.replace(advert(**V1), **changes)
    assert Verifier([b"correct horse"]).verify(rec) is rec


def test_vlans_are_separate_segments():
    v = Verifier([MEK])
    for addr in D_VIPS:
        v.learn(claim(addr, mac="00:00:5e:00:01:01", vlan=(10,)))
    assert v.verify(advert(1, CTR, MD["D"], vlan=(10,))).vips_from == "inferred"
    assert v.verify(advert(1, CTR, MD["D"], vlan=(20,), src="10.9.9.2")).hmac_reason == "vips-unknown"


def test_bad_vip_is_a_value_error_without_secrets():
    with pytest.raises(ValueError) as err:
        Verifier([b"hunter2"], {1: ["not-an-ip"]})
    assert "hunter2" not in str(err.value) and "hunter2" not in repr(err.value)


def test_non_bytes_passphrase_error_does_not_quote_it():
    with pytest.raises(TypeError) as err:
        Verifier([12345678])
    assert "12345678" not in str(err.value)


def test_repr_and_str_hide_passphrases():
    secrets = [b"correct horse", b"abcdefghijklmnopqrstuvwxy"]
    v = Verifier(secrets, {7: ["192.0.2.100"]})
    v.verify(advert(**V1))
    texts = [repr(v), str(v), repr(Keyring(secrets)), str(Keyring(secrets))]
    for text in texts:
        for s in secrets:
            for piece in (s.decode(), s[:19].decode(), repr(s), s.hex()):
                assert piece not in text


@pytest.mark.parametrize("module", sorted(p.name for p in Path(auth.__file__).parent.glob("*.py")))
def test_auth_is_pure(module):
    tree = ast.parse((Path(auth.__file__).parent / module).read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not imported & {"pcapy", "click", "time", "sys", "logging", "os"}
    calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert "print" not in calls


# ---------------------------------------------------------------------------
# The generated captures (docs/protocol.md §2.8, captures/generated/README.md)
# ---------------------------------------------------------------------------

def read_records(path: Path) -> list[CarpAdvert | AddressClaim]:
    """Just enough decoding for these Ethernet captures: CARP over IPv4/IPv6 and GARP."""
    out: list[CarpAdvert | AddressClaim] = []
    with path.open("rb") as f:
        for number, (ts, buf) in enumerate(dpkt.pcap.Reader(f), 1):
            eth = dpkt.ethernet.Ethernet(buf)
            src_mac = bytes(eth.src).hex(":")
            if eth.type == dpkt.ethernet.ETH_TYPE_ARP:
                arp = eth.data
                if arp.spa == arp.tpa:
                    out.append(AddressClaim(number, ts, 4, socket.inet_ntoa(arp.spa), bytes(arp.sha).hex(":"),
                                            (), "garp"))
                continue
            if eth.type == dpkt.ethernet.ETH_TYPE_IP and buf[23] == 112:
                ihl = (buf[14] & 0x0F) * 4
                family, src, carp = 4, socket.inet_ntoa(buf[26:30]), buf[14 + ihl:14 + ihl + 36]
            elif eth.type == dpkt.ethernet.ETH_TYPE_IP6 and buf[20] == 112:
                family, src, carp = 6, socket.inet_ntop(socket.AF_INET6, buf[22:38]), buf[54:90]
            else:
                continue
            rec = advert(carp[1], int.from_bytes(carp[8:16], "big"), carp[16:36], src=src, family=family,
                         src_mac=src_mac, frame=number)
            out.append(dataclasses.replace(rec, time=ts, advskew=carp[2], advbase=carp[5]))
    return out


def run(v: Verifier, records, learn=True) -> list[CarpAdvert]:
    out = []
    for rec in records:
        if isinstance(rec, AddressClaim):
            if learn:
                v.learn(rec)
        else:
            out.append(v.verify(rec))
    return out


@pytest.mark.parametrize("name", ["ucarp_v4.pcap", "ucarp_failover.pcap"])
def test_ucarp_captures_verify_with_the_vip_from_the_garp(name):
    adverts = run(Verifier([b"correct horse"]), read_records(GENERATED / name))
    assert adverts
    assert {outcome(r) for r in adverts} == {("ok", "ucarp", 1, ("192.0.2.100",), "inferred")}


@pytest.mark.parametrize("name", ["ucarp_v4.pcap", "ucarp_failover.pcap"])
def test_ucarp_captures_verify_with_only_the_passphrase(name):
    adverts = run(Verifier([b"correct horse"]), read_records(GENERATED / name), learn=False)
    assert {outcome(r) for r in adverts} == {("ok", "ucarp", 1, ("192.0.2.100",), "searched")}


def test_ucarp_badpass_b_is_bad_and_verifies_with_the_second_passphrase():
    records = read_records(GENERATED / "ucarp_badpass.pcap")
    one = run(Verifier([b"correct horse"]), records)
    a = [r for r in one if r.src == "192.0.2.1"]
    b = [r for r in one if r.src == "192.0.2.2"]
    assert a and b
    assert {r.hmac for r in a} == {"ok"} and {r.hmac for r in b} == {"bad"}
    for r in b:
        assert "horse" not in r.hmac_hint
        assert "passphrase 1" in r.hmac_hint and "192.0.2.100" in r.hmac_hint
    both = run(Verifier([b"correct horse", b"wrong horse"]), records)
    assert {(r.src, r.hmac, r.passphrase, r.vips) for r in both} == {
        ("192.0.2.1", "ok", 1, ("192.0.2.100",)), ("192.0.2.2", "ok", 2, ("192.0.2.100",))}


@pytest.mark.parametrize("vips", [
    {1: ["192.0.2.100", "2001:db8::100"]},
    {None: ["2001:db8::100", "192.0.2.100"]},
])
def test_carp_synth_with_given_vips(vips):
    adverts = run(Verifier([b"secret"], vips), read_records(GENERATED / "carp_synth.pcap"))
    assert [r.family for r in adverts] == [4, 6, 4]
    assert [outcome(r) for r in adverts] == [
        ("ok", "sorted", 1, ("192.0.2.100",), "given"),
        ("ok", "sorted", 1, ("2001:db8::100",), "given"),
        ("ok", "sorted", 1, ("192.0.2.100",), "given"),
    ]


# ---------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------

macs = st.one_of(st.none(), st.binary(min_size=6, max_size=6).map(lambda b: b.hex(":")),
                 st.sampled_from(["00:00:5e:00:01:01", "00:00:5e:00:00:07", "not-a-mac"]))


@settings(max_examples=150, deadline=None)
@given(counter=st.integers(0, 2**64 - 1), md=st.binary(min_size=0, max_size=24),
       vhid=st.integers(0, 255), mac=macs, v6=st.booleans(),
       src4=st.ip_addresses(v=4), src6=st.ip_addresses(v=6), vlan=st.lists(st.integers(0, 4095), max_size=2))
def test_random_adverts_never_raise(counter, md, vhid, mac, v6, src4, src6, vlan):
    v = Verifier([b"correct horse"], {vhid: ["192.0.2.100", "fe80::1"]})
    rec = advert(vhid, counter, md, src=str(src6 if v6 else src4), family=6 if v6 else 4, src_mac=mac,
                 vlan=tuple(vlan))
    r = v.verify(rec)
    assert r.hmac in ("bad", "unverified") or (r.hmac == "ok" and r.passphrase is not None)
    assert v.verify(rec) == r


@settings(max_examples=100, deadline=None)
@given(addr=st.one_of(st.ip_addresses().map(str), st.text(max_size=20)), mac=st.text(max_size=20),
       counter=st.integers(0, 2**64 - 1), md=st.binary(min_size=20, max_size=20))
def test_random_claims_never_raise(addr, mac, counter, md):
    v = Verifier([])
    v.learn(AddressClaim(1, 0.0, 6 if ":" in addr else 4, addr, mac, (), "garp"))
    assert v.verify(advert(7, counter, md)).hmac == "unverified"


def test_a_failing_sender_is_searched_once_even_after_a_new_claim(monkeypatch):
    calls = []
    real = Verifier._search

    def counting(self, *args):
        calls.append(args)
        return real(self, *args)

    monkeypatch.setattr(Verifier, "_search", counting)
    v = Verifier([b"correct horsf"])
    for n in range(5):
        assert v.verify(advert(7, n, "11" * 20, frame=n)).hmac == "unverified"
    assert len(calls) == 1
    v.learn(claim("192.0.2.100"))
    v.learn(claim("192.0.2.100"))  # the same address again is nothing new
    v.verify(advert(7, 99, "11" * 20))
    assert len(calls) == 2  # called, but the /24 was searched with every key already (issue 20)
    # 3 keys (the pass, its GUI form without the space, the empty key): the /24 once per key,
    # then only the claimed address with each key.
    assert v._budget == auth.SEARCH_BUDGET - 3 * 256 - 3


def test_second_member_of_a_group_reuses_the_first_members_config(monkeypatch):
    calls = []
    real = Verifier._find
    monkeypatch.setattr(Verifier, "_find", lambda self, *a: calls.append(a) or real(self, *a))
    out = run(Verifier([b"correct horse"]), read_records(GENERATED / "ucarp_failover.pcap"))
    assert {r.src for r in out} == {"192.0.2.1", "192.0.2.2"} and {r.hmac for r in out} == {"ok"}
    assert len(calls) == 1  # B's first advert verified with A's configuration


def test_openbsd_manual_lladdr_found_by_the_search():
    mac = bytes.fromhex("020000000099")
    msg = b"\x02\x01" + mac + b"\x01" + socket.inet_aton("198.51.100.7") + bytes.fromhex(CTR)
    md = hmac.new(b"pf", msg, hashlib.sha1).hexdigest()
    r = Verifier([b"pf"]).verify(advert(1, CTR, md, src="198.51.100.2", src_mac=mac.hex(":")))
    assert outcome(r) == ("ok", "openbsd-lladdr", 1, ("198.51.100.7",), "searched")


def test_nul_in_a_passphrase_ends_it_like_strlcpy():
    msg = bytes.fromhex("0201010a000001c0a8010a") + bytes.fromhex(CTR)
    md = hmac.new(b"ab", msg, hashlib.sha1).hexdigest()
    assert Verifier([b"ab\0cd"], {1: D_VIPS}).verify(advert(1, CTR, md)).passphrase == 1


# -- issue 20: what a new sender or group costs ---------------------------------------------

@settings(max_examples=60, deadline=None)
@given(key=st.binary(max_size=80), message=st.binary(max_size=100))
def test_the_search_s_keyed_states_make_rfc_2104_hmacs(key, message):
    """The /24 search builds each HMAC from two keyed SHA-1 states (auth.verifier._pads), not hmac.new."""
    from carpscope.auth.verifier import _pads
    inner, outer = (s.copy() for s in _pads(key))
    inner.update(message)
    outer.update(inner.digest())
    assert outer.digest() == hmac.new(key, message, hashlib.sha1).digest()


@settings(max_examples=40, deadline=None)
@given(key=st.binary(max_size=19).map(lambda k: k.split(b"\0")[0]), vhid=st.integers(1, 255),
       net=st.binary(min_size=3, max_size=3).filter(lambda n: 0 < n[0] < 224), octet=st.integers(0, 255),
       counter=st.integers(0, 2**64 - 1), lladdr=st.booleans())
def test_the_search_finds_any_single_vip_of_the_source_s_24(key, vhid, net, octet, counter, lladdr):
    mac = bytes.fromhex("020000000099") if lladdr else bytes.fromhex("00005e0001%02x" % vhid)
    ctr = counter.to_bytes(8, "big")
    msg = b"\x02\x01" + (mac if lladdr else b"") + bytes((vhid,)) + net + bytes((octet,)) + ctr
    md = hmac.new(key, msg, hashlib.sha1).hexdigest()
    src = socket.inet_ntoa(net + bytes((octet ^ 1,)))
    r = Verifier([key] if key else []).verify(advert(vhid, counter, md, src=src, src_mac=mac.hex(":")))
    vip = socket.inet_ntoa(net + bytes((octet,)))
    assert outcome(r) == ("ok", "openbsd-lladdr" if lladdr else "sorted", 1 if key else 0, (vip,), "searched")


def test_a_failed_search_builds_no_hmac_object(monkeypatch):
    """A miss hashes 256 candidates from the keyed states: no HMAC object (before: one a search, copied 256 times)."""
    from carpscope.auth import verifier as vf
    made = []
    real = vf.HMAC
    monkeypatch.setattr(vf, "HMAC", lambda *a: made.append(a) or real(*a))
    v = Verifier([])
    for vhid in range(1, 21):
        assert v.verify(advert(vhid, CTR, "11" * 20)).hmac_reason == "no-passphrase"
    assert made == [] and v._budget == auth.SEARCH_BUDGET - 20 * 256


def test_new_groups_with_nothing_known_collect_no_vip_sets(monkeypatch):
    """A new group of a forged segment (vlans): nothing given, claimed or verified, so no sets to collect or cache."""
    calls = []
    real = Verifier._collect
    monkeypatch.setattr(Verifier, "_collect", lambda self, *a: calls.append(a) or real(self, *a))
    v = Verifier([b"s3cret"])
    for vlan in range(1, 11):
        for vhid in range(1, 11):
            assert v.verify(advert(vhid, CTR, "11" * 20, vlan=(vlan,))).hmac_reason == "vips-unknown"
    assert calls == [] and v._sets_cache == {}  # before: 100 calls, 100 cache entries
    v.learn(claim("192.0.2.100", vlan=(3,)))
    assert v.verify(advert(1, CTR, "11" * 20, vlan=(3,))).hmac_reason == "vips-unknown"
    assert len(calls) == 1  # a claim on its VLAN: collected as before


def test_a_failure_without_passphrase_reads_the_source_once(monkeypatch):
    """No passphrase: the failure is no-passphrase whatever the /24, so only the search reads the source."""
    from carpscope.auth import verifier as vf
    calls = []
    real = vf.slash24
    monkeypatch.setattr(vf, "slash24", lambda src: calls.append(src) or real(src))
    v = Verifier([])
    for i in range(1, 31):
        assert v.verify(advert(1, CTR, "11" * 20, src=f"10.0.{i}.1")).hmac_reason == "no-passphrase"
    assert len(calls) == 30  # before: 60
