"""Photometric alignment of the source to the edited image (not in the paper; `AlignConfig`).

A post-processed or regenerated edited image differs from its source everywhere: blurred,
re-toned, shifted by a pixel, re-compressed. Those global changes drown the local edit in the
network's view of the pair (its backbone difference and its pixel evidence). Edits cover a
minority of the image, so the global change can be fitted robustly and applied to the source
before the network compares the two:

    aligned = jpeg_q(tone(blur_σ(shift_(dx, dy)(source))))

* shift: sub-pixel translation by phase correlation of the two grey images;
* blur: a Gaussian σ from a candidate list, chosen by the fit below;
* tone: a per-channel polynomial of the blurred source, fitted by trimmed least squares (the
  pixels with the largest residual — the edit — are left out of the fit and of its score);
  a curve that moves any level by more than `max_tone_change` is a global edit ("make it
  darker"), not drift, and is not applied;
* jpeg: re-compression at a quality from a candidate list, last, as a saved edited image was;
  outside the edit its 8×8 blocks then come out as the edited image's own.

The parameters are estimated on a grid of crops at the edited image's own size (σ is in its
pixels), and a candidate replaces the identity only when it lowers the trimmed residual by
`min_gain`: a splice whose outside is pixel-identical keeps its exact source. (The boundary
refinement keeps measuring the raw difference: aligned regenerated pairs would pass its noise
floor and be snapped to noise.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from ..config import AlignConfig
from .degrade import LEVELS, apply_curve, jpeg_roundtrip, translate


@dataclass(frozen=True)
class Alignment:
    """The fitted global change: apply(source) ≈ the edited image outside the edit."""

    shift: tuple[float, float] = (0.0, 0.0)  # (dx, dy) px
    sigma: float = 0.0  # Gaussian blur, px
    tone: np.ndarray | None = None  # (3, degree + 1) polynomial coefficients per channel, on [0, 1]
    jpeg_quality: int | None = None  # re-compression last, as the edited image was saved

    @property
    def is_identity(self) -> bool:
        return self.shift == (0.0, 0.0) and self.sigma == 0.0 and self.tone is None and self.jpeg_quality is None

    def apply(self, source: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 → the aligned (H, W, 3) uint8 source."""
        out = source
        if self.shift != (0.0, 0.0):
            out = translate(out, *self.shift)
        if self.sigma > 0:
            out = cv2.GaussianBlur(out, (0, 0), self.sigma)
        if self.tone is not None:
            out = apply_curve(out, tone_curves(self.tone))
        if self.jpeg_quality is not None:
            out = jpeg_roundtrip(out, self.jpeg_quality)
        return out


JPEG_BLOCK = 16  # px: a 4:2:0 JPEG's minimum coded unit


def tone_curves(tone: np.ndarray) -> np.ndarray:
    """(3, degree + 1) coefficients → (256, 3) float: each channel's curve at every grey level."""
    return np.stack([np.polyval(coefficients[::-1], LEVELS) for coefficients in tone], axis=-1)


def crop_boxes(shape: tuple[int, int], config: AlignConfig, margin: int) -> tuple[list[tuple[int, int, int, int]], int]:
    """(top, left, bottom, right) of a grid of crops that the parameters are estimated on, and
    the px of context each has inside the image (`margin`; 0 for a tiny image, used whole)."""
    height, width = shape
    side = min(config.crop, height - 2 * margin, width - 2 * margin)
    if side < 8:
        return [(0, 0, height, width)], 0

    def starts(length: int) -> list[int]:
        span = length - 2 * margin - side
        steps = max(1, config.grid - 1)  # corner to corner, so the crops sample the whole image
        # on the 16 px JPEG block lattice, so a re-compressed crop has the image's own blocks
        return sorted({margin + round(span * i / steps) // JPEG_BLOCK * JPEG_BLOCK
                       for i in range(config.grid)}) if span > 0 else [margin]

    return [(top, left, top + side, left + side) for top in starts(height) for left in starts(width)], margin


def estimate_shift(source: np.ndarray, edited: np.ndarray, config: AlignConfig) -> tuple[float, float]:
    """Sub-pixel (dx, dy) that moves the source onto the edited image, or (0, 0)."""
    height, width = edited.shape[:2]
    side = min(config.shift_window, height, width)
    top, left = (height - side) // 2, (width - side) // 2
    grey = [cv2.cvtColor(image[top:top + side, left:left + side], cv2.COLOR_RGB2GRAY).astype(np.float32)
            for image in (source, edited)]
    window = cv2.createHanningWindow(grey[0].shape[::-1], cv2.CV_32F)
    (dx, dy), _ = cv2.phaseCorrelate(grey[0], grey[1], window)
    if not (config.min_shift_px <= math.hypot(dx, dy) <= config.max_shift_px):
        return (0.0, 0.0)
    return (float(dx), float(dy))


