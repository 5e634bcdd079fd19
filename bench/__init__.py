"""Benchmarks: each script prints ratios against a reference measured in the same run."""
