"""Pixel-differencing baselines (paper Sec. 4.1, Table 1): PixDiff-Fixed(τ), -Fixed-morph, -Otsu."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from ..data.images import load_pair_batch
from ..errors import BadInputError

DEFAULT_TAUS = (0.02, 0.05, 0.10, 0.15, 0.20)
MORPH_KERNEL = 5


def difference_map(source: np.ndarray, edited: np.ndarray) -> np.ndarray:
    """Per-pixel mean over RGB of |x_s − x_e|, in [0, 1]. (H, W) float32."""
    if source.shape != edited.shape:
        raise ValueError(f"source {source.shape} and edited {edited.shape} differ in shape")
    return np.abs(source.astype(np.float32) - edited.astype(np.float32)).mean(axis=2) / 255.0


def fixed(diff: np.ndarray, tau: float) -> np.ndarray:
    return diff > tau


def morph(mask: np.ndarray, kernel: int = MORPH_KERNEL) -> np.ndarray:
    """Opening then closing with a kernel × kernel square."""
    element = np.ones((kernel, kernel), np.uint8)
    opened = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, element)
    return cv2.morphologyEx(opened, cv2.MORPH_CLOSE, element).astype(bool)


def otsu(diff: np.ndarray) -> np.ndarray:
    """Otsu's threshold on the difference map (quantised to 8 bits)."""
    quantised = np.clip(diff * 255 + 0.5, 0, 255).astype(np.uint8)
    if quantised.min() == quantised.max():
        return np.zeros(diff.shape, bool)
    _, binary = cv2.threshold(quantised, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return binary.astype(bool)


@dataclass
class PixDiffConfig:
    mask_threshold: float = 0.10  # τ of PixDiff-Fixed(τ): a pixel is edited where d > τ


class PixDiff:
    """PixDiff as a Predictor (inference.predictor): its map is the difference map d, and
    PixDiff-Fixed(τ) is d > `config.mask_threshold`; -morph and -Otsu post-process the same d."""

    device = "cpu"  # computed on the host, with NumPy

    def __init__(self, config: PixDiffConfig | None = None, name: str = "pixdiff") -> None:
        self.config, self.name = config or PixDiffConfig(), name

    @classmethod
    def from_checkpoint(cls, path: str | Path | None = None, device: str = "cpu", tau: float | None = None,
                        name: str = "pixdiff") -> "PixDiff":
        """Training-free: there is no checkpoint to give."""
        if path:
            raise BadInputError(f"PixDiff is training-free: it takes no checkpoint (got {path})")
        return cls(PixDiffConfig() if tau is None else PixDiffConfig(tau), name)

    @property
    def provenance(self) -> dict:
        """What `benco annotate` records of the labeller beside each mask."""
        return {"checkpoint": None, "tau": self.config.mask_threshold}

    def predict_proba_batch(self, sources: list, editeds: list) -> list[np.ndarray]:
        sources, editeds = load_pair_batch(sources, editeds)
        return [difference_map(source, edited) for source, edited in zip(sources, editeds)]


class PixDiffMask(PixDiff):
    """PixDiff-Fixed-morph (d > τ, then `morph`) or PixDiff-Otsu as a Predictor: its map is the
    binary mask itself (0 or 1), so `config.mask_threshold` 0.5 keeps it as it is. On unlabelled
    pairs there is no truth to pick τ on, so -morph takes it as given (`benco annotate --pixdiff-tau`)."""

    def __init__(self, variant: Literal["morph", "otsu"], tau: float) -> None:
        super().__init__(PixDiffConfig(mask_threshold=0.5), f"pixdiff-{variant}")
        self.variant, self.tau = variant, tau

    @property
    def provenance(self) -> dict:
        return {"checkpoint": None, "tau": self.tau if self.variant == "morph" else None}

    def predict_proba_batch(self, sources: list, editeds: list) -> list[np.ndarray]:
        binary = (morph(fixed(d, self.tau)) if self.variant == "morph" else otsu(d)
                  for d in super().predict_proba_batch(sources, editeds))
        return [mask.astype(np.float32) for mask in binary]
