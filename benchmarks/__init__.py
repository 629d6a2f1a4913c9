"""Benchmarks: accuracy, training time, inference speed and memory (see docs/benchmarks.md)."""
