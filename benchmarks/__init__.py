"""Benchmarks and the chaos suite: run with `make bench` / `make chaos`."""
