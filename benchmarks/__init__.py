"""Benchmarks: side-by-side comparisons reported as ratios."""
