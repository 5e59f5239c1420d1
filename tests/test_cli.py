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


@pytest.mark.parametrize("argv, message", [
    (["annotate", "--pairs", "/nonexistent/pairs.jsonl", "--out", "OUT"], "manifest not found"),
    (["train", "--pairs", "/nonexistent.jsonl", "--out", "OUT", "--config", "nope"], "neither a SIGMA preset"),
    (["synth", "--out", "OUT", "--n", "1", "--images", "/nonexistent"], "--images folder not found"),
    (["demo", "--checkpoint", "/nonexistent.pt", "--n", "1"], "checkpoint not found"),
    (["train", "--stage", "2", "--pairs", "P", "--out", "OUT", "--config", "tiny"], "needs a Stable Diffusion VAE"),
    (["train", "--stage", "2", "--pairs", "P", "--out", "OUT", "--config", "tiny", "--vae", "/nonexistent"],
     "needs unlabeled editing pairs"),
    (["train", "--pairs", "P", "--out", "OUT", "--config", "standin", "--cache-features", "C"], "frozen backbone"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.startswith("benco ")


def test_bench_masks_writes_table_and_masks(synth_pairs, tmp_path):
    from imdl_sigma.config import SigmaConfig
    from imdl_sigma.model import SigmaNet
    from imdl_sigma.training.checkpoint import save_checkpoint

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


def test_bench_speed_reports_every_stage(synth_pairs, tmp_path, capsys):
    from imdl_sigma.config import SigmaConfig
    from imdl_sigma.model import SigmaNet
    from imdl_sigma.training.checkpoint import save_checkpoint

    config = SigmaConfig.preset("tiny")
    save_checkpoint(tmp_path / "tiny.pt", SigmaNet(config), config)
    assert main(["bench", "speed", "--pairs", str(synth_pairs), "--checkpoint", str(tmp_path / "tiny.pt"),
                 "--limit", "4", "--batch-size", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["pairs_per_s_per_stage"]) == {"decode", "parse", "backbone", "head", "write"}
    assert report["pairs"] == 4 and report["pairs_per_s_end_to_end"] > 0
