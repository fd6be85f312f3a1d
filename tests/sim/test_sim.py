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
