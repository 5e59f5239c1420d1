"""Stage I: the loss falls on generated pairs; --resume continues from the saved step."""

import json

import torch

from imdl_sigma.config import SigmaConfig
from imdl_sigma.training.checkpoint import load_checkpoint
from imdl_sigma.training.losses import dice_loss, segmentation_loss
from imdl_sigma.training.stage1 import TrainConfig, cosine_lr, train_stage1


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
