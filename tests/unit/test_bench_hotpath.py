"""bench.hotpath runs every test's requests through the real request path
and gets the replies redis-benchmark would get (no error replies)."""

from __future__ import annotations

import asyncio
import random

from bench import hotpath


def test_every_test_runs_without_error_replies(monkeypatch):
    written = []
    real = hotpath._Transport.write

    def write(self, data):
        written.append(bytes(data))
        real(self, data)

    monkeypatch.setattr(hotpath._Transport, "write", write)
    loop = asyncio.new_event_loop()
    try:
        for test in hotpath.generators(random.Random(), 1):
            written.clear()
            res = loop.run_until_complete(hotpath.measure(test, 3, 4, 50, 2, 2))
            assert len(res) == 2 and all(r > 0 for r in res)
            assert written and not any(b"\r\n-" in w or w.startswith(b"-") for w in written)
    finally:
        loop.close()
