"""Losses of both training stages (paper Sec. 3.3), and the output every mask model returns.

In the model layer because the models' `forward` computes L_seg when given a mask; the
training stages import them from here."""

from __future__ import annotations

from typing import Callable

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


def weighted_segmentation_loss(logits: torch.Tensor, target: torch.Tensor, bce_weight: float,
                               dice_weight: float) -> tuple[torch.Tensor, dict]:
    """L_seg = w_bce·BCE + w_dice·Dice and its detached parts {"seg_loss", "bce", "dice"}."""
    bce, dice = segmentation_loss(logits, target)
    loss = bce_weight * bce + dice_weight * dice
    return loss, {"seg_loss": loss.detach(), "bce": bce.detach(), "dice": dice.detach()}


def mask_model_output(logits: torch.Tensor, mask: torch.Tensor | None, bce_weight: float, dice_weight: float,
                      auxiliary: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None) -> dict:
    """IMDL-BenCo's model output for mask logits (B, 1, H, W): `pred_mask` (probabilities),
    `pred_label` (the image's highest probability), `visual_image`, and with a `mask` the
    weighted L_seg (plus `auxiliary(logits, target)`, a model's own extra term) as `backward_loss`."""
    edit_prob = torch.sigmoid(logits)
    result = {"pred_mask": edit_prob, "pred_label": edit_prob.flatten(1).amax(1),
              "visual_image": {"pred_mask": edit_prob}, "visual_loss": {}, "backward_loss": None}
    if mask is not None:
        target = mask.float()
        loss, parts = weighted_segmentation_loss(logits, target, bce_weight, dice_weight)
        if auxiliary is not None:
            loss = loss + auxiliary(logits, target)
            parts["seg_loss"] = loss.detach()
        result["backward_loss"], result["visual_loss"] = loss, parts
    return result


# ---- Stage II ------------------------------------------------------------------------------

def calibration_loss(logits: torch.Tensor) -> torch.Tensor:
    """L_cal: the pair (x_s, VAE roundtrip of x_s) has no semantic edit, so its target is all zero."""
    return F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits))


def pseudo_labels(teacher_prob: torch.Tensor, high: float, low: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(target, confident): 1 where p > high, 0 where p < low; pixels in between are ignored."""
    target = (teacher_prob > high).float()
    confident = ((teacher_prob > high) | (teacher_prob < low)).float()
    return target, confident


def pseudo_label_loss(logits: torch.Tensor, teacher_prob: torch.Tensor, high: float, low: float) -> torch.Tensor:
    """L_ema: BCE of the student on the teacher's confident pixels only."""
    target, confident = pseudo_labels(teacher_prob, high, low)
    if confident.sum() == 0:
        return logits.sum() * 0
    per_pixel = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return (per_pixel * confident).sum() / confident.sum()


def supervised_contrastive(vectors: torch.Tensor, labels: torch.Tensor, temperature: float) -> torch.Tensor:
    """SupCon (Khosla et al. 2020) over (N, C) vectors: same-label vectors attract, others repel."""
    z = F.normalize(vectors.float(), dim=1)
    similarity = z @ z.T / temperature
    self_mask = torch.eye(len(z), dtype=torch.bool, device=z.device)
    similarity = similarity.masked_fill(self_mask, float("-inf"))
    log_prob = similarity - torch.logsumexp(similarity, dim=1, keepdim=True)
    positives = (labels[:, None] == labels[None, :]) & ~self_mask
    anchors = positives.any(1)
    if not anchors.any():
        return vectors.sum() * 0
    log_prob = log_prob.masked_fill(~positives, 0.0)
    return -(log_prob.sum(1)[anchors] / positives.sum(1)[anchors]).mean()


def disentanglement_loss(edit_diffs: torch.Tensor, noise_diffs: torch.Tensor, support: torch.Tensor,
                         temperature: float, max_vectors: int) -> torch.Tensor:
    """L_dis: at the positions of the teacher's predicted edit, the difference vectors of (x_s, x_e)
    (class edit) and of (x_s, x̃_s) (class noise) are pushed apart.

    edit_diffs, noise_diffs: (B, C, h, w); support: (B, 1, h, w) bool on the same lattice.
    At most max_vectors / 2 positions per class are used (evenly spaced, deterministic).
    """
    where = support[:, 0]
    edit = edit_diffs.permute(0, 2, 3, 1)[where]  # (n, C)
    noise = noise_diffs.permute(0, 2, 3, 1)[where]
    if len(edit) < 2:
        return edit_diffs.sum() * 0
    keep = max(1, max_vectors // 2)
    if len(edit) > keep:
        index = torch.linspace(0, len(edit) - 1, keep, device=edit.device).long()
        edit, noise = edit[index], noise[index]
    labels = torch.cat([torch.ones(len(edit)), torch.zeros(len(noise))]).to(edit.device)
    return supervised_contrastive(torch.cat([edit, noise]), labels, temperature)
