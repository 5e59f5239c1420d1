"""The paper's tables as `benco bench` computes them: Table 1 (masks), Fig. 4 (robustness) and
throughput (speed). The scripts under benchmarks/ run them and write benchmarks/RESULTS.md."""
