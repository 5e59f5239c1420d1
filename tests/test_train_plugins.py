"""`benco train` builds its model by name from IMDL-BenCo's MODELS: a model that a user's plugin
registers trains like the bundled ones (`--plugin MODULE`, or an entry point of `benco.plugins`)."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from imdl_sigma.cli import main
from imdl_sigma.cli.plugins import PLUGIN_GROUP, load_plugins
from imdl_sigma.model.checkpoint import load_checkpoint

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent


def test_a_plugin_model_trains_two_steps_through_benco_train(synth_pairs, tmp_path):
    run = tmp_path / "run"
    # A process of its own: nothing but `benco train` itself imports the plugin or `registry`.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(REPO)])}
    result = subprocess.run([sys.executable, "-m", "imdl_sigma", "train", "--plugin", "tiny_pair_plugin",
                             "--model", "TinyPairModel", "--pairs", str(synth_pairs), "--val-pairs", str(synth_pairs),
                             "--out", str(run), "--max-steps", "2", "--batch-size", "4", "--num-workers", "0",
                             "--warmup-steps", "1", "--lr", "1e-2"],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    checkpoint = load_checkpoint(run / "last.pt", architecture="TinyPairModel")
    assert checkpoint["step"] == 2 and checkpoint["config"]["name"] == "tiny_pair"
    assert set(checkpoint["model"]) == {"layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"}
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [1, 2]
    assert all(math.isfinite(entry["loss"]) and entry["loss"] > 0 for entry in log)
    assert json.loads((run / "run.json").read_text())["architecture"] == "TinyPairModel"


def write_entry_point_plugin(folder: Path, model_name: str) -> None:
    """An installed package as importlib.metadata finds it: a dist-info folder declaring a module of
    PLUGIN_GROUP, and that module, which registers the tiny model again under `model_name`."""
    (folder / "entry_plugin.py").write_text(
        "from IMDLBenCo.registry import MODELS\n"
        "from tiny_pair_plugin import TinyPairModel\n"
        f"MODELS.register_module(name={model_name!r}, module=TinyPairModel)\n")
    dist_info = folder / "entry_plugin-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: entry-plugin\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(f"[{PLUGIN_GROUP}]\ntiny = entry_plugin\n")


def test_an_installed_plugin_is_loaded_from_its_entry_point(tmp_path, monkeypatch):
    from IMDLBenCo.registry import MODELS

    name = f"EntryPointPair{os.getpid()}"
    write_entry_point_plugin(tmp_path, name)
    monkeypatch.syspath_prepend(str(TESTS))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert not MODELS.has(name)
    load_plugins()
    assert MODELS.has(name) and MODELS.has("SIGMA") and MODELS.has("MetaCD")  # registry/ came first


@pytest.mark.parametrize("argv, message", [
    (["--plugin", "no_such_plugin_module"], "--plugin no_such_plugin_module cannot be imported"),
    (["--model", "NoSuchModel"], "no model 'NoSuchModel' in IMDL-BenCo's MODELS"),
    (["--model", "Cat_Net"], "'Cat_Net' in IMDL-BenCo's MODELS has no config_class"),
])
def test_a_model_train_cannot_build_is_one_line_of_bad_input(argv, message, synth_pairs, tmp_path, capsys):
    assert main(["train", "--pairs", str(synth_pairs), "--out", str(tmp_path / "run"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_the_bundled_names_resolve_to_their_registered_models():
    from imdl_sigma.cli.train import architecture_of

    assert [architecture_of(name) for name in ("sigma", "SIGMA", "ddpm-unet", "DDPM-CD", "meta-cd", "Mine")] == \
        ["SIGMA", "SIGMA", "DDPMUNet", "DDPMCD", "MetaCD", "Mine"]
