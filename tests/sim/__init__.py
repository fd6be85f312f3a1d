"""Deterministic simulation of global replication: several members (real
Cores with GlobalMember, GlobalLog and the glink state machines) in one
thread over a simulated network and clock, driven by one seed.
Run ``python -m tests.sim.run --seeds 1000 --start 0``."""
