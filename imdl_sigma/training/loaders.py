"""Loaders shared by every training run on pairs (Stage I, Stage II, the learned baselines): the
datasets' arguments, intent maps prepared before any loader, the loaders and the model's inputs."""

from __future__ import annotations

import logging

from torch.utils.data import DataLoader, DistributedSampler

from ..config import ConfigFile, SigmaConfig
from ..data.datasets import SigmaPairDataset
from ..data.manifest import read_manifest
from ..errors import BadInputError
from .feature_cache import FeatureCache
from .loop import TrainConfig

log = logging.getLogger(__name__)


def dataset_args(sigma_config: SigmaConfig, intent_cache: str | None) -> dict:
    """Arguments of SigmaPairDataset shared by every loader of a run."""
    cache = None
    if intent_cache:
        from ..grounding.intent import IntentCache

        cache = IntentCache(intent_cache)
    backbone = sigma_config.backbone
    return dict(mean=backbone.mean, std=backbone.std, intent_cache=cache, epsilon=sigma_config.instruction.epsilon,
                align=sigma_config.align)


def prepare_intent_maps(sigma_config: SigmaConfig, pairs: list, val_pairs: str | None, data_args: dict,
                        grounder, progress: bool) -> dict:
    """Before any loader is built: with a `grounder`, every training and validation pair missing
    from the intent cache is grounded now, in this process (DataLoader workers only read the
    cache). Returns the share of the training pairs with a grounded map (for run.json and
    checkpoints); the config says `grounding: langsam` only when some pair has one."""
    from ..grounding.intent import intent_coverage

    cache = data_args["intent_cache"]
    if grounder is not None:
        from ..grounding.ground_job import fill_intent_cache

        if cache is None:
            raise BadInputError("grounding while training needs an intent cache (--intent-cache DIR) for its maps")

        scored = read_manifest(val_pairs) if val_pairs else []
        fill_intent_cache(pairs + scored, cache, grounder, epsilon=sigma_config.instruction.epsilon,
                          progress=progress)
    coverage = intent_coverage(pairs, cache)
    sigma_config.grounding = "langsam" if coverage["grounded"] else "none"
    if cache is not None and coverage["grounded"] < coverage["pairs"]:
        log.warning("%d of %d training pairs have no map in the intent cache %s: uniform ε prior for those",
                    coverage["pairs"] - coverage["grounded"], coverage["pairs"], cache.root)
    return coverage


def pair_loader(pairs, model_config: ConfigFile, config: TrainConfig, world: int, augment: bool, data_args: dict):
    dataset = SigmaPairDataset(pairs, model_config.input_size, train=augment, crop_scale=config.crop_scale,
                               **data_args)
    sampler = DistributedSampler(dataset, shuffle=True, seed=config.seed) if world > 1 else None
    loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=sampler is None, sampler=sampler,
                        num_workers=config.num_workers, drop_last=len(dataset) > config.batch_size,
                        persistent_workers=config.num_workers > 0)
    return loader, sampler


def validation_loader(val_pairs: str | None, model_config: ConfigFile, config: TrainConfig, data_args: dict):
    """The pairs scored after every epoch (no augmentation), or None."""
    if not val_pairs:
        return None
    dataset = SigmaPairDataset(val_pairs, model_config.input_size, train=False, **data_args)
    return DataLoader(dataset, batch_size=config.batch_size, num_workers=config.num_workers)


def epoch_batches(loader, sampler):
    def batches(epoch: int):
        if sampler is not None:
            sampler.set_epoch(epoch)
        return loader

    return batches


def model_inputs(batch: dict, device, net=None, feature_cache: FeatureCache | None = None) -> dict:
    """Keyword arguments of a pair model's forward (SIGMA's, a learned baseline's, a plugin's) for a batch,
    on `device` (features from the cache when one is used)."""
    intent = batch.get("intent_map")
    inputs = {"image": batch["image"].to(device), "source_image": batch["source_image"].to(device),
              "intent_map": None if intent is None else intent.to(device)}
    if feature_cache is not None:
        inputs["features"] = feature_cache.features(net, list(batch["name"]), inputs["source_image"], inputs["image"])
    return inputs


def labeled_pairs(manifest: str) -> list:
    pairs = [p for p in read_manifest(manifest) if p.mask is not None]
    if not pairs:
        raise BadInputError(f"{manifest} has no pair with a mask: Stage I needs exact masks")
    return pairs
