"""Every command of the table called with random and mutated arguments on
an in-process Core (no sockets): a well-formed reply each time, never an
``ERR internal error`` (a handler's unexpected exception), bounded time.
Bounded for CI; ``python -m tests.fuzz.run --target commands`` runs long."""

from __future__ import annotations

import random

import hypothesis.strategies as st
import pytest
from hypothesis import given

from . import cases

@pytest.fixture(scope="module")
def fuzz():
    f = cases.CommandFuzz()
    yield f
    f.close()


def test_every_command_gets_random_arguments(fuzz):
    """A sweep that reaches every command of the table, 25 argument lists each."""
    assert len(fuzz.names) > 150
    for i, name in enumerate(fuzz.names):
        for j in range(25):
            rng = random.Random(i * 1000 + j)
            args = fuzz.args(rng)
            args[0] = name.encode() if isinstance(name, str) else name
            with cases.bounded(5):
                fuzz.case(rng, args)


@cases.fuzz_settings(500)
@given(rng=st.randoms(use_true_random=False))
def test_random_calls(fuzz, rng):
    # From the same dataset each time, so that an example replays.
    fuzz.reset()
    with cases.bounded(5):
        for _ in range(5):
            fuzz.case(rng)


@cases.fuzz_settings(300)
@given(rng=st.randoms(use_true_random=False))
def test_restore_of_mutated_dumps(fuzz, rng):
    fuzz.reset()
    with cases.bounded(5):
        fuzz.case(rng, fuzz.restore_args(rng))


def test_excluded_commands_have_reasons(fuzz):
    """What the fuzzer leaves out is listed with why, and exists."""
    for name, why in cases.EXCLUDED.items():
        assert name in fuzz.core.commands and why


@pytest.fixture(scope="module", params=["resp2", "resp3"])
def vs_redis(request):
    try:
        v = cases.VsRedis(resp3=request.param == "resp3")
    except OSError as e:  # no reference redis-server to start
        pytest.skip(f"no reference redis-server: {e}")
    yield v
    v.close()


def test_same_replies_as_redis(vs_redis):
    """1,500 of the fuzzer's calls (those with deterministic replies) sent
    to redis-server too, in RESP2 and in RESP3: the replies are equal."""
    for seed in range(1500):
        with cases.bounded(5):
            vs_redis.case(random.Random(seed))
    assert vs_redis.compared > 800
