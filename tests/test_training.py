"""Stage I: the loss falls on generated pairs; --resume continues from the saved step."""

import json

import pytest
import torch

import registry  # noqa: F401  (imdl-sigma's models in IMDL-BenCo's MODELS, where training builds them)
from imdl_sigma.config import SigmaConfig
from imdl_sigma.model.checkpoint import load_checkpoint
from imdl_sigma.model.losses import dice_loss, segmentation_loss
from imdl_sigma.training.loop import TrainConfig, cosine_lr
from imdl_sigma.training.stage1 import train_stage1


def read_log(run):
    return [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]


def test_loss_falls_and_resume_continues(synth_pairs, tmp_path):
    config = SigmaConfig.preset("tiny")
    run = tmp_path / "run"
    base = dict(batch_size=4, lr=3e-3, warmup_steps=1, num_workers=0, crop_scale=(1.0, 1.0), save_every_steps=100)
    train_stage1(str(synth_pairs), str(run), config, TrainConfig(max_steps=12, **base), progress=False)
    log = read_log(run)
    assert [r["step"] for r in log] == list(range(1, 13))
    first, last = [r["loss"] for r in log[:3]], [r["loss"] for r in log[-3:]]
    assert sum(last) / 3 < sum(first) / 3
    saved = load_checkpoint(run / "last.pt")
    assert saved["step"] == 12 and saved["config"]["name"] == "tiny" and "optimizer" in saved

    train_stage1(str(synth_pairs), str(run), config, TrainConfig(max_steps=15, **base),
                 resume=str(run / "last.pt"), progress=False)
    assert [r["step"] for r in read_log(run)][12:] == [13, 14, 15]
    assert load_checkpoint(run / "last.pt")["step"] == 15
    assert any((run / "tensorboard").iterdir())


def test_cosine_schedule_with_warmup():
    cfg = TrainConfig(lr=1e-3, min_lr=0.0, warmup_steps=10)
    assert cosine_lr(0, 100, cfg) == 1e-4
    assert abs(cosine_lr(10, 100, cfg) - 1e-3) < 1e-12
    assert cosine_lr(100, 100, cfg) < 1e-9


def test_segmentation_loss_on_hand_made_masks():
    target = torch.zeros(1, 1, 4, 4)
    target[..., :2, :2] = 1
    perfect = (target * 2 - 1) * 20
    bce, dice = segmentation_loss(perfect, target)
    assert bce < 1e-6 and dice < 1e-6
    assert dice_loss(-perfect, target) > 0.9


# ---- Stage II losses on hand-made inputs ----------------------------------------------------

from imdl_sigma.model.losses import (calibration_loss, disentanglement_loss, pseudo_label_loss,  # noqa: E402
                                        pseudo_labels, supervised_contrastive)


def test_calibration_pair_has_an_all_zero_target():
    confident_none = torch.full((2, 1, 4, 4), -12.0)
    assert calibration_loss(confident_none) < 1e-4
    assert calibration_loss(-confident_none) > 10  # predicting an edit on a roundtrip is penalised


def test_pseudo_label_thresholds():
    prob = torch.tensor([0.95, 0.81, 0.8, 0.5, 0.2, 0.19, 0.01]).view(1, 1, 1, 7)
    target, confident = pseudo_labels(prob, high=0.8, low=0.2)
    assert target.flatten().tolist() == [1, 1, 0, 0, 0, 0, 0]
    assert confident.flatten().tolist() == [1, 1, 0, 0, 0, 1, 1]
    # only confident pixels count: changing the student's logits where the teacher is unsure changes nothing
    logits = torch.zeros_like(prob)
    moved = logits.clone()
    moved[..., 2:5] = 7.0
    assert torch.isclose(pseudo_label_loss(logits, prob, 0.8, 0.2), pseudo_label_loss(moved, prob, 0.8, 0.2))
    assert pseudo_label_loss(logits, torch.full_like(prob, 0.5), 0.8, 0.2) == 0


def test_supervised_contrastive_prefers_separated_classes():
    labels = torch.tensor([1, 1, 1, 0, 0, 0])
    separated = torch.tensor([[1.0, 0.0]] * 3 + [[-1.0, 0.0]] * 3)
    mixed = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [1.0, 0.1], [1.0, 0.0], [-1.0, 0.0], [-1.0, 0.1]])
    assert supervised_contrastive(separated, labels, 0.1) < supervised_contrastive(mixed, labels, 0.1)


