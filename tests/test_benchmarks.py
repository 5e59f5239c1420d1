"""Benchmark scripts run end to end on tiny inputs (the figures themselves come from real runs)."""

import json
import sys

from benchmarks import ablations
from benchmarks.results import record


def test_ablations_train_and_score_every_variant(synth_pairs, tmp_path, monkeypatch):
    out = tmp_path / "abl"
    keys = list(ablations.VARIANTS)
    monkeypatch.setattr(sys, "argv", ["ablations", "--train", str(synth_pairs), "--test", f"val={synth_pairs}",
                                      "--test", str(synth_pairs), "--out", str(out), "--config", "tiny",
                                      "--size", "56", "--steps", "2", "--batch", "4", "--no-record",
                                      "--variants", ",".join(keys)])
    ablations.main()
    rows = json.loads((out / "ablations.json").read_text())
    assert [r["variant"] for r in rows] == [ablations.VARIANTS[k][0] for k in keys]
    assert all(set(r["scores"]) == {"val", synth_pairs.parent.name} for r in rows)
    assert all(s["n"] == 12 and 0 <= s["f1"] <= 100 for r in rows for s in r["scores"].values())
    table = (out / "ablations.md").read_text()
    assert "| no DRB |" in table and "| no pixel evidence |" in table and "val F1" in table
    assert not (out / "no_refine").exists()  # an inference-only switch is scored on `full`'s weights


def test_results_sections_are_replaced_not_repeated(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text("# Measured results\n\nhand-written text\n")
    record("demo", "Demo", "first", command="python -m x", path=path)
    record("demo", "Demo", "second", command="python -m x", path=path)
    text = path.read_text()
    assert text.count("<!-- bench:demo -->") == 1 and "second" in text and "first" not in text
    assert "hand-written text" in text
