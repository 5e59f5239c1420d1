"""`benco train --model ddpm-unet|ddpm-cd|meta-cd`: the learned baselines trained on the same
Stage I pairs, loader, loss and loop as SIGMA (training.loop.TrainRun)."""

from __future__ import annotations

from pathlib import Path

from ..config import ConfigFile
from ..training.loop import StepResult, TrainConfig, TrainRun
from ..training.loaders import epoch_batches, labeled_pairs, pair_loader, validation_loader
from . import LEARNED_BASELINES


def resolve_baseline_config(name: str, preset: str, overrides: dict, weights: str | None) -> ConfigFile:
    """The baseline's preset (or config JSON) with `--set` overrides and `--backbone-weights`."""
    spec = LEARNED_BASELINES[name]
    config = spec.model_class.config_class.resolve(preset).with_overrides(overrides)
    if weights:
        config.use_backbone_weights(weights)
    return config


def train_baseline(name: str, train_pairs: str, out_dir: str, model_config: ConfigFile, config: TrainConfig,
                   val_pairs: str | None = None, resume: str | None = None, init: str | None = None,
                   progress: bool = True) -> Path:
    spec = LEARNED_BASELINES[name]
    run = TrainRun(out_dir, model_config, config, stage=1, meta={"train_pairs": train_pairs, "baseline": name},
                   progress=progress, model_class=spec.model_class)
    data_args = dict(mean=model_config.mean, std=model_config.std)
    loader, sampler = pair_loader(labeled_pairs(train_pairs), model_config, config, run.world, augment=True,
                                  data_args=data_args)
    val_loader = validation_loader(val_pairs, model_config, config, data_args) if spec.scored else None
    if init:
        run.load_weights(init)
    if resume:
        run.resume(resume)

    def step(batch: dict) -> StepResult:
        result = run.net(image=batch["image"].to(run.device), source_image=batch["source_image"].to(run.device),
                         mask=batch["mask"].to(run.device))
        return StepResult(result["backward_loss"], result["visual_loss"], result["pred_mask"], batch["mask"])

    return run.run(epoch_batches(loader, sampler), len(loader), step, val_loader=val_loader)
