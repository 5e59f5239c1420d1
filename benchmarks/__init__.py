"""Benchmarks: the paper's tables and throughput."""
