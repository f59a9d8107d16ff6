"""Benchmarks (`make bench`): figures in percentiles and ratios, never assertions about time."""