def test_disentanglement_pulls_edit_and_noise_vectors_apart():
    torch.manual_seed(0)
    edit = (torch.randn(1, 8, 4, 4) * 0.1 + 1.0).requires_grad_()
    noise = (torch.randn(1, 8, 4, 4) * 0.1 + 1.0).requires_grad_()  # starts close to the edit vectors
    support = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    support[..., 1:3, 1:3] = True
    optimizer = torch.optim.SGD([edit, noise], lr=2.0)

    def cosine_between_classes():
        e = torch.nn.functional.normalize(edit.permute(0, 2, 3, 1)[support[:, 0]], dim=1)
        n = torch.nn.functional.normalize(noise.permute(0, 2, 3, 1)[support[:, 0]], dim=1)
        return float((e @ n.T).mean().detach())

    before = cosine_between_classes()
    for _ in range(30):
        loss = disentanglement_loss(edit, noise, support, temperature=0.1, max_vectors=64)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert cosine_between_classes() < before - 0.5
    # outside the support nothing is touched
    assert disentanglement_loss(edit, noise, torch.zeros_like(support), 0.1, 64) == 0


def test_stage2_runs_resumes_and_keeps_a_teacher(synth_pairs, tmp_path, tiny_vae_dir):
    from imdl_sigma.synth.vae import VaeRoundtrip
    from imdl_sigma.training.stage2 import Stage2Config, train_stage2

    config = SigmaConfig.preset("tiny")
    stage1 = tmp_path / "s1"
    base = dict(batch_size=4, lr=3e-3, warmup_steps=1, num_workers=0, save_every_steps=100)
    train_stage1(str(synth_pairs), str(stage1), config, TrainConfig(max_steps=3, **base), progress=False)
    vae = VaeRoundtrip.from_path(str(tiny_vae_dir))
    run = tmp_path / "s2"
    stage2 = Stage2Config(pseudo_high=0.5, pseudo_low=0.4)  # an untrained teacher is rarely confident
    train_stage2(str(synth_pairs), [str(synth_pairs)], str(run), SigmaConfig.preset("tiny"),
                 TrainConfig(max_steps=3, **base), stage2, vae, init=str(stage1 / "last.pt"), progress=False)
    log = read_log(run)
    assert [r["step"] for r in log] == [1, 2, 3]
    for key in ("seg_loss", "cal_loss", "ema_loss", "dis_loss"):
        assert all(torch.isfinite(torch.tensor(r[key])) for r in log), key
    saved = load_checkpoint(run / "last.pt")
    assert saved["stage"] == 2 and "teacher" in saved
    teacher_before = saved["teacher"]
    train_stage2(str(synth_pairs), [str(synth_pairs)], str(run), SigmaConfig.preset("tiny"),
                 TrainConfig(max_steps=5, **base), stage2, vae, resume=str(run / "last.pt"), progress=False)
    assert [r["step"] for r in read_log(run)][3:] == [4, 5]
    teacher_after = load_checkpoint(run / "last.pt")["teacher"]
    moved = [k for k in teacher_before if teacher_before[k].dtype.is_floating_point
             and not torch.equal(teacher_before[k], teacher_after[k])]
    assert moved  # the EMA teacher follows the student


def test_feature_cache_skips_the_backbone_and_matches(synth_pairs, tmp_path):
    from imdl_sigma.model import SigmaNet
    from imdl_sigma.training.feature_cache import FeatureCache

    config = SigmaConfig.preset("tiny")
    torch.manual_seed(0)
    net = SigmaNet(config).eval()
    cache = FeatureCache(tmp_path / "features", net)
    source, edited = torch.randn(2, 3, 56, 56), torch.randn(2, 3, 56, 56)
    first = cache.features(net, ["a", "b"], source, edited)
    assert (cache.hits, cache.misses) == (0, 2)
    calls = []
    net.backbone.register_forward_hook(lambda *a: calls.append(1))
    second = cache.features(net, ["a", "b"], source, edited)
    assert (cache.hits, cache.misses) == (2, 2) and not calls
    for a, b in zip(first[0] + first[1], second[0] + second[1]):
        assert torch.equal(a, b)
    direct = net(source, edited).logits
    cached = net(source, edited, features=second).logits
    assert torch.allclose(direct, cached, atol=1e-2)
    with pytest.raises(Exception, match="frozen backbone"):
        FeatureCache(tmp_path / "f2", SigmaNet(SigmaConfig.preset("tiny").with_overrides({"backbone.freeze": False})))


def test_stage1_with_feature_cache(synth_pairs, tmp_path):
    config = SigmaConfig.preset("tiny")
    base = dict(batch_size=4, lr=3e-3, warmup_steps=1, num_workers=0, save_every_steps=100)
    train_stage1(str(synth_pairs), str(tmp_path / "run"), config, TrainConfig(max_steps=6, **base),
                 cache_features=str(tmp_path / "cache"), progress=False)
    stored = list((tmp_path / "cache").rglob("*.pt"))
    assert len(stored) == 12  # one file per pair of the manifest, written once
