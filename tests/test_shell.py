"""The seams of issue 18: the shell sleeps until the core's next deadline, the verifier owns
the fast path's check, the report is an immutable summary, and cli.py alone exits."""

from __future__ import annotations

import ast
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from carpscope import live_shell
from carpscope.auth import Verdict, Verifier
from carpscope.capture import live as capture_live
from carpscope.election.tracker import Tracker
from carpscope.model import CarpAdvert, Frame, Tick
from carpscope.pipeline import HOLD, Pipeline
from test_pipeline import KEY, carp_payload, garp, ip_frame

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_795_000_000.0
VIP = "192.0.2.10"


def frame(number: int, t: float, data: bytes) -> Frame:
    return Frame(number, t, 1, data, len(data))


def advert(number: int, t: float, counter: int, key: bytes = KEY) -> Frame:
    return frame(number, t, ip_frame("192.0.2.1", carp_payload(1, 0, counter, [VIP], key=key), 1, number))


def test_the_next_deadline_is_the_trackers_or_a_held_adverts_release():
    p = Pipeline(Verifier([KEY]), Tracker())
    assert p.next_deadline() is None
    p.feed(frame(1, T0, garp(VIP, 1)))
    p.feed(advert(2, T0 + 0.1, 1))
    assert p.next_deadline() == p.tracker.next_deadline() is not None
    p.feed(advert(3, T0 + 1.1, 2, key=b"other"))  # fails: held for the claims that may follow
    assert p.next_deadline() == pytest.approx(T0 + 1.1 + HOLD)


def test_live_sleeps_until_the_deadline_then_ticks_past_it():
    """No fixed tick: each wait lasts until the next deadline (plus the tick's LAG)."""
    waits, clock = [], [T0]

    class Reader:
        def getfd(self):
            return -1

        def datalink(self):
            return 1

        def next_batch(self, n):
            return b"", b""

    def wait(r, w, x, timeout):
        waits.append(timeout)
        clock[0] += timeout

    deadline = T0 + 3.5
    def timeout():
        return live_shell._sleep(clock[0], deadline, None, None)

    items = capture_live.stream(Reader(), "eth0", clock=lambda: clock[0], wait=wait, timeout=timeout)
    first, second = next(items), next(items)
    assert isinstance(first, Tick) and first.now < deadline
    assert waits == [pytest.approx(3.5 + capture_live.LAG + live_shell._SLACK)]
    assert isinstance(second, Tick) and second.now >= deadline


def test_the_sleep_is_bounded_by_the_dashboard_and_the_duration_only():
    class Dashboard:
        PERIOD, last = 0.25, T0

    assert live_shell._sleep(T0, None, None, None) is None  # nothing due: until a frame or a signal
    assert live_shell._sleep(T0, T0 + 60, Dashboard(), None) == pytest.approx(0.25)
    assert live_shell._sleep(T0, T0 + 60, None, T0 + 2) == pytest.approx(2)
    assert live_shell._sleep(T0, T0 - 5, None, None) == live_shell._MIN_SLEEP  # overdue: at once, no spin


def test_a_signal_wakes_a_sleep_without_a_deadline():
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM))
    with live_shell._StopOnSignals() as stopping:
        start = time.monotonic()
        timer.start()
        stopping.wait([], [], [], 10)
        assert stopping.requested and time.monotonic() - start < 5


def test_the_verifier_answers_whether_a_repeat_still_verifies():
    v = Verifier([KEY], {1: [VIP]})
    p = Pipeline(v, Tracker())
    (record,) = [r for r in p.feed(advert(1, T0, 7)) if isinstance(r, CarpAdvert)]
    seal = v.seal(record)
    assert isinstance(seal.verdict, Verdict) and seal.verdict.hmac == "ok" and seal.verdict.vips == (VIP,)
    good = carp_payload(1, 0, 8, [VIP])
    assert v.repeats(seal, 8, good[8:16], good[16:36])
    assert not v.repeats(seal, 8, good[8:16], bytes(20))


def test_the_pipeline_holds_no_private_type_of_auth():
    source = (ROOT / "carpscope" / "pipeline.py").read_text()
    tree = ast.parse(source)
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
             and n.module.startswith("carpscope.auth") for a in n.names}
    assert names and not {n for n in names if n.startswith("_")}
    assert "_Config" not in source and "signer" not in source


def test_a_summary_is_a_value_later_frames_do_not_change():
    p = Pipeline(Verifier([KEY]), Tracker())
    p.feed(frame(1, T0, garp(VIP, 1)))
    p.feed(advert(2, T0 + 0.1, 1))
    before = p.summary()
    for n in range(3, 9):
        p.feed(advert(n, T0 + n, n))
    p.finish()
    assert before.adverts == 1 and before.last_time == T0 + 0.1
    assert p.summary().adverts == 7 and len(p.summary().events) >= len(before.events)
    with pytest.raises(AttributeError):
        before.adverts = 0


def _exits(path: Path) -> int:
    tree = ast.parse(path.read_text())
    return sum(1 for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "exit"
               and isinstance(n.value, ast.Name) and n.value.id == "sys")


def test_cli_exits_in_one_place_and_defines_no_exit_code():
    cli = ROOT / "carpscope" / "cli.py"
    assert _exits(cli) == 1
    assert _exits(ROOT / "carpscope" / "shell.py") == 0
    assert _exits(ROOT / "carpscope" / "live_shell.py") == 0
    assigned = {t.id for n in ast.walk(ast.parse(cli.read_text())) if isinstance(n, ast.Assign)
                for t in ast.walk(n) if isinstance(t, ast.Name) and isinstance(t.ctx, ast.Store)}
    assert not {name for name in assigned if name.startswith("EXIT_")}
