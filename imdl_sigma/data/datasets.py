"""Paired dataset for SIGMA: source, edited, mask, instruction and cached intent map.

One albumentations transform is applied to the edited image, the source image and the mask
together, so flips and crops stay synchronised. Images are ImageNet-normalised like
IMDL-BenCo's own datasets, and the keys follow its contract (`image` = edited image).
"""

from __future__ import annotations

import logging

import albumentations as A
import cv2
import numpy as np
import torch
from albumentations.pytorch import ToTensorV2
from torch.utils.data import Dataset

from .images import load_mask, load_rgb
from .manifest import Pair, read_manifest

log = logging.getLogger(__name__)


def pair_transform(image_size: int, train: bool, mean: tuple, std: tuple,
                   crop_scale: tuple = (0.5, 1.0)) -> A.Compose:
    geometric = (
        [A.HorizontalFlip(p=0.5),
         A.RandomResizedCrop(image_size, image_size, scale=crop_scale, ratio=(0.75, 1.333))]
        if train else [A.Resize(image_size, image_size)]
    )
    return A.Compose(
        geometric + [A.Normalize(mean=mean, std=std), ToTensorV2(transpose_mask=True)],
        additional_targets={"source_image": "image", "intent_map": "mask"},
    )


def match_size(source: np.ndarray, edited: np.ndarray, pair_id: str) -> np.ndarray:
    """Spec §1: a source of another size is resized (bilinear) to the edited image's size."""
    if source.shape[:2] == edited.shape[:2]:
        return source
    log.info("pair %s: source %s resized to edited %s", pair_id, source.shape[:2], edited.shape[:2])
    return cv2.resize(source, (edited.shape[1], edited.shape[0]), interpolation=cv2.INTER_LINEAR)


class SigmaPairDataset(Dataset):
    def __init__(self, pairs: "list[Pair] | str", image_size: int, train: bool = False,
                 mean: tuple = (0.485, 0.456, 0.406), std: tuple = (0.229, 0.224, 0.225),
                 intent_cache=None, crop_scale: tuple = (0.5, 1.0), epsilon: float = 0.01,
                 grounder=None, parser: str = "rules") -> None:
        self.pairs = read_manifest(pairs) if isinstance(pairs, str) else list(pairs)
        self.transform = pair_transform(image_size, train, mean, std, crop_scale)
        # An IntentCache. A pair missing from it is grounded on the fly when a grounder is
        # given (and the result cached), else it gets the uniform ε prior.
        self.intent_cache = intent_cache
        self.grounder, self.parser = grounder, parser
        self.epsilon = epsilon

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict:
        pair = self.pairs[index]
        edited = load_rgb(pair.edited, "edited image")
        source = match_size(load_rgb(pair.source, "source image"), edited, pair.id)
        if pair.mask is not None:
            mask = load_mask(pair.mask).astype(np.float32)
            if mask.shape != edited.shape[:2]:
                mask = cv2.resize(mask, (edited.shape[1], edited.shape[0]), interpolation=cv2.INTER_NEAREST)
        else:
            mask = np.zeros(edited.shape[:2], np.float32)
        targets = {"image": edited, "source_image": source, "mask": mask}
        if self.intent_cache is not None:
            targets["intent_map"] = self.intent_at(pair, source, edited)
        out = self.transform(**targets)
        sample = {
            "image": out["image"],
            "source_image": out["source_image"],
            "mask": out["mask"].reshape(1, *out["mask"].shape[-2:]).float(),
            "label": int(pair.mask is not None and mask.any()),
            "has_mask": int(pair.mask is not None),
            "name": pair.id,
        }
        if self.intent_cache is not None:
            sample["intent_map"] = torch.as_tensor(out["intent_map"]).float().reshape(1, *out["intent_map"].shape[-2:])
        return sample

    def intent_at(self, pair: Pair, source: np.ndarray, edited: np.ndarray) -> np.ndarray:
        """The pair's intent map stretched over the edited image, so crops and flips apply to it."""
        height, width = edited.shape[:2]
        intent = self.intent_cache.load(pair)
        if intent is None and self.grounder is not None:
            from ..grounding.acsf import with_corpus_actions
            from ..grounding.cache import parse_many
            from ..grounding.intent import intent_maps

            parsed = with_corpus_actions(parse_many([pair.instruction], self.parser), [pair])
            intent = intent_maps(self.grounder, parsed, [source], [edited], self.epsilon)[0]
            self.intent_cache.save(pair, intent)
        if intent is None:
            log.warning("pair %s has no cached intent map and no grounder: using the uniform ε prior", pair.id)
            return np.full((height, width), self.epsilon, np.float32)
        return cv2.resize(intent, (width, height), interpolation=cv2.INTER_LINEAR)
