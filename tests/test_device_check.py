"""`benchmarks/device_check.sh --dry-run`: the GPU device check's whole path on CPU, tiny configs."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_dry_run_measures_every_figure_and_writes_its_section(tmp_path):
    results, work = tmp_path / "RESULTS.md", tmp_path / "work"
    run = subprocess.run(["bash", "benchmarks/device_check.sh", "--dry-run", "--results", str(results),
                          "--work", str(work)], cwd=ROOT, capture_output=True, text=True, timeout=1800,  # a hang guard, not a speed test
                         env={**os.environ, "PYTHON": sys.executable})
    assert run.returncode == 0, run.stderr[-3000:]
    figures = json.loads((work / "device_check.json").read_text())
    assert set(figures["sweep"]) == {"4", "8"}
    runs = [*figures["sweep"].values(), figures["cached_intent"], figures["grounded_annotate"]]
    assert all(r["pairs_per_s"] > 0 and r["peak_gpu_GiB"] is None and r["gpu_busy_percent"] is None
               for r in runs)  # CPU: no GPU memory, no utilisation
    assert "alignment and boundary refinement on" in figures["network"]
    assert set(figures["stages"]) == {"decode", "alignment", "parse", "backbone", "head", "refinement", "filters",
                                      "write"}
    assert figures["grounding"]["images_per_s"] > 0
    assert figures["stage1"]["no cache"] > 0 and figures["stage1"]["cache"] > 0
    # Every run wrote one mask and one record per listed pair (16 listings of 4 synthetic pairs).
    for name in ("prior_b4", "prior_b8", "cached"):
        records = (work / name / "records" / "rank0.jsonl").read_text().splitlines()
        assert len(records) == len({json.loads(r)["key"] for r in records}) == 16
        assert len(list((work / name / "masks").glob("*.png"))) == 16
    cached = [json.loads(r) for r in (work / "cached" / "records" / "rank0.jsonl").read_text().splitlines()]
    assert {r["provenance_grounding"] for r in cached} == {"cache"}
    grounded = [json.loads(r) for r in (work / "grounded" / "records" / "rank0.jsonl").read_text().splitlines()]
    assert {r["provenance_grounding"] for r in grounded} == {"langsam"}
    text = results.read_text()
    assert text.count("<!-- bench:device_check_dry_run -->") == 1 and "images/s" in text and "s/step" in text
