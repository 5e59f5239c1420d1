"""Pixel-differencing baselines (spec §8): PixDiff-Fixed(τ), -Fixed-morph, -Otsu."""

from __future__ import annotations

import cv2
import numpy as np

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
