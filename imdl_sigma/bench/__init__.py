"""The paper's tables as `benco bench` computes them: scoring of every mask method per pair (scoring.py),
Table 1 (masks.py), Fig. 4 (robustness.py) and annotation throughput (speed.py). The scripts under
benchmarks/ call these and write benchmarks/RESULTS.md."""
