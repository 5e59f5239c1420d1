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
from imdl_sigma.data.benco_datasets import write_json_dataset
from imdl_sigma.data.manifest import read_manifest
from imdl_sigma.data.synth import SynthConfig, synthesize

TINY = FinetuneConfig(epochs=1, batch_size=2, image_size=64, num_workers=0, warmup_epochs=0)


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("detector_data")
    manifest = synthesize(folder / "pairs", 4, seed=1, config=SynthConfig(size=64, empty_share=0.0), progress=False)
    write_json_dataset(folder / "dataset.json", [(p.edited, p.mask) for p in read_manifest(manifest)])
    return folder


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


def test_table2_protocol_writes_the_paper_layout(tiny_dataset, tmp_path):
    tests = {"setA": str(tiny_dataset / "pairs"), "setB": str(tiny_dataset / "dataset.json")}
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
