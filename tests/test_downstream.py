"""The six Table 2 detectors: built through IMDL-BenCo's registry (random weights, tiny inputs), one
fine-tuning epoch with IMDL-BenCo's own training loop and one evaluation each, on CPU; the Table 2
protocol end to end on a generated dataset."""

import csv
import json

import pytest
import torch

from downstream.detectors import DETECTORS, build_detector
from downstream.finetune import FinetuneConfig, finetune
from downstream.table2 import run_table2
import registry  # noqa: F401  (imdl-sigma's models in IMDL-BenCo's MODELS, where the detectors are built)
from imdl_sigma.data.benco_datasets import write_json_dataset
from imdl_sigma.data.manifest import read_manifest
from imdl_sigma.synth.generator import SynthConfig, synthesize

TINY = FinetuneConfig(epochs=1, batch_size=2, image_size=64, num_workers=0, warmup_epochs=0)


def synth_dataset(folder, seed):
    manifest = synthesize(folder / "pairs", 4, seed=seed, config=SynthConfig(size=64, empty_share=0.0), progress=False)
    write_json_dataset(folder / "dataset.json", [(p.edited, p.mask) for p in read_manifest(manifest)])
    return folder


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    return synth_dataset(tmp_path_factory.mktemp("detector_data"), seed=1)


@pytest.fixture(scope="module")
def tiny_test_set(tmp_path_factory):
    """Pairs of another seed: no image in common with `tiny_dataset`."""
    return synth_dataset(tmp_path_factory.mktemp("detector_test_data"), seed=2)


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_detector_finetunes_one_epoch_and_evaluates(name, tiny_dataset, tmp_path):
    torch.manual_seed(0)
    results = finetune(name, str(tiny_dataset / "dataset.json"), {"synth": str(tiny_dataset / "pairs")},
                       str(tmp_path / name), TINY, tiny=True)
    assert results["registry_name"] == DETECTORS[name].registry_name
    assert len(results["history"]) == 1 and all(torch.isfinite(torch.tensor(v)) for k, v in
                                                results["history"][0].items() if k != "epoch")
    row = results["tests"]["synth"]
    assert row["n"] == 4 and 0.0 <= row["f1"] <= 100.0
    saved = torch.load(tmp_path / name / "checkpoint-last.pth", map_location="cpu", weights_only=False)
    assert saved["epoch"] == 0 and "model" in saved  # IMDL-BenCo's test.py reads {'model': state_dict}


def test_mvss_net_takes_local_resnet_weights(tmp_path):
    """MVSS-Net downloads ImageNet weights at construction upstream; the wrapper reads a file instead."""
    from downstream.mvss import MVSSNetLocal

    random_net = MVSSNetLocal(resnet50_weights="")
    backbone = {k.removeprefix("model."): v for k, v in random_net.state_dict().items() if k.startswith("model.")}
    marked = {k: torch.full_like(v, 0.5) if k == "conv1.weight" else v for k, v in backbone.items()}
    torch.save(marked, tmp_path / "resnet50.pth")
    loaded = MVSSNetLocal(resnet50_weights=str(tmp_path / "resnet50.pth"))
    assert torch.all(loaded.state_dict()["model.conv1.weight"] == 0.5)


def test_table2_protocol_writes_the_paper_layout(tiny_dataset, tiny_test_set, tmp_path):
    tests = {"setA": str(tiny_test_set / "pairs"), "setB": str(tiny_test_set / "dataset.json")}
    run_table2(["mtcl", "pscc_net"], str(tiny_dataset / "dataset.json"), tests, str(tmp_path), TINY, tiny=True)
    table = (tmp_path / "table2.md").read_text().splitlines()
    assert table[0] == "| Detector | Weights | setA F1 | setA IoU | setB F1 | setB IoU | Avg F1 | Avg IoU |"
    assert [line.split("|")[1:3] for line in table[2:6]] == [
        [" mtcl ", " public "], [" mtcl ", " fine-tuned "], [" pscc_net ", " public "], [" pscc_net ", " fine-tuned "]]
    assert any(line.startswith("| **mean** |") for line in table)
    rows = list(csv.DictReader((tmp_path / "table2.csv").open()))
    assert len(rows) == 4 and {"setA_f1", "setB_iou", "avg_f1"} <= set(rows[0])
    gains = json.loads((tmp_path / "table2.json").read_text())["gain_f1"]
    assert set(gains) == {"mtcl", "pscc_net"}


def test_weights_are_required_unless_random(tmp_path):
    from imdl_sigma.errors import BadInputError, MissingWeightsError

    with pytest.raises(MissingWeightsError, match="mae_pretrain_vit_base"):
        build_detector("iml_vit", input_size=64)
    with pytest.raises(BadInputError, match="takes --weights"):
        build_detector("pscc_net", {"vit": "x"}, input_size=64)


