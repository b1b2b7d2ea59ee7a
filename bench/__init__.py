"""Benchmarks of the ambient-flow host (scripts, not tests): `python -m bench.ingest`."""
