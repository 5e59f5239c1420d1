"""SAM-guided concept maps (Eq. 7) and Action-Conditioned Spatial Fusion (Eq. 8)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..data.corpora.categories import category_action
from .rules import ACTIONS


def concept_map(instance_masks: np.ndarray | None, size: tuple[int, int], epsilon: float) -> np.ndarray:
    """A = ε + (1 − ε)·R(max_i M_i): instances max-merged, bilinearly resized to `size` (h, w).

    `instance_masks`: (N, H, W) bool or in [0, 1], or None / N = 0 when nothing was grounded (A = ε).
    """
    if instance_masks is None or len(instance_masks) == 0:
        return np.full(size, epsilon, np.float32)
    merged = torch.from_numpy(np.asarray(instance_masks).max(axis=0).astype(np.float32))[None, None]
    resized = F.interpolate(merged, size=size, mode="bilinear", align_corners=False)[0, 0].clamp(0, 1)
    return (epsilon + (1 - epsilon) * resized).numpy()


def fusion_action(parsed_action: str, category_action: str | None) -> str:
    """The action ACSF fuses with: the corpus category's, where the corpus maps it, else the parse's."""
    return category_action if category_action in ACTIONS else parsed_action


def with_corpus_actions(parses: list[dict], pairs: list) -> list[dict]:
    """Copies of the pairs' parses whose `action` is the one ACSF fuses with (manifest Pairs: corpus, edit_type)."""
    return [dict(parsed, action=fusion_action(parsed["action"], category_action(pair.corpus, pair.edit_type)))
            for parsed, pair in zip(parses, pairs)]


def acsf(action: str, original_map: np.ndarray | None, edited_map: np.ndarray | None, size: tuple[int, int],
         epsilon: float) -> np.ndarray:
    """add → A_e; remove → A_o; replace / attribute change → A_o ⊙ A_e; global → ε everywhere.

    A missing concept map (its concept was null) counts as the uniform ε map.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action '{action}'; expected one of {', '.join(ACTIONS)}")
    uniform = np.full(size, epsilon, np.float32)
    original_map = uniform if original_map is None else original_map
    edited_map = uniform if edited_map is None else edited_map
    if action == "add":
        return edited_map.astype(np.float32)
    if action == "remove":
        return original_map.astype(np.float32)
    if action in ("replace", "attribute change"):
        return (original_map * edited_map).astype(np.float32)
    return uniform
