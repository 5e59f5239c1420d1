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
  outside the edit its 8×8 blocks then come out as the edited image's own. Only the listed
  qualities next to the one read from the edited image's DCT coefficients are tried
  (`jpeg_quality.py`); none when it shows no quantisation.

The parameters are estimated on a grid of crops at the edited image's own size (σ is in its
pixels), tiled with their context into one mosaic, and a candidate replaces the identity only
when it lowers the trimmed residual by `min_gain`: a splice whose outside is pixel-identical
keeps its exact source, and is known as one before any candidate is fitted. σ is searched
coarse to fine. (The boundary refinement keeps measuring the raw difference: aligned
regenerated pairs would pass its noise floor and be snapped to noise.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from ..config import AlignConfig
from .degrade import LEVELS, apply_curve, jpeg_roundtrip, translate
from .jpeg_quality import listed_neighbours, saved_quality


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


Box = tuple[int, int, int, int]  # (top, left, bottom, right) px


def crop_boxes(shape: tuple[int, int], config: AlignConfig, margin: int) -> tuple[list[list[Box]], int]:
    """Rows of (top, left, bottom, right) crops, a grid that the parameters are estimated on, and
    the px of context each has inside the image (`margin`; 0 for a tiny image, used whole)."""
    height, width = shape
    side = min(config.crop, height - 2 * margin, width - 2 * margin)
    if side < JPEG_BLOCK:
        return [[(0, 0, height, width)]], 0
    side = side // JPEG_BLOCK * JPEG_BLOCK  # the crops tile a mosaic on the image's own JPEG lattice

    def starts(length: int) -> list[int]:
        span = length - 2 * margin - side
        steps = max(1, config.grid - 1)  # corner to corner, so the crops sample the whole image
        # on the 16 px JPEG block lattice, so a re-compressed crop has the image's own blocks
        return sorted({margin + round(span * i / steps) // JPEG_BLOCK * JPEG_BLOCK
                       for i in range(config.grid)}) if span > 0 else [margin]

    return [[(top, left, top + side, left + side) for left in starts(width)] for top in starts(height)], margin


class Mosaic:
    """The crops tiled into one image, each with `context` px around it (on the image's JPEG
    lattice), so that a shift, a blur or a JPEG round trip is one call; `samples` reads every
    `step`-th pixel of each crop."""

    def __init__(self, boxes: list[list[Box]], context: int, step: int) -> None:
        self.boxes, self.context, self.step = boxes, context, step
        top, left, bottom, right = boxes[0][0]
        self.height, self.width = bottom - top, right - left  # of one crop

    def tile(self, image: np.ndarray) -> np.ndarray:
        """(H, W, 3) → the mosaic of its crops with `context` px around each."""
        pad = self.context
        return np.concatenate([np.concatenate([image[t - pad:b + pad, l - pad:r + pad] for t, l, b, r in row], axis=1)
                               for row in self.boxes])

    def samples(self, padded: np.ndarray) -> np.ndarray:
        """A mosaic with context → (N, 3) uint8: every `step`-th pixel of each crop."""
        pad, step = self.context, self.step
        tiles = padded.reshape(len(self.boxes), self.height + 2 * pad, len(self.boxes[0]), self.width + 2 * pad, 3)
        return tiles[:, pad:pad + self.height:step, :, pad:pad + self.width:step].reshape(-1, 3)


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
    """(N, 3) uint8 source and edited pixels → per-channel polynomial (3, degree + 1) on [0, 1]
    and the trimmed mean residual (0–255 levels); no polynomial (and the residual without one)
    when the fitted curve moves a level by more than `max_tone_change`.

    The source takes 256 levels per channel, so the normal equations are sums over the kept
    pixels' counts and edited sums per level (float64: the same on any number of threads)."""
    degree = config.tone_degree
    powers = LEVELS[:, None] ** np.arange(degree + 1)  # (256, degree + 1)
    moments = LEVELS[:, None] ** np.arange(2 * degree + 1)  # (256, 2 degree + 1)
    gram_index = np.add.outer(np.arange(degree + 1), np.arange(degree + 1))
    ridge = 1e-6 * np.eye(degree + 1)
    bins = source + np.arange(0, 3 * 256, 256, dtype=np.int32)  # (N, 3): a bin per (channel, level)
    target = edited.astype(np.float32) / 255.0
    keep = trimmed(channel_mean(cv2.absdiff(source, edited)), config.trim)  # mild changes: start near identity
    for _ in range(config.fit_iterations):
        kept = bins[keep].ravel()
        counts = np.bincount(kept, minlength=3 * 256).reshape(3, 256)
        sums = np.bincount(kept, weights=target[keep].ravel(), minlength=3 * 256).reshape(3, 256)
        tone = np.stack([np.linalg.solve((n @ moments)[gram_index] + ridge, y @ powers) for n, y in zip(counts, sums)])
        fitted = tone_curves(tone).T.ravel().astype(np.float32)[bins]
        residual = channel_mean(np.abs(fitted - target))
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


def channel_mean(values: np.ndarray) -> np.ndarray:
    """(N, 3) → (N,) float32 mean over the channels (a matrix product: faster than a strided sum)."""
    return values.astype(np.float32) @ np.full(3, 1 / 3, dtype=np.float32)


def trimmed_residual(source: np.ndarray, edited: np.ndarray, trim: float) -> float:
    """Trimmed mean |Δ| (0–255 levels) of (N, 3) uint8 pixels."""
    residual = channel_mean(cv2.absdiff(source, edited))
    return float(residual[trimmed(residual, trim)].mean())


def estimate(source: np.ndarray, edited: np.ndarray, config: AlignConfig) -> Alignment:
    """The global change from source to edited ((H, W, 3) uint8, same size) that leaves the
    smallest trimmed residual; the identity unless a candidate saves `min_gain`.

    Cheaper than trying every candidate, with the same answers on the validation pairs: a pair
    whose outside is already the source's (a clean splice) stops at the identity; σ is searched
    coarse to fine — every `blur_coarse_step`-th σ for the zero and the measured shift, scored on
    every `coarse_sample_stride`-th sample, then the σs around the best in full — and JPEG
    qualities are tried only next to the one the edited image was saved at
    (`jpeg_quality.saved_quality`)."""
    if source.shape != edited.shape:
        raise ValueError(f"source {source.shape} and edited {edited.shape} differ in size")
    reach = 3 * max(config.blur_sigmas, default=0) + config.max_shift_px + 1  # px a blur or shift draws from
    margin = math.ceil(reach / JPEG_BLOCK) * JPEG_BLOCK
    boxes, context = crop_boxes(edited.shape[:2], config, margin)
    mosaic = Mosaic(boxes, context, config.sample_stride)
    target = mosaic.samples(mosaic.tile(edited))
    padded_source = mosaic.tile(source)
    identity_score = trimmed_residual(mosaic.samples(padded_source), target, config.trim)
    if identity_score < config.min_gain:  # no candidate can save min_gain: the scores are ≥ 0
        return Alignment()
    shifts = sorted({(0.0, 0.0), estimate_shift(source, edited, config)})
    sigmas = (0.0,) + tuple(sorted(config.blur_sigmas))
    shifted = {shift: translate(padded_source, *shift) if shift != (0.0, 0.0) else padded_source for shift in shifts}
    blurred: dict[tuple, np.ndarray] = {}
    thin = slice(None, None, config.coarse_sample_stride)

    def fitted(candidate: tuple[tuple[float, float], int], coarse: bool = False) -> tuple[float, Alignment]:
        """(shift, σ index) → the trimmed residual after the tone fit (on every
        `coarse_sample_stride`-th sample when `coarse`) and the alignment."""
        shift, index = candidate
        if candidate not in blurred:
            sigma = sigmas[index]
            blurred[candidate] = cv2.GaussianBlur(shifted[shift], (0, 0), sigma) if sigma > 0 else shifted[shift]
        samples = mosaic.samples(blurred[candidate])
        tone, score = fit_tone(samples[thin], target[thin], config) if coarse else fit_tone(samples, target, config)
        return score, Alignment(shift, float(sigmas[index]), tone)

    score, best = min(map(fitted, coarse_to_fine(shifts, len(sigmas), config.blur_coarse_step,
                                                 lambda candidate: fitted(candidate, coarse=True)[0])),
                      key=lambda scored: scored[0])
    best_score, best = (score, best) if score < identity_score else (identity_score, Alignment())
    # Re-compress as the edited image was saved: on top of the best fit, or of the bare source
    # (JPEG's own smoothing can pass for a blur, and the blur then hides the blocks).
    qualities = listed_neighbours(saved_quality(edited, config), config.jpeg_qualities)
    for base in ([best] if best.is_identity else [best, Alignment()]) if qualities else []:
        rendered = base.apply(padded_source)  # the crops keep their context: JPEG's chroma reaches across blocks
        for quality in qualities:
            score = trimmed_residual(mosaic.samples(jpeg_roundtrip(rendered, quality)), target, config.trim)
            if score < best_score - config.min_gain:
                best, best_score = replace(base, jpeg_quality=quality), score
    return best if best_score <= identity_score - config.min_gain else Alignment()


def coarse_to_fine(shifts: list, count: int, step: int, coarse_score) -> list[tuple]:
    """The (shift, σ index) candidates to fit in full: `coarse_score` is taken of every `step`-th
    σ index for each shift, and the indices within `step` of the best of those, at its shift,
    are returned (a search of a unimodal score over the ordered σ list)."""
    shift, best = min(((shift, i) for shift in shifts for i in range(0, count, step)), key=coarse_score)
    return [(shift, i) for i in range(max(0, best - step + 1), min(count, best + step))]


def align_source(source: np.ndarray, edited: np.ndarray, config: AlignConfig) -> np.ndarray:
    """The source with the pair's global change applied (unchanged when disabled or when the
    identity fits best)."""
    if not config.enabled:
        return source
    return estimate(source, edited, config).apply(source)
