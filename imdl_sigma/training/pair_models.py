"""Stage I training of a registered pair model other than SIGMA: the learned baselines of Table 1
(DDPM-CD, its DDPM pretraining, Meta-CD) or a plugin's model, on the same Stage I pairs, loader,
loss and loop (loop.TrainRun) as SIGMA.

A pair model is registered in IMDL-BenCo's MODELS and has SIGMA's training contract (see
loop.TrainRun) plus a `config_class`: a ConfigFile dataclass with `resolve(preset_or_json_path)`
and the fields `input_size`, `mean`, `std` and `mask_threshold`. Its `forward(image, mask,
source_image=...)` returns IMDL-BenCo's output dict (`backward_loss`, `visual_loss`, `pred_mask`).
Subclassing `imdl_sigma.baselines.change_model.ChangeModel` gives all of it.
"""

from __future__ import annotations

from pathlib import Path

from ..config import ConfigFile
from ..errors import BadInputError
from ..model.registered import registered_model
from .loaders import epoch_batches, labeled_pairs, pair_loader, validation_loader
from .loop import StepResult, TrainConfig, TrainRun


def pair_model_config(architecture: str, preset: str, overrides: dict, weights: str | None) -> ConfigFile:
    """The model's preset or config JSON (`preset`; "" its default), with `--set` overrides and
    `--backbone-weights`."""
    config_class = getattr(registered_model(architecture), "config_class", None)
    if config_class is None:
        raise BadInputError(f"'{architecture}' in IMDL-BenCo's MODELS has no config_class: not a pair model that "
                            "`benco train` can build (detectors are trained with `benco finetune`)")
    config = config_class.resolve(preset).with_overrides(overrides)
    if weights:
        config.use_backbone_weights(weights)
    return config


def train_pair_model(architecture: str, train_pairs: str, out_dir: str, model_config: ConfigFile,
                     config: TrainConfig, val_pairs: str | None = None, resume: str | None = None,
                     init: str | None = None, progress: bool = True) -> Path:
    """`val_pairs` are scored after every epoch (a model that predicts masks only)."""
    run = TrainRun(out_dir, model_config, config, stage=1, meta={"train_pairs": train_pairs}, progress=progress,
                   architecture=architecture)
    data_args = dict(mean=model_config.mean, std=model_config.std)
    loader, sampler = pair_loader(labeled_pairs(train_pairs), model_config, config, run.world, augment=True,
                                  data_args=data_args)
    val_loader = validation_loader(val_pairs, model_config, config, data_args)
    if init:
        run.load_weights(init)
    if resume:
        run.resume(resume)

    def step(batch: dict) -> StepResult:
        result = run.net(image=batch["image"].to(run.device), source_image=batch["source_image"].to(run.device),
                         mask=batch["mask"].to(run.device))
        return StepResult(result["backward_loss"], result["visual_loss"], result["pred_mask"], batch["mask"])

    return run.run(epoch_batches(loader, sampler), len(loader), step, val_loader=val_loader)
