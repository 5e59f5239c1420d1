"""Stage I: supervised training on pairs with exact masks (L_seg = BCE + Dice, paper Sec. 3.3), of
SIGMA or of another registered pair model: the learned baselines of Table 1 (trained on the same
Stage I pairs, paper Sec. 4.1) or a plugin's model.

The model is built by its name in IMDL-BenCo's MODELS, as IMDL-BenCo's train.py builds one, and
trained through its forward contract (`backward_loss`, `pred_mask`, `visual_loss`); the loop is
`loop.TrainRun` (why it is not IMDL-BenCo's `train_one_epoch` is said there). A pair model other
than SIGMA has TrainRun's contract, a forward that takes `image`, `source_image`, `mask` and
`intent_map` (None) as keywords, and a `config_class`: a ConfigFile dataclass with
`resolve(preset_or_json_path)` and the fields `input_size`, `mean`, `std` and `mask_threshold`;
subclassing `imdl_sigma.baselines.change_model.ChangeModel` gives all of it.
"""

from __future__ import annotations

from pathlib import Path

from ..config import ConfigFile, SigmaConfig
from ..errors import BadInputError
from ..model.registered import registered_model
from .feature_cache import FeatureCache, require_frozen_backbone
from .loaders import dataset_args, epoch_batches, labeled_pairs, model_inputs, pair_loader, prepare_intent_maps, \
    validation_loader
from .loop import StepResult, TrainConfig, TrainRun

__all__ = ["TrainConfig", "pair_model_config", "train_pair_model", "train_stage1"]


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
    return train_on_masks(run, pairs, data_args, val_pairs, init, resume, feature_cache)


def pair_model_config(architecture: str, preset: str, overrides: dict, weights: str | None) -> ConfigFile:
    """A pair model's preset or config JSON (`preset`; "" its default), with `--set` overrides and
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
    """A registered pair model other than SIGMA; `val_pairs` are scored after every epoch (a model
    that predicts masks only)."""
    run = TrainRun(out_dir, model_config, config, stage=1, meta={"train_pairs": train_pairs}, progress=progress,
                   architecture=architecture)
    data_args = dict(mean=model_config.mean, std=model_config.std)
    return train_on_masks(run, labeled_pairs(train_pairs), data_args, val_pairs, init, resume)


def train_on_masks(run: TrainRun, pairs: list, data_args: dict, val_pairs: str | None, init: str | None,
                   resume: str | None, feature_cache: FeatureCache | None = None) -> Path:
    """The loaders, the starting weights (`init`: weights only; `resume`: optimizer and step too), then
    the loop, each step L_seg against the pairs' masks (augmented unless features come from a cache)."""
    loader, sampler = pair_loader(pairs, run.model_config, run.config, run.world, augment=feature_cache is None,
                                  data_args=data_args)
    val_loader = validation_loader(val_pairs, run.model_config, run.config, data_args)
    if init:
        run.load_weights(init)
    if resume:
        run.resume(resume)

    def step(batch: dict) -> StepResult:
        mask = batch["mask"].to(run.device)
        result = run.net(mask=mask, **model_inputs(batch, run.device, run.model.net, feature_cache))
        return StepResult(result["backward_loss"], result["visual_loss"], result["pred_mask"], batch["mask"])

    return run.run(epoch_batches(loader, sampler), len(loader), step, val_loader=val_loader)
