"""Measurement scripts, `python -m benchmarks.NAME`, one measurement each: the training and scoring runs
behind a table of the paper, FLOPs, speeds and memory, a device check (most record their figures with
their command in benchmarks/RESULTS.md, results.py); `benco bench` (imdl_sigma/bench) does the scoring."""
