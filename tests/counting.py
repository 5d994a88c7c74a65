"""Call counts for the cost tests (issues 19, 20): a speed change is checked by calls, never by seconds."""

from __future__ import annotations


class Counting:
    """Counts calls of some attributes of an object, a class or a module, while the test runs."""

    def __init__(self, monkeypatch, obj, *names: str):
        self.calls = dict.fromkeys(names, 0)
        for name in names:
            original = getattr(obj, name)

            def counted(*args, _name=name, _original=original, **kw):
                self.calls[_name] += 1
                return _original(*args, **kw)

            monkeypatch.setattr(obj, name, counted)
