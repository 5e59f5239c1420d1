"""The mask's quality score (not in the paper; `QualityConfig`): the annotator's own estimate of the
IoU between its mask and the true edited region, in [0, 1], as SAM's `predicted_iou`.

Signals available at inference, per pair (`quality_signals`):

* `stability`: IoU of the network's map thresholded at logit(τ) ± `stability_offset` (SAM's
  stability score): a map whose boundary sits on a steep edge is certain of it;
* `snapped`: whether the boundary refinement snapped the mask to the changed pixels (a splice:
  the pixels themselves mark the edit);
* `agreement`: IoU of the network's mask and the refined one (1 when not snapped);
* `noise`: the refinement's noise floor over its `max_noise` (how far from pixel-identical the
  outside is), capped at `max_noise_ratio`, which also stands for "not measured";
* `log_area`: the mask's image share on a log scale, 0 at `min_area` or less, 1 for the whole image;
* `empty`: 1 when the mask has no pixel (no edit found: right on an unedited pair, wholly wrong
  otherwise — the other signals tell which);
* `unexplained`: on a snapped pair, changed pixels near the mask but left out of it, over the
  mask's area (capped at 1): pixels the mask does not account for.

They are combined by a logistic map, sigmoid(bias + Σ wᵢ·signalᵢ), whose coefficients were
fitted on validation pairs from training photos (benchmarks/quality_calibration.py) against
the true per-pair IoU.
"""

from __future__ import annotations

import math

import numpy as np

from ..config import QualityConfig, RefineConfig
from .refine import Refinement, band_radius, distance_to

SIGNALS = ("stability", "snapped", "agreement", "noise", "log_area", "empty", "unexplained")


def mask_iou(first: np.ndarray, second: np.ndarray) -> float:
    """IoU of two bool masks; 1 when both are empty."""
    union = np.count_nonzero(first | second)
    return np.count_nonzero(first & second) / union if union else 1.0


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def stability(prob: np.ndarray, threshold: float, offset: float) -> float:
    """IoU of `prob` above the thresholds logit⁻¹(logit(threshold) ± offset)."""
    centre = logit(threshold)
    return mask_iou(prob > sigmoid(centre + offset), prob > sigmoid(centre - offset))


def quality_signals(prob: np.ndarray, refinement: Refinement, threshold: float, refine: RefineConfig,
                    config: QualityConfig) -> dict[str, float]:
    """{signal: value} for one pair: `prob` the network's (H, W) map at the edited size before
    refinement, `refinement` what the boundary refinement made of it."""
    predicted = prob > threshold
    final = refinement.prob > threshold
    floor = refinement.noise_floor
    noise = config.max_noise_ratio if floor is None else min(config.max_noise_ratio, floor / refine.max_noise)
    area = max(float(final.mean()), config.min_area)
    unexplained = 0.0
    if refinement.snapped:
        near = distance_to(final) <= band_radius(final.shape, refine) if final.any() else np.zeros_like(final)
        left_out = np.count_nonzero(refinement.changed & near & ~final)
        unexplained = min(1.0, left_out / max(1, np.count_nonzero(final)))
    return {
        "stability": stability(prob, threshold, config.stability_offset),
        "snapped": float(refinement.snapped),
        "agreement": mask_iou(predicted, final),
        "noise": noise,
        "log_area": 1.0 - math.log10(area) / math.log10(config.min_area),
        "empty": float(not final.any()),
        "unexplained": unexplained,
    }


def quality_score(signals: dict[str, float], config: QualityConfig) -> float:
    """The calibrated estimate of the mask's IoU with the true edit, in [0, 1]."""
    return sigmoid(config.bias + sum(w * signals[name] for name, w in zip(SIGNALS, config.weights)))
