"""looped-advert and replayed-advert, from CARP's counter and md (docs/protocol.md §3).

OpenBSD repeats one counter (and so one md) in every advert by design, so a repeat
of the latest advert is a loop only when it comes back in less than half the
sender's interval with the same header (`members.loop_window`). An older (counter,
md) coming back after newer ones is a replay, unless a FreeBSD-family sender copied
a peer's counter (it sends the last counter it received + 1), which is checked first.
"""

from __future__ import annotations

from carpscope import findings as k
from carpscope.election import rules
from carpscope.election.members import COUNTER_MOD, Group, Source, loop_window
from carpscope.model import CarpAdvert, Finding


def check(g: Group, m: Source, r: CarpAdvert, prev) -> list[Finding]:
    """What `r`'s counter says about `m`; `r` is then remembered (`Source.remember`)."""
    if r.counter is None:
        return []
    out: list[Finding] = []
    key = (r.counter, r.md)
    if m.last_counter is not None and (m.last_counter + 1) % COUNTER_MOD == r.counter:
        m.seen["counting"] = True
    if m.adverts == 2 and len(m.counters) == 1 and key in m.counters:
        g.dirty = True  # a constant counter: OpenBSD, whose timer differs (stack.py)
    if key in m.counters:
        if key == m.last_key:
            out += _looped(g, m, r, prev)
        elif (k.REPLAYED_ADVERT, m.addr) not in g.raised and not copied(g, r.counter):
            age = r.time - m.counters[key]
            out += g.raise_(
                k.REPLAYED_ADVERT, m.addr, r,
                f"{m.addr} sent counter {r.counter} with the same signature again {age:.2f}s after first "
                f"using it, after newer counters: an old advert was replayed (no CARP stack checks "
                f"counters), or overlapping captures were merged")
    m.remember(key, r.time, r.counter)
    return out


def _looped(g: Group, m: Source, r: CarpAdvert, prev) -> list[Finding]:
    """The latest advert again, sooner than half an interval with the same header: a loop."""
    dt = abs(r.time - m.last_key_time)
    window = loop_window(r)
    if prev is None or dt >= window or not rules.same(prev, r):
        return []
    return g.raise_(
        k.LOOPED_ADVERT, m.addr, r,
        f"the same advert from {m.addr} (counter {r.counter}) arrived twice {dt * 1000:.1f} ms "
        f"apart, against an advert interval of {window * 2:.2f}s: a layer-2 loop (bridge, switch, "
        f"hypervisor) repeats frames, or the capture saw each frame twice (two interfaces, "
        f"overlapping captures merged)")


def copied(g: Group, counter: int) -> bool:
    """Is `counter` some member's latest + 1 (a FreeBSD-family sender copies what it accepts)?"""
    return any(o.last_counter is not None and (o.last_counter + 1) % COUNTER_MOD == counter
               for o in g.members.values())


def continues(y: Source, x: Source) -> bool:
    """Does y's first advert of its run carry one of x's recent counters + 1 (docs/protocol.md §3)?"""
    first = y.run_record
    if not isinstance(first, CarpAdvert) or first.counter is None:
        return False
    want = (first.counter - 1) % COUNTER_MOD
    return any(c == want for c, _ in x.counters)
