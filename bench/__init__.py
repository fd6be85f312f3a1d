"""Benchmarks of pyredis against a real redis-server (see bench/README.md)."""
