"""The JPEG quality an image was last saved at, read from its pixels (not in the paper; `AlignConfig`).

A decoded JPEG's luma DCT coefficients (8 × 8 blocks on the image's own lattice) sit on multiples
of its quantisation table, up to the rounding of the decoded pixels (≈ 0.4 levels). The quality
`q` of the IJG encoder (libjpeg, Pillow) scales the standard luminance table (ITU-T T.81 Annex K)
into the steps T_q; a quality fits when the coefficients it quantised to a non-zero multiple lie
on average closer than `jpeg_step_fit` (a fraction of the step) to that multiple — an image that
was never quantised, or was blurred afterwards, gives ≈ 0.25, the mean of a uniform remainder.
Of the fitting qualities the image's own leaves the smallest remainder: a higher quality whose
steps divide its steps measures the same rounding noise against smaller steps. Used by the
alignment to try only the listed qualities around it instead of every one.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..config import AlignConfig

BLOCK = 8  # px: the DCT block of every JPEG component
ANNEX_K_LUMA = np.array([  # ITU-T T.81 Table K.1, row-major
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
], dtype=np.float64)
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # JFIF's Y from RGB


def luma_steps(quality: int) -> np.ndarray:
    """(64,) luma quantisation steps of the IJG encoder at `quality` (jpeg_quality_scaling)."""
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    return np.clip(np.floor((ANNEX_K_LUMA * scale + 50) / 100), 1, 255)


def dct_matrix() -> np.ndarray:
    """(8, 8) orthonormal DCT-II: JPEG's forward transform of one block row."""
    k, n = np.meshgrid(np.arange(BLOCK), np.arange(BLOCK), indexing="ij")
    matrix = np.sqrt(2 / BLOCK) * np.cos(np.pi * (2 * n + 1) * k / (2 * BLOCK))
    matrix[0] /= np.sqrt(2)
    return matrix.astype(np.float32)


def luma_coefficients(image: np.ndarray, max_blocks: int) -> np.ndarray:
    """(H, W, 3) uint8 → (N, 63) AC coefficients of the luma of its `max_blocks` most textured
    8 × 8 blocks (the largest AC energy: the most coefficients quantised to a non-zero step)
    that no channel clips at 0 or 255 (clipping moves a decoded pixel off its rounding)."""
    height, width = image.shape[0] // BLOCK * BLOCK, image.shape[1] // BLOCK * BLOCK

    def blocks(plane: np.ndarray) -> np.ndarray:
        return plane.reshape(height // BLOCK, BLOCK, width // BLOCK, BLOCK, -1).swapaxes(1, 2).reshape(
            -1, BLOCK * BLOCK, plane.shape[-1])

    pixels = blocks(image[:height, :width])
    unclipped = ((pixels > 0) & (pixels < 255)).all(axis=(1, 2))
    luma = (pixels[unclipped].astype(np.float32) @ LUMA_WEIGHTS).reshape(-1, BLOCK, BLOCK)
    dct = dct_matrix()
    coefficients = (dct @ luma @ dct.T).reshape(len(luma), BLOCK * BLOCK)[:, 1:]  # (N, 63); N may be 0
    return coefficients[np.argsort(np.square(coefficients).sum(axis=1))[-max_blocks:]]


@lru_cache(maxsize=8)
def luma_step_table(lowest: int, highest: int) -> np.ndarray:
    """(Q, 63, 1) float32 AC luma steps of every quality from `lowest` to `highest`."""
    return np.stack([luma_steps(q) for q in range(lowest, highest + 1)]).astype(np.float32)[:, 1:, None]


def saved_quality(image: np.ndarray, config: AlignConfig) -> int | None:
    """The quality between the listed extremes whose luma steps fit the image's DCT coefficients
    best, or None (not a JPEG, or changed since it was decoded)."""
    if not config.jpeg_qualities or min(image.shape[:2]) < BLOCK:
        return None
    lowest = int(min(config.jpeg_qualities))
    steps = luma_step_table(lowest, int(max(config.jpeg_qualities)))
    multiples = luma_coefficients(image, config.jpeg_blocks).T[None] / steps  # (Q, 63, N)
    nearest = np.rint(multiples)
    quantised = (nearest != 0) & (steps >= config.jpeg_min_step)
    counts = quantised.sum(axis=(1, 2))
    remainder = (np.abs(multiples - nearest, out=multiples) * quantised).sum(axis=(1, 2)) / np.maximum(counts, 1)
    fits = (remainder < config.jpeg_step_fit) & (counts >= config.jpeg_min_coefficients)
    return lowest + int(np.where(fits, remainder, np.inf).argmin()) if fits.any() else None


def listed_neighbours(quality: int | None, listed: tuple) -> list[int]:
    """The listed qualities next to `quality` (at most one each side; itself when listed)."""
    if quality is None:
        return []
    below = [q for q in listed if q <= quality]
    above = [q for q in listed if q >= quality]
    return sorted({int(q) for q in (max(below, default=None), min(above, default=None)) if q is not None})
