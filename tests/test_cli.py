"""The `benco` command: upstream delegation, new subcommands, clear errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from imdl_sigma.cli import main

SUBCOMMANDS = ("demo", "train", "annotate", "finetune", "bench", "parse", "synth", "init", "env")


def run_benco(*args, cwd=None, stdin=None):
    return subprocess.run([sys.executable, "-m", "imdl_sigma", *args], capture_output=True, text=True,
                          cwd=cwd, input=stdin, timeout=300)


def test_help_lists_new_and_upstream_subcommands():
    result = run_benco("--help")
    assert result.returncode == 0
    for name in SUBCOMMANDS:
        assert f"    {name}" in result.stdout


@pytest.mark.parametrize("name", [s for s in SUBCOMMANDS if s not in ("init", "env")])
def test_every_subcommand_has_help(name, capsys):
    with pytest.raises(SystemExit) as code:
        main([name, "--help"])
    assert code.value.code == 0
    assert "usage: benco" in capsys.readouterr().out


def test_benco_script_is_ours():
    script = Path(sys.executable).parent / "benco"
    assert script.exists() and "imdl_sigma.cli" in script.read_text()


def test_init_is_delegated_to_imdlbenco(tmp_path):
    result = run_benco("init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    created = {p.name for p in tmp_path.iterdir()}
    assert {"train.py", "test.py"} <= created, created


def test_parse_prints_one_json_object(capsys):
    assert main(["parse", "replace the cat with a dog"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "original": "cat", "edited": "dog", "action": "replace", "source": "rules"}


def test_bench_masks_writes_table_and_masks(synth_pairs, tmp_path):
    from imdl_sigma.config import SigmaConfig
    from imdl_sigma.model import SigmaNet
    from imdl_sigma.model.checkpoint import save_checkpoint

    config = SigmaConfig.preset("tiny")
    save_checkpoint(tmp_path / "tiny.pt", SigmaNet(config), config)
    out = tmp_path / "bench"
    code = main(["bench", "masks", "--pairs", str(synth_pairs), "--checkpoint", str(tmp_path / "tiny.pt"),
                 "--out", str(out), "--save-masks"])
    assert code == 0
    results = json.loads((out / "masks.json").read_text())
    assert set(results) == {"pixdiff-fixed@0.02", "pixdiff-fixed@0.05", "pixdiff-fixed@0.1", "pixdiff-fixed@0.15",
                            "pixdiff-fixed@0.2", "pixdiff-morph", "pixdiff-otsu", "sigma"}
    assert all(row["n"] == 12 and 0 <= row["f1"] <= 100 for row in results.values())
    assert len(list((out / "sigma").glob("*.png"))) == 12
    assert (out / "masks.md").read_text().startswith("| Method |")


def test_bench_masks_sigma_set_overrides_the_checkpoint_config(synth_pairs, tmp_path):
    from imdl_sigma.config import SigmaConfig
    from imdl_sigma.model import SigmaNet
    from imdl_sigma.model.checkpoint import save_checkpoint

    config = SigmaConfig.preset("tiny")
    save_checkpoint(tmp_path / "tiny.pt", SigmaNet(config), config)
    common = ["bench", "masks", "--pairs", str(synth_pairs), "--checkpoint", str(tmp_path / "tiny.pt"),
              "--methods", "sigma"]
    # No probability exceeds 1: every predicted mask is empty, so F1 is 0 on every pair with an edit.
    assert main(common + ["--out", str(tmp_path / "never"), "--sigma-set", "mask_threshold=1.0"]) == 0
    never = json.loads((tmp_path / "never" / "masks.json").read_text())["sigma"]
    # A threshold below 0 marks every pixel: pairs with an edit score above 0, empty-GT pairs 0.
    assert main(common + ["--out", str(tmp_path / "always"), "--sigma-set", "mask_threshold=-1"]) == 0
    always = json.loads((tmp_path / "always" / "masks.json").read_text())["sigma"]
    assert never["f1"] < always["f1"]
    assert never["f1"] == pytest.approx(100 * never["empty_gt"] / never["n"])
    # An architecture field that the weights cannot fill fails as bad input, before any pair is read.
    assert main(common + ["--out", str(tmp_path / "bad"), "--sigma-set", "difference.dim=12"]) == 2
    assert main(common + ["--out", str(tmp_path / "bad"), "--sigma-set", "align.nosuch=1"]) == 2


def test_bench_masks_table1_layout_over_datasets(synth_pairs, tmp_path):
    from imdl_sigma.data.manifest import read_manifest, write_manifest

    half = tmp_path / "half" / "pairs.jsonl"
    half.parent.mkdir()
    write_manifest(half, read_manifest(synth_pairs)[:6])
    out = tmp_path / "bench"
    assert main(["bench", "masks", "--pairs", f"full={synth_pairs}", "--pairs", f"half={half}",
                 "--methods", "pixdiff-fixed@0.1,pixdiff-otsu", "--out", str(out)]) == 0
    results = json.loads((out / "masks.json").read_text())
    row = results["pixdiff-fixed@0.1"]
    per = row["per_dataset"]
    assert per["full"]["n"] == 12 and per["half"]["n"] == 6 and row["n"] == 18
    assert abs(row["f1"] - (per["full"]["f1"] + per["half"]["f1"]) / 2) < 1e-9  # the paper's Avg column
    header, _, first = (out / "masks.md").read_text().splitlines()[:3]
    assert header.startswith("| Method | full F1 | full IoU | half F1 | half IoU | Avg F1 | Avg IoU |")
    assert first.startswith("| PixDiff-Fixed(0.10) |")


def test_bench_speed_reports_every_stage(synth_pairs, tmp_path, capsys):
    from imdl_sigma.config import SigmaConfig
    from imdl_sigma.model import SigmaNet
    from imdl_sigma.model.checkpoint import save_checkpoint

    config = SigmaConfig.preset("tiny").with_overrides({"align.enabled": True, "refine.enabled": True})
    save_checkpoint(tmp_path / "tiny.pt", SigmaNet(config), config)
    assert main(["bench", "speed", "--pairs", str(synth_pairs), "--checkpoint", str(tmp_path / "tiny.pt"),
                 "--limit", "4", "--batch-size", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    stages = {"decode", "alignment", "parse", "backbone", "head", "refinement", "filters", "write"}
    assert set(report["pairs_per_s_per_stage"]) == set(report["s_per_pair_per_stage"]) == stages
    assert report["alignment"] and report["refinement"] and report["decode_workers"] == 0
    assert report["s_per_pair_stage_sum"] == pytest.approx(sum(report["s_per_pair_per_stage"].values()), abs=1e-3)
    assert report["overlap_s_per_pair"] == pytest.approx(
        report["s_per_pair_stage_sum"] - report["s_per_pair_end_to_end"], abs=1e-3)
    assert report["pairs"] == 4 and report["pairs_per_s_end_to_end"] > 0


def test_bench_robustness_runs_only_the_attacks_asked_for(synth_pairs, tmp_path):
    import csv

    out = tmp_path / "attacks"
    assert main(["bench", "robustness", "--pairs", str(synth_pairs), "--methods", "pixdiff-fixed@0.1",
                 "--out", str(out), "--jpeg", "", "--noise", "", "--blur", "", "--box-blur", "5",
                 "--colour-levels", "32"]) == 0
    rows = list(csv.DictReader((out / "robustness.csv").open()))
    assert {(r["kind"], r["level"]) for r in rows} == {("box_blur", "clean"), ("box_blur", "5.0"),
                                                      ("colour_levels", "clean"), ("colour_levels", "32.0")}
    assert (out / "perturbed" / "box_blur_5" / "edited").is_dir()


def test_bench_robustness_writes_csv_and_plot(synth_pairs, tmp_path):
    import csv

    out = tmp_path / "robust"
    assert main(["bench", "robustness", "--pairs", str(synth_pairs), "--methods", "pixdiff-fixed@0.1,pixdiff-otsu",
                 "--out", str(out), "--jpeg", "50", "--noise", "0.05", "--blur", "2"]) == 0
    rows = list(csv.DictReader((out / "robustness.csv").open()))
    assert {(r["kind"], r["level"]) for r in rows} == {("jpeg", "clean"), ("jpeg", "50.0"), ("noise", "clean"),
                                                      ("noise", "0.05"), ("blur", "clean"), ("blur", "2.0")}
    clean = {r["method"]: float(r["f1"]) for r in rows if r["kind"] == "noise" and r["level"] == "clean"}
    noisy = {r["method"]: float(r["f1"]) for r in rows if r["kind"] == "noise" and r["level"] == "0.05"}
    assert noisy["pixdiff-fixed@0.1"] < clean["pixdiff-fixed@0.1"]  # noise hurts raw pixel differencing
    assert (out / "robustness.png").read_bytes()[:4] == b"\x89PNG"
    noise_table = (out / "robustness.md").read_text().split("\n\n")[1].splitlines()
    assert noise_table[0] == "| noise | clean | 0.05 |"
    assert noise_table[2] == f"| pixdiff-fixed@0.1 | {clean['pixdiff-fixed@0.1']:.2f} | {noisy['pixdiff-fixed@0.1']:.2f} |"