def test_bench_detectors_refuses_a_test_set_sharing_training_images(tiny_dataset, tiny_test_set, tmp_path, capsys):
    """Content hash, not file name: one training image re-saved under another name is found."""
    from imdl_sigma.cli import main
    from imdl_sigma.data.images import load_rgb, save_png

    train_images = json.loads((tiny_dataset / "dataset.json").read_text())
    test_entries = json.loads((tiny_test_set / "dataset.json").read_text())
    save_png(tmp_path / "renamed.png", load_rgb(train_images[2][0]))
    test_entries[1][0] = str(tmp_path / "renamed.png")
    (tmp_path / "mixed.json").write_text(json.dumps(test_entries))
    code = main(["bench", "detectors", "--models", "mtcl", "--train", str(tiny_dataset / "dataset.json"),
                 "--tests", f"clean={tiny_test_set / 'pairs'},mixed={tmp_path / 'mixed.json'}", "--out",
                 str(tmp_path / "out"), "--random-init"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "test set 'mixed' shares 1 image(s) with the training set" in err[0] and "renamed.png" in err[0]
    assert not (tmp_path / "out").exists()  # refused before any training


def test_step_zero_trains_with_a_one_epoch_warm_up(tiny_dataset, tmp_path):
    """IMDL-BenCo's warm-up starts at lr 0; ours from `warmup_start` of it, so the one step of a
    one-epoch run with a one-epoch warm-up changes the weights."""
    from downstream.finetune import learning_rate

    config = FinetuneConfig(epochs=1, warmup_epochs=1, batch_size=4, image_size=64, num_workers=0, lr=1e-3)
    assert config.warmup_start > 0 and learning_rate(0.0, 1e-3, config) == pytest.approx(1e-3 * config.warmup_start)
    assert learning_rate(0.5, 1e-3, config) == pytest.approx(1e-3 * (config.warmup_start + 0.99 / 2))
    torch.manual_seed(config.seed)
    initial = build_detector("mtcl", input_size=64, tiny=True).state_dict()
    results = finetune("mtcl", str(tiny_dataset / "dataset.json"), {}, str(tmp_path), config, tiny=True)
    assert results["steps"] == 1 and results["history"][0]["lr"] == pytest.approx(1e-3 * config.warmup_start)
    trained = torch.load(tmp_path / "checkpoint-last.pth", map_location="cpu", weights_only=False)["model"]
    weights = [k for k, v in initial.items() if v.is_floating_point() and "running" not in k]
    assert sum(not torch.equal(initial[k], trained[k]) for k in weights) > 0.9 * len(weights)


class ConstantOr(torch.nn.Module):
    """Predicts `value` everywhere, or (value None) the true mask: the two cases `evaluate` tells apart."""

    def __init__(self, value: float | None) -> None:
        super().__init__()
        self.value = value

    def forward(self, image, mask, **kwargs):
        return {"pred_mask": mask.float() if self.value is None else torch.full_like(mask, self.value)}


def test_constant_predictions_are_flagged(tiny_test_set):
    from downstream.detectors import detector_spec
    from downstream.finetune import benco_dataset, constant_warnings, evaluate

    dataset = benco_dataset(tiny_test_set / "dataset.json", False, TINY, detector_spec("pscc_net"))
    loader = torch.utils.data.DataLoader(dataset, batch_size=2)
    nothing, perfect = evaluate(ConstantOr(0.47), loader, "cpu"), evaluate(ConstantOr(None), loader, "cpu")
    assert nothing["constant_prediction"] and nothing["prob_range"] == pytest.approx([0.47, 0.47])
    assert not perfect["constant_prediction"] and perfect["f1"] == pytest.approx(100.0)
    warnings = constant_warnings("pscc_net", {"held_out": nothing, "other": perfect})
    assert len(warnings) == 1 and warnings[0].startswith("pscc_net predicts nothing on every image of held_out")


def test_precise_bn_replaces_lagging_running_statistics():
    """After recalibration a BatchNorm's running mean is the average of its training batches' means
    (momentum 0.01 had left it near its initial 0), and its momentum is restored."""
    from downstream.finetune import recalibrate_batchnorm

    class Normed(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm = torch.nn.BatchNorm2d(3, momentum=0.01)

        def forward(self, image, **kwargs):
            return {"pred_mask": self.norm(image)}

    batches = [{"image": torch.randn(2, 3, 4, 4) + shift} for shift in (4.0, 6.0, 8.0)]
    model = Normed()
    model(**batches[0])  # one training step's worth of running-average update
    assert model.norm.running_mean.abs().max() < 0.1
    recalibrate_batchnorm(model, batches, "cpu", batches=2)
    expected = torch.stack([b["image"].mean(dim=(0, 2, 3)) for b in batches[:2]]).mean(0)
    assert torch.allclose(model.norm.running_mean, expected, atol=1e-5)
    assert model.norm.momentum == 0.01
