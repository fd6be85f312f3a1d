"""The simulation's CI seeds: every topology, all data types, drops,
partitions, restarts with torn log tails, clock skew. A failure names its
seed; replay it with ``python -m tests.sim.run --seed N -v``. The long run
is ``python -m tests.sim.run --seeds 1000 --start 0``."""

import pytest

from .cluster import run_seed

CI_SEEDS = range(50)


@pytest.mark.parametrize("seed", CI_SEEDS)
def test_seed_converges(seed):
    run_seed(seed)


@pytest.mark.parametrize("topology", ["mesh", "star", "chain", "ring", "oneway"])
def test_strings_without_restarts(topology):
    # The first priority's scenario on its own: strings, DEL and expiry
    # under drops, partitions and skew, in every topology.
    run_seed(1000 + len(topology), topology=topology, strings_only=True, restarts=False)


def test_a_seed_replays_exactly():
    assert run_seed(7).fingerprint == run_seed(7).fingerprint


def test_links_compress_by_seed():
    # Seed 3: every link compressed; seed 10: none; seed 11: some members
    # compress and some do not (the CI seeds above run all three kinds).
    on, off, mixed = run_seed(3), run_seed(10), run_seed(11)
    assert on.compression == "on" and off.compression == "off" and mixed.compression == "mixed"
    plain, wire = on.stream_bytes()["zstd"]
    assert on.stream_bytes()["off"] == (0, 0) and plain > 3 * wire > 0
    assert off.stream_bytes()["zstd"] == (0, 0) and off.stream_bytes()["off"][0] > 0
    assert len({m.compress for m in mixed.members}) == 2
