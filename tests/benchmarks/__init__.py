"""Benchmarks (``nox -s bench``): overhead as ratios to a baseline measured in the same run."""
