"""The one strict weights loader: `--init`, `--resume` and inference refuse weights that cannot
apply; modules a config switch adds (pixel evidence) may start fresh from `--init`, logged."""

import logging

import pytest
import torch

import registry  # noqa: F401  (imdl-sigma's models in IMDL-BenCo's MODELS, where training builds them)
from imdl_sigma.config import SigmaConfig
from imdl_sigma.errors import BadInputError
from imdl_sigma.model import SigmaNet
from imdl_sigma.model.checkpoint import build_from_checkpoint, load_checkpoint, save_checkpoint
from imdl_sigma.training.loop import TrainConfig, TrainRun


def tiny(evidence: bool) -> SigmaConfig:
    config = SigmaConfig.preset("tiny")
    config.pixel_evidence.enabled = evidence
    return config


def saved(path, config: SigmaConfig) -> str:
    torch.manual_seed(0)
    save_checkpoint(path, SigmaNet(config), config, architecture="SIGMA")
    return str(path)


def run_in(folder, config: SigmaConfig) -> TrainRun:
    return TrainRun(folder, config, TrainConfig(bf16=False), stage=1, meta={}, progress=False)


def test_init_without_pixel_evidence_into_a_config_with_it_is_allowed_and_logged(tmp_path, caplog):
    checkpoint = saved(tmp_path / "plain.pt", tiny(evidence=False))
    run = run_in(tmp_path / "run", tiny(evidence=True))
    fresh = {k: v.clone() for k, v in run.model.net.state_dict().items() if k.startswith("pixel_evidence.")}
    with caplog.at_level(logging.INFO, logger="imdl_sigma.model.checkpoint"):
        run.load_weights(checkpoint)
    assert "pixel_evidence" in caplog.text and "decoder.refinement" in caplog.text
    loaded = run.model.net.state_dict()
    for key, value in load_checkpoint(checkpoint)["model"].items():
        assert torch.equal(loaded[key], value)  # every key the checkpoint has was applied
    assert all(torch.equal(loaded[k], v) for k, v in fresh.items())  # the added module kept its initialisation


def test_weights_that_cannot_apply_are_refused(tmp_path):
    with_evidence = saved(tmp_path / "evidence.pt", tiny(evidence=True))
    # The reverse switch is no allowance: the checkpoint's pixel-evidence weights have no place.
    with pytest.raises(BadInputError, match="unexpected"):
        run_in(tmp_path / "run", tiny(evidence=False)).load_weights(with_evidence)
    wider = tiny(evidence=False).with_overrides({"difference.dim": 32})
    with pytest.raises(BadInputError, match="cannot apply"):
        run_in(tmp_path / "run2", tiny(evidence=False)).load_weights(saved(tmp_path / "wider.pt", wider))


def test_resume_and_inference_are_strict(tmp_path):
    config = tiny(evidence=True)
    path = tmp_path / "cut.pt"
    torch.manual_seed(0)
    net = SigmaNet(config)
    save_checkpoint(path, net, config, architecture="SIGMA", optimizer={}, step=0, epoch=0)
    payload = load_checkpoint(path)
    payload["model"] = {k: v for k, v in payload["model"].items() if not k.startswith("decoder.head.")}
    torch.save(payload, path)
    with pytest.raises(BadInputError, match="decoder.head"):
        build_from_checkpoint(path)
    with pytest.raises(BadInputError, match="decoder.head"):
        run_in(tmp_path / "run", config).resume(path)


def test_backbone_weights_override_is_one_function():
    config = SigmaConfig.preset("base_random")
    assert config.external_weights() == ()
    config.use_backbone_weights("/weights/dinov2-base")
    assert config.backbone.name_or_path == "/weights/dinov2-base" and config.backbone.pretrained
    assert config.external_weights() == ("backbone.",)  # frozen pretrained: not stored, reloaded
