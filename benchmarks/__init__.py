"""Benchmarks of issue 5: accuracy, training time, inference speed and memory (see README)."""
