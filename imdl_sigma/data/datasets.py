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

from ..config import AlignConfig, InstructionConfig
from ..photometric.align import align_source
from .images import load_mask
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


class SigmaPairDataset(Dataset):
    """`intent_cache`: an IntentCache (grounding/intent.py) filled before training (`benco
    ground`, or the trainer grounding the pairs it lacks before it builds its loaders): workers
    only read it, and a pair missing from it gets the uniform ε prior. `align`: the source is
    aligned to the edited image before the transform, as at inference (config.align)."""

    def __init__(self, pairs: "list[Pair] | str", image_size: int, train: bool = False,
                 mean: tuple = (0.485, 0.456, 0.406), std: tuple = (0.229, 0.224, 0.225),
                 intent_cache=None, crop_scale: tuple = (0.5, 1.0), epsilon: float = InstructionConfig.epsilon,
                 align: AlignConfig = AlignConfig()) -> None:
        self.pairs = read_manifest(pairs) if isinstance(pairs, str) else list(pairs)
        self.transform = pair_transform(image_size, train, mean, std, crop_scale)
        self.intent_cache = intent_cache
        self.epsilon = epsilon
        self.align = align

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict:
        pair = self.pairs[index]
        source, edited = pair.load_images()
        source = align_source(source, edited, self.align)
        if pair.mask is not None:
            mask = load_mask(pair.mask).astype(np.float32)
            if mask.shape != edited.shape[:2]:
                mask = cv2.resize(mask, (edited.shape[1], edited.shape[0]), interpolation=cv2.INTER_NEAREST)
        else:
            mask = np.zeros(edited.shape[:2], np.float32)
        targets = {"image": edited, "source_image": source, "mask": mask}
        if self.intent_cache is not None:
            targets["intent_map"] = self.intent_at(pair, edited.shape[:2])
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

    def intent_at(self, pair: Pair, size: tuple[int, int]) -> np.ndarray:
        """The pair's cached intent map stretched over the edited image (H, W), so crops and flips
        apply to it; the uniform ε prior when the cache has none."""
        height, width = size
        intent = self.intent_cache.load(pair)
        if intent is None:
            log.warning("pair %s has no cached intent map: using the uniform ε prior", pair.id)
            return np.full((height, width), self.epsilon, np.float32)
        return cv2.resize(intent, (width, height), interpolation=cv2.INTER_LINEAR)
