"""Benchmarks: `make bench` runs them; see benchmarks/README.md."""
