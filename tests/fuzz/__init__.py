"""Hostile-input fuzzing (issue 12, part 2): the RESP request reader, the
command layer, the classic replica handshake and the global replication
codecs fed random and mutated bytes.

* :mod:`.gen`: input generators driven by a ``random.Random``, so every
  case replays from its seed;
* :mod:`.cases`: one case per target, each asserting the properties (only
  the documented error types, a bounded run time, bounded buffers, the
  same result however the bytes are split);
* ``test_*.py``: bounded hypothesis runs for CI;
* :mod:`.run`: the long run, ``python -m tests.fuzz.run --frames 1000000``,
  which reports frames per second and the peak resident set.
"""
