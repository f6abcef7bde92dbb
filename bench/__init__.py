"""Benchmarks of the app, each run from the repository root as a module: python -m bench.NAME --help."""
