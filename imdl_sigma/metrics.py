"""Pixel F1 / IoU per image, the scores of the paper's Tables 1-3 (Sec. 4).

On a non-empty ground truth these equal IMDL-BenCo's `PixelF1` / `PixelIOU`. IMDL-BenCo
scores an empty ground truth as 0 whatever the prediction; here an empty ground truth with an
empty prediction scores 1 and with any predicted pixel 0 (`empty_gt` counts such images).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def pixel_scores(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(F1, IoU) of two binary masks of the same shape."""
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {truth.shape} differ in shape")
    tp = np.count_nonzero(pred & truth)
    fp = np.count_nonzero(pred & ~truth)
    fn = np.count_nonzero(~pred & truth)
    if tp + fp + fn == 0:
        return 1.0, 1.0  # empty ground truth, empty prediction
    return 2 * tp / (2 * tp + fp + fn), tp / (tp + fp + fn)


@dataclass
class ScoreAccumulator:
    """Per-image scores averaged over a dataset; reported as percentages."""

    f1: list = field(default_factory=list)
    iou: list = field(default_factory=list)
    empty_gt: int = 0

    def add(self, pred: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
        f1, iou = pixel_scores(pred, truth)
        self.f1.append(f1)
        self.iou.append(iou)
        self.empty_gt += int(not np.any(truth))
        return f1, iou

    def summary(self) -> dict:
        n = len(self.f1)
        return {
            "f1": 100.0 * float(np.mean(self.f1)) if n else float("nan"),
            "iou": 100.0 * float(np.mean(self.iou)) if n else float("nan"),
            "n": n,
            "empty_gt": self.empty_gt,
        }