def fit_tone(source: np.ndarray, edited: np.ndarray, config: AlignConfig) -> tuple[np.ndarray | None, float]:
    """(N, 3) float source and edited pixels in [0, 1] → per-channel polynomial (3, degree + 1)
    and the trimmed mean residual (0–255 levels); no polynomial (and the residual without one)
    when the fitted curve moves a level by more than `max_tone_change`."""
    # float64: float32 normal equations depend on the BLAS thread count's summation order (the
    # fitted curves moved by ~1e-3 between one and two threads).
    source, edited = source.astype(np.float64), edited.astype(np.float64)
    powers = np.stack([np.stack([source[:, c] ** k for k in range(config.tone_degree + 1)], axis=1)
                       for c in range(3)])  # (3, N, degree + 1)
    keep = trimmed(np.abs(source - edited).mean(axis=1), config.trim)  # tone changes are mild: start near identity
    ridge = 1e-6 * np.eye(config.tone_degree + 1)
    for _ in range(config.fit_iterations):
        tone = np.stack([np.linalg.solve(p[keep].T @ p[keep] + ridge, p[keep].T @ edited[keep, c])
                         for c, p in enumerate(powers)])  # (3, degree + 1)
        residual = np.abs(np.stack([p @ t for p, t in zip(powers, tone)], axis=1) - edited).mean(axis=1)
        keep = trimmed(residual, config.trim)
    if tone_change(tone) > config.max_tone_change:  # beyond a regeneration's drift: an edit, not aligned away
        return None, trimmed_residual(source, edited, config.trim)
    return tone, float(residual[keep].mean()) * 255.0


def tone_change(tone: np.ndarray) -> float:
    """Largest |curve(x) − x| over x in [0, 1] of (3, degree + 1) tone coefficients."""
    return float(np.abs(tone_curves(tone) - LEVELS[:, None]).max())


def trimmed(residual: np.ndarray, trim: float) -> np.ndarray:
    """Bool: the `trim` share of pixels with the lowest residual."""
    cut = min(len(residual) - 1, int(trim * len(residual)))
    return residual <= np.partition(residual, cut)[cut]


def trimmed_residual(source: np.ndarray, edited: np.ndarray, trim: float) -> float:
    """Trimmed mean |Δ| (0–255 levels) of (N, 3) pixels in [0, 1]."""
    residual = np.abs(source - edited).mean(axis=1)
    return float(residual[trimmed(residual, trim)].mean()) * 255.0


def estimate(source: np.ndarray, edited: np.ndarray, config: AlignConfig) -> Alignment:
    """The global change from source to edited ((H, W, 3) uint8, same size) that leaves the
    smallest trimmed residual; the identity unless a candidate saves `min_gain`."""
    if source.shape != edited.shape:
        raise ValueError(f"source {source.shape} and edited {edited.shape} differ in size")
    reach = 3 * max(config.blur_sigmas, default=0) + config.max_shift_px + 1  # px a blur or shift draws from
    margin = math.ceil(reach / JPEG_BLOCK) * JPEG_BLOCK
    boxes, context = crop_boxes(edited.shape[:2], config, margin)
    step = config.sample_stride

    def crops(image: np.ndarray, pad: int) -> list[np.ndarray]:
        return [image[t - pad:b + pad, l - pad:r + pad] for t, l, b, r in boxes]

    def samples(padded: list[np.ndarray], pad: int) -> np.ndarray:
        """Crops with `pad` px of context → (N, 3) float pixels in [0, 1], every `step`-th."""
        inner = [c[pad:c.shape[0] - pad:step, pad:c.shape[1] - pad:step] for c in padded]
        return np.concatenate([c.reshape(-1, 3) for c in inner]).astype(np.float32) / 255.0

    target = samples(crops(edited, 0), 0)
    padded_source = crops(source, context)
    identity_score = trimmed_residual(samples(padded_source, context), target, config.trim)
    best, best_score = Alignment(), identity_score
    for shift in {(0.0, 0.0), estimate_shift(source, edited, config)}:
        padded = padded_source
        if shift != (0.0, 0.0):
            padded = [translate(c, *shift) for c in padded]
        for sigma in (0.0,) + tuple(config.blur_sigmas):
            blurred = [cv2.GaussianBlur(c, (0, 0), sigma) for c in padded] if sigma > 0 else padded
            tone, score = fit_tone(samples(blurred, context), target, config)
            if score < best_score:
                best, best_score = Alignment(shift, float(sigma), tone), score
    # Re-compress as the edited image was saved: on top of the best fit, or of the bare source
    # (JPEG's own smoothing can pass for a blur, and the blur then hides the blocks).
    for base in [best] if best.is_identity else [best, Alignment()]:
        for quality in config.jpeg_qualities:
            recompressed = replace(base, jpeg_quality=int(quality))
            score = trimmed_residual(samples([recompressed.apply(c) for c in padded_source], context),
                                     target, config.trim)
            if score < best_score - config.min_gain:
                best, best_score = recompressed, score
    return best if best_score <= identity_score - config.min_gain else Alignment()


def align_source(source: np.ndarray, edited: np.ndarray, config: AlignConfig) -> np.ndarray:
    """The source with the pair's global change applied (unchanged when disabled or when the
    identity fits best)."""
    if not config.enabled:
        return source
    return estimate(source, edited, config).apply(source)
