"""Benchmarks of logriver against raw Elasticsearch: run with `python -m bench` (see the README, "Benchmarks")."""
