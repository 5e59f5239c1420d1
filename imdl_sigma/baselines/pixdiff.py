"""Pixel-differencing baselines (paper Sec. 4.1, Table 1): PixDiff-Fixed(τ), -Fixed-morph, -Otsu."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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

    name = "pixdiff"

    def __init__(self, config: PixDiffConfig | None = None) -> None:
        self.config = config or PixDiffConfig()

    @classmethod
    def from_checkpoint(cls, path: str | Path | None = None, device: str = "cpu", tau: float | None = None) -> "PixDiff":
        """Training-free: there is no checkpoint to give."""
        if path:
            raise BadInputError(f"PixDiff is training-free: it takes no checkpoint (got {path})")
        return cls(PixDiffConfig() if tau is None else PixDiffConfig(tau))

    def predict_proba_batch(self, sources: list, editeds: list) -> list[np.ndarray]:
        sources, editeds = load_pair_batch(sources, editeds)
        return [difference_map(source, edited) for source, edited in zip(sources, editeds)]
