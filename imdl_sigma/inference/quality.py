"""The mask's quality score (not in the paper; `QualityConfig`): the annotator's own estimate of the
IoU between its mask and the true edited region, in [0, 1], as SAM's `predicted_iou`.

Signals available at inference, per pair (`quality_signals`), each in [0, 1]:

* `stability`: IoU of the network's map thresholded at logit(τ) ± `stability_offset` (SAM's
  stability score): a map whose boundary sits on a steep edge is sure of it;
* `snapped`: 1 when the boundary refinement snapped the mask to the changed pixels (a splice:
  the pixels themselves mark the edit);
* `empty`: 1 when the mask has no pixel (right on an unedited pair, wholly wrong otherwise);
* `growth`: log₂ of the refined mask's area over the network's, clipped to `growth_clip` and
  mapped linearly onto [0, 1] (an empty mask counts as unchanged): a refinement that had to grow
  the mask much found the network's boundary far from the changed pixels.

They are combined by a logistic map, sigmoid(bias + Σ wᵢ·signalᵢ), whose coefficients were
fitted on validation pairs from training photos (benchmarks/quality_calibration.py) against
the true per-pair IoU.
"""

from __future__ import annotations

import math

import numpy as np

from ..config import QualityConfig
from ..metrics import pixel_scores
from .refine import Refinement

SIGNALS = ("stability", "snapped", "empty", "growth")


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def stability(prob: np.ndarray, threshold: float, offset: float) -> float:
    """IoU of `prob` above the thresholds logit⁻¹(logit(threshold) ± offset)."""
    centre = logit(threshold)
    return pixel_scores(prob > sigmoid(centre + offset), prob > sigmoid(centre - offset))[1]  # 1 when both empty


def growth(prob: np.ndarray, refined: np.ndarray, threshold: float, clip: tuple[float, float]) -> float:
    """log₂(refined mask area / the network's mask area) clipped to `clip`, mapped onto [0, 1]
    (log₂ 0, unchanged, when the refined mask is empty)."""
    refined_area = int(np.count_nonzero(refined > threshold))
    network_area = max(1, int(np.count_nonzero(prob > threshold)))
    log_ratio = math.log2(refined_area / network_area) if refined_area else 0.0
    low, high = clip
    return (float(np.clip(log_ratio, low, high)) - low) / (high - low)


def quality_signals(prob: np.ndarray, refinement: Refinement, threshold: float,
                    config: QualityConfig) -> dict[str, float]:
    """{signal: value} for one pair: `prob` the network's (H, W) map at the edited size before
    refinement, `refinement` what the boundary refinement made of it."""
    return {
        "stability": stability(prob, threshold, config.stability_offset),
        "snapped": float(refinement.snapped),
        "empty": float(not np.any(refinement.prob > threshold)),
        "growth": growth(prob, refinement.prob, threshold, config.growth_clip),
    }


def quality_score(signals: dict[str, float], config: QualityConfig) -> float:
    """The calibrated estimate of the mask's IoU with the true edit, in [0, 1]."""
    return sigmoid(config.bias + sum(w * signals[name] for name, w in zip(SIGNALS, config.weights, strict=True)))
