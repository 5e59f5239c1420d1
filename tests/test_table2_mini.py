"""The mini Table 2: sizes, the issue's schema (mean ± std over seeds), learning curves, the signal
checks and the report, from run results; a killed run resumes, and saved checkpoints score later."""

import json
from dataclasses import replace

import numpy as np
import pytest

from benchmarks.table2_mini import (MiniConfig, Run, epochs_for, learning_curve, mean_std, table_rows,
                                    without_lowest_quality)
from benchmarks.table2_report import results_markdown, signal_checks


def result(f1s: dict, steps: int = 96, warnings=()) -> dict:
    tests = {name: {"f1": f1} for name, f1 in f1s.items()}
    return {"steps": steps, "tests": tests, "warnings": list(warnings),
            "history": [{"steps": steps // 2, "tests": {name: {"f1": 0.0} for name in f1s}}, {"steps": steps - 1},
                        {"steps": steps, "tests": tests}]}


def test_epochs_give_at_least_the_steps_asked_for():
    config = MiniConfig(steps=1500, batch_size=8)
    assert epochs_for(config, 2000) == 6  # 250 steps an epoch
    assert epochs_for(config, 2001) == 6 and epochs_for(config, 1999) == 7  # a last partial batch is dropped
    assert epochs_for(MiniConfig(steps=20, batch_size=8), 4) == 20  # fewer pairs than a batch: one step an epoch


def test_detector_lrs_and_the_every_pixel_floor(tmp_path):
    from benchmarks.table2_mini import all_foreground_f1, detector_lrs
    from imdl_sigma.data.images import save_mask
    from imdl_sigma.errors import BadInputError

    assert detector_lrs("iml_vit=1e-4, mtcl=5e-4") == {"iml_vit": 1e-4, "mtcl": 5e-4} and detector_lrs("") == {}
    with pytest.raises(BadInputError, match="DETECTOR=LR"):
        detector_lrs("mtcl")
    quarter, empty = np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8)
    quarter[:4, :4] = 255
    save_mask(tmp_path / "q.png", quarter)
    save_mask(tmp_path / "e.png", empty)
    (tmp_path / "pairs.jsonl").write_text("".join(json.dumps({"id": name, "source": "q.png", "edited": "q.png",
                                                              "mask": f"{name}.png"}) + "\n" for name in "qe"))
    assert all_foreground_f1(str(tmp_path / "pairs.jsonl")) == 20.0  # (2·¼ / (1 + ¼) + 0) / 2


def test_mean_and_sample_std_over_seeds():
    assert mean_std([10.0, 14.0]) == {"mean": 12.0, "std": 2.83}
    assert mean_std([7.0]) == {"mean": 7.0, "std": 0.0}


def test_learning_curve_averages_tests_then_seeds_at_each_scoring():
    histories = [[{"steps": 32, "tests": {"a": {"f1": 10.0}, "b": {"f1": 20.0}}}, {"steps": 64}],
                 [{"steps": 32, "tests": {"a": {"f1": 30.0}, "b": {"f1": 40.0}}}]]
    assert learning_curve(histories) == [[32, 25.0]]


def test_lowest_quality_share_is_dropped():
    records = [{"id": str(i), "quality": q} for i, q in enumerate([0.9, 0.1, 0.5, 0.7, 0.3, 0.2, 0.8, 0.6, 0.4, 1.0])]
    kept = without_lowest_quality(records, 0.1)
    assert len(kept) == 9 and "1" not in {r["id"] for r in kept}


def test_table_follows_the_issue_schema(tmp_path):
    runs = [Run(detector, arm, seed, tmp_path) for detector in ("pscc_net", "mtcl")
            for arm in ("truth", "sigma", "pixdiff") for seed in (0, 1)]
    base = {"truth": 50.0, "sigma": 46.0, "pixdiff": 30.0}
    results = [result({"splice": base[run.arm] + 2 * run.seed, "regeneration": base[run.arm] - 10},
                      warnings=["constant"] if run.arm == "pixdiff" and run.seed else []) for run in runs]
    quality = {"truth": 100.0, "sigma": 91.234, "pixdiff": 60.0}
    table = table_rows(runs, results, quality, MiniConfig(seeds=2), n_train=2000)
    row = table["mtcl"]
    assert row["steps"] == 96 and row["n_train"] == 2000 and row["seeds"] == [0, 1]
    assert set(row["arms"]) == {"truth", "sigma", "pixdiff"}
    sigma = row["arms"]["sigma"]
    assert sigma["label_f1"] == 91.23
    assert sigma["per_test"] == {"splice": {"mean": 47.0, "std": 1.41}, "regeneration": {"mean": 36.0, "std": 0.0}}
    assert sigma["curve"] == [[48, 0.0], [96, 41.5]]
    assert row["arms"]["pixdiff"]["warnings"] == ["constant"]
    json.dumps(table)  # the schema is plain JSON


