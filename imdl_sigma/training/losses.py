"""Losses of both training stages (spec §6)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Soft Dice per image, averaged. logits, target: (B, 1, H, W)."""
    prob = torch.sigmoid(logits).flatten(1)
    target = target.flatten(1)
    overlap = (prob * target).sum(1)
    dice = (2 * overlap + eps) / (prob.sum(1) + target.sum(1) + eps)
    return (1 - dice).mean()


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(BCE, Dice) of L_seg = BCE + Dice."""
    return F.binary_cross_entropy_with_logits(logits, target), dice_loss(logits, target)
