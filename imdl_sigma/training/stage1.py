"""Stage I: supervised training on pairs with exact masks (L_seg = BCE + Dice).

The model (SIGMA by its name in IMDL-BenCo's MODELS, built as its train.py does) is trained through its forward
contract (`backward_loss`, `pred_mask`, `visual_loss`); the loop is `loop.TrainRun` (why it is
not IMDL-BenCo's `train_one_epoch` is said there).
"""

from __future__ import annotations

from pathlib import Path

from ..config import SigmaConfig
from .feature_cache import FeatureCache, require_frozen_backbone
from .loaders import dataset_args, epoch_batches, labeled_pairs, model_inputs, pair_loader, prepare_intent_maps, \
    validation_loader
from .loop import StepResult, TrainConfig, TrainRun

__all__ = ["TrainConfig", "train_stage1"]


def train_stage1(train_pairs: str, out_dir: str, sigma_config: SigmaConfig, config: TrainConfig,
                 val_pairs: str | None = None, resume: str | None = None, intent_cache: str | None = None,
                 grounder=None, cache_features: str | None = None, init: str | None = None,
                 progress: bool = True, architecture: str = "SIGMA") -> Path:
    """`intent_cache`: a `benco ground` folder (pairs missing from it are grounded before
    training when `grounder` is given); without one the intent map is the ε prior and the checkpoint
    says `grounding: none`; checkpoints record the share of pairs with a grounded map
    (`intent_maps`). `cache_features`: a folder for the frozen backbone's features. `architecture`:
    the model's name in IMDL-BenCo's MODELS (SIGMA, or a registered subclass of it)."""
    if cache_features:
        require_frozen_backbone(sigma_config)  # before reading the pairs: a wrong config fails first
    data_args = dataset_args(sigma_config, intent_cache)
    pairs = labeled_pairs(train_pairs)
    coverage = prepare_intent_maps(sigma_config, pairs, val_pairs, data_args, grounder, progress)
    run = TrainRun(out_dir, sigma_config, config, stage=1, progress=progress, architecture=architecture,
                   meta={"train_pairs": train_pairs, "cache_features": cache_features, "intent_maps": coverage})
    run.extra_state["intent_maps"] = lambda: coverage
    feature_cache = FeatureCache(cache_features, run.model.net) if cache_features else None
    loader, sampler = pair_loader(pairs, sigma_config, config, run.world,
                                  augment=feature_cache is None, data_args=data_args)
    val_loader = validation_loader(val_pairs, sigma_config, config, data_args)
    if init:
        run.load_weights(init)
    if resume:
        run.resume(resume)

    def step(batch: dict) -> StepResult:
        mask = batch["mask"].to(run.device)
        result = run.net(mask=mask, **model_inputs(batch, run.device, run.model.net, feature_cache))
        return StepResult(result["backward_loss"], result["visual_loss"], result["pred_mask"], batch["mask"])

    return run.run(epoch_batches(loader, sampler), len(loader), step, val_loader=val_loader)