@pytest.mark.parametrize("sigma_std,holds", [(0.5, True), (6.0, False)])
def test_signal_checks_weigh_the_gap_against_seed_noise(sigma_std, holds):
    arms = {"truth": {"per_test": {"splice": {"mean": 45.5, "std": 0.5}}},
            "sigma": {"per_test": {"splice": {"mean": 46.0, "std": sigma_std}}},
            "pixdiff": {"per_test": {"splice": {"mean": 40.0, "std": 0.5}}}}
    (check,) = signal_checks(arms)
    assert check["gap"] == 6.0 and check["ceiling"] == -0.5 and check["holds"] is holds


def test_signal_check_fails_when_the_truth_arm_trails_sigma():
    arms = {"truth": {"per_test": {"splice": {"mean": 40.0, "std": 0.0}}},
            "sigma": {"per_test": {"splice": {"mean": 46.0, "std": 0.0}}},
            "pixdiff": {"per_test": {"splice": {"mean": 30.0, "std": 0.0}}}}
    assert signal_checks(arms)[0]["holds"] is False


def test_report_shows_mean_std_checks_and_curves(tmp_path):
    runs = [Run("pscc_net", arm, seed, tmp_path) for arm in ("truth", "sigma", "pixdiff") for seed in (0, 1)]
    base = {"truth": 50.0, "sigma": 48.0, "pixdiff": 30.0}
    results = [result({"splice": base[run.arm] + run.seed, "regeneration": base[run.arm]}) for run in runs]
    table = table_rows(runs, results, {"truth": 100.0, "sigma": 90.0, "pixdiff": 60.0}, MiniConfig(), 2000)
    checkpoint = tmp_path / "ck.pt"
    checkpoint.write_bytes(b"weights")
    text = results_markdown(table, MiniConfig(), str(checkpoint), 0.05, "photos/")
    assert "| pscc_net | sigma | 90.00 | 48.50 ± 0.71 | 48.00 ± 0.00 |" in text
    assert "| pscc_net | splice | +18.00 | 1.42 | +2.00 | yes |" in text
    assert "- pscc_net / pixdiff: 48: 0.0, 96: 30.2" in text
    assert "`ck.pt` (sha256 " in text and "τ = 0.05" in text and "half `test-a`" in text


@pytest.fixture(scope="module")
def tiny_sets(tmp_path_factory):
    """Four training pairs and four test pairs (64 px) as a dataset.json and a manifest."""
    from imdl_sigma.data.benco_datasets import write_json_dataset
    from imdl_sigma.data.manifest import read_manifest
    from imdl_sigma.synth.generator import SynthConfig, synthesize

    root = tmp_path_factory.mktemp("mini_runs")
    config = SynthConfig(size=64, empty_share=0.0)
    train = synthesize(root / "train", 4, seed=1, config=config, progress=False)
    write_json_dataset(root / "train.json", [(p.edited, p.mask) for p in read_manifest(train)])
    return str(root / "train.json"), str(synthesize(root / "test", 4, seed=2, config=config, progress=False))


def test_a_killed_run_continues_from_its_last_epoch_and_its_checkpoint_scores_later(tiny_sets, tmp_path):
    from benchmarks.table2_mini import one_run, score_runs
    from downstream.finetune import FinetuneConfig
    from imdl_sigma.cli import main

    train, test = tiny_sets
    config = FinetuneConfig(epochs=1, batch_size=2, image_size=64, num_workers=0, warmup_epochs=0)
    run = Run("mtcl", "truth", 0, tmp_path / "runs" / "mtcl" / "truth" / "seed0")
    first = one_run((run, train, {"t": test}, config, True, 1))
    (run.folder / "results.json").unlink()  # killed after epoch 0's checkpoint
    resumed = one_run((run, train, {"t": test}, replace(config, epochs=2), True, 1))
    assert [entry["epoch"] for entry in resumed["history"]] == [0, 1]
    assert resumed["history"][0] == first["history"][0] and resumed["steps"] == 4

    scores = score_runs(str(tmp_path), ["mtcl"], {"mtcl"}, {"later": test})
    assert scores == {"later": {"mtcl": {"truth": {"mean": round(resumed["tests"]["t"]["f1"], 2), "std": 0.0}}}}
    assert main(["finetune", "--model", "mtcl", "--small", "--random-init", "--resume", str(run.checkpoint),
                 "--test-data", f"later={test}", "--image-size", "64", "--batch-size", "2", "--num-workers", "0",
                 "--out", str(tmp_path / "cli")]) == 0
    cli = json.loads((tmp_path / "cli" / "results.json").read_text())
    assert cli["tests"]["later"]["f1"] == resumed["tests"]["t"]["f1"] and cli["steps"] == 4
