"""DDPM-CD and Meta-CD: shapes and invariants of the networks, the DDPM pretraining → change head
hand-over, training through `benco train`, and scoring through `benco bench masks`."""

import json

import pytest
import torch

from imdl_sigma.baselines.ddpm_cd import DDPMCD, DDPMCDConfig, DDPMCDNet, NoiseSchedule
from imdl_sigma.baselines.meta_cd import BinarizeStraightThrough, MetaCDConfig, MetaCDNet
from imdl_sigma.cli import main
from imdl_sigma.errors import BadInputError
from imdl_sigma.model.checkpoint import load_checkpoint


def pair(side: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    source = torch.rand(2, 3, side, side, generator=generator) * 2 - 1
    edited = source.clone()
    edited[:, :, side // 4: side // 2, side // 4: side // 2] = 0.7
    return source, edited


def test_ddpm_cd_identical_images_give_content_independent_logits():
    torch.manual_seed(0)
    net = DDPMCDNet(DDPMCDConfig.resolve("ddpm_cd_tiny")).eval()
    source, edited = pair(32)
    with torch.no_grad():
        changed = net(source, edited)
        same_a = net(source, source)
        same_b = net(edited, edited)
    assert changed.shape == (2, 1, 32, 32)
    # |f_source − f_edited| = 0 everywhere: the head sees the same (zero) input whatever the content.
    assert torch.allclose(same_a, same_b, atol=1e-6)
    assert not torch.allclose(changed, same_a, atol=1e-4)


def test_ddpm_noise_schedule_is_srs_linear_one():
    schedule = NoiseSchedule(2000, 1e-6, 1e-2)
    alpha_bar = schedule.alpha_bar
    assert alpha_bar[0] == pytest.approx(1 - 1e-6) and torch.all(alpha_bar[1:] < alpha_bar[:-1])
    x, noise = torch.ones(1, 3, 2, 2), torch.zeros(1, 3, 2, 2)
    t = torch.tensor([400])
    assert torch.allclose(schedule.noised(x, t, noise), alpha_bar[400].sqrt() * x)


def test_ddpm_cd_freezes_the_unet_and_needs_its_weights():
    with pytest.raises(BadInputError, match="ddpm-unet"):
        DDPMCD(DDPMCDConfig.resolve("ddpm_cd_tiny"))
    config = DDPMCDConfig.resolve("ddpm_cd_tiny")
    config.freeze_unet = False
    model = DDPMCD(config)
    assert all(p.requires_grad for p in model.net.unet.parameters())


def test_meta_cd_threshold_map_and_binarisation():
    torch.manual_seed(0)
    config = MetaCDConfig.resolve("meta_cd_tiny")
    net = MetaCDNet(config).eval()
    source, edited = pair(64)
    with torch.no_grad():
        logits = net(source, edited)
        threshold = net.threshold_map(logits)
        decision = net.decision_map(logits)
    low, high = config.threshold_sigmoid[1], config.threshold_sigmoid[1] + 1 / config.threshold_sigmoid[0]
    assert logits.shape == threshold.shape == decision.shape == (2, 1, 64, 64)
    assert threshold.min() > low - 1e-6 and threshold.max() < high + 1e-6
    # The decision map crosses 0.5 exactly where the probability crosses the learnt threshold.
    assert torch.equal(decision > 0.5, torch.sigmoid(logits) > threshold.clamp(1e-4, 1 - 1e-4))

    prob = torch.tensor([0.2, 0.6], requires_grad=True)
    cut = torch.tensor([0.5, 0.5], requires_grad=True)
    binary = BinarizeStraightThrough.apply(prob, cut, 0.2)
    binary.sum().backward()
    assert binary.tolist() == [0.0, 1.0]
    assert prob.grad.tolist() == pytest.approx([0.2, 0.2]) and cut.grad.tolist() == [-1.0, -1.0]


def test_meta_cd_gate_starts_half_and_half():
    net = MetaCDNet(MetaCDConfig.resolve("meta_cd_tiny"))
    assert torch.sigmoid(net.encoder.gate_logit).item() == 0.5
    assert all(p.requires_grad for p in net.encoder.foundation.parameters())  # no weights given: trained


def log_steps(run):
    return [json.loads(line)["step"] for line in (run / "train_log.jsonl").read_text().splitlines()]


def test_baselines_train_and_score_through_the_cli(synth_pairs, tmp_path):
    common = ["--pairs", str(synth_pairs), "--batch-size", "4", "--num-workers", "0", "--lr", "1e-3",
              "--warmup-steps", "1"]
    # DDPM-CD: pretrain the DDPM on the pairs' images, then the change head on the frozen UNet.
    unet_run, cd_run, meta_run = tmp_path / "unet", tmp_path / "ddpm_cd", tmp_path / "meta_cd"
    assert main(["train", "--model", "ddpm-unet", "--config", "ddpm_cd_tiny", "--out", str(unet_run),
                 "--max-steps", "2", *common]) == 0
    unet_ckpt = load_checkpoint(unet_run / "last.pt")
    assert unet_ckpt["architecture"] == "DDPMUNet" and log_steps(unet_run) == [1, 2]
    assert main(["train", "--model", "ddpm-cd", "--config", "ddpm_cd_tiny", "--out", str(cd_run),
                 "--backbone-weights", str(unet_run / "last.pt"), "--max-steps", "3", *common]) == 0
    cd_ckpt = load_checkpoint(cd_run / "last.pt")
    assert cd_ckpt["architecture"] == "DDPMCD"
    for key, value in unet_ckpt["model"].items():  # the frozen UNet is the pretrained one, unchanged
        assert torch.equal(cd_ckpt["model"][f"features.{key}"], value)
    assert main(["train", "--model", "meta-cd", "--config", "meta_cd_tiny", "--out", str(meta_run),
                 "--max-steps", "2", *common]) == 0
    assert main(["train", "--model", "meta-cd", "--config", "meta_cd_tiny", "--out", str(meta_run),
                 "--max-steps", "3", "--resume", str(meta_run / "last.pt"), *common]) == 0
    assert log_steps(meta_run) == [1, 2, 3]

    out = tmp_path / "bench"
    assert main(["bench", "masks", "--pairs", str(synth_pairs), "--methods", "pixdiff-otsu,ddpm-cd,meta-cd",
                 "--ddpm-cd-checkpoint", str(cd_run / "last.pt"), "--meta-cd-checkpoint", str(meta_run / "last.pt"),
                 "--out", str(out), "--save-masks"]) == 0
    scores = json.loads((out / "masks.json").read_text())
    assert set(scores) == {"pixdiff-otsu", "ddpm-cd", "meta-cd"}
    assert all(0 <= scores[m]["f1"] <= 100 and scores[m]["n"] == 12 for m in scores)
    assert "| DDPM-CD |" in (out / "masks.md").read_text() and len(list((out / "meta-cd").glob("*.png"))) == 12


def test_bench_names_a_missing_or_mismatched_baseline_checkpoint(synth_pairs, tmp_path, capsys):
    assert main(["bench", "masks", "--pairs", str(synth_pairs), "--methods", "ddpm-cd", "--out", str(tmp_path)]) == 2
    assert "--ddpm-cd-checkpoint" in capsys.readouterr().err
    from imdl_sigma.model.checkpoint import BUNDLED

    assert main(["bench", "masks", "--pairs", str(synth_pairs), "--methods", "meta-cd", "--meta-cd-checkpoint",
                 str(BUNDLED), "--out", str(tmp_path)]) == 2
    assert "holds a SIGMA model" in capsys.readouterr().err
