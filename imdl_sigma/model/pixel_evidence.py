"""Full-resolution pixel evidence and its gated refinement of the mask (not in the paper).

The paper's decoder sees the images only through the backbone's stride-14 (or stride-8) lattice,
so a region re-drawn in the same colour, or a boundary that falls between lattice points, is
resolved by up-sampling alone. Real splices and inpaintings leave every pixel outside the edit
*identical*: that is evidence a lattice cannot carry. `PixelEvidence` turns |x_s − x_e| into a
few statistics at the input size; `EvidenceRefinement` lets the semantic decoder features gate
them (trusting pixel differences where the whole image was not regenerated) before the head.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..config import PixelEvidenceConfig
from .layers import _groups


def conv_norm_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.GroupNorm(_groups(out_channels), out_channels),
        nn.ReLU(inplace=True),
    )


class PixelEvidence(nn.Module):
    """Normalised source, edited (B, 3, H, W) → evidence features (B, width, H, W).

    Statistics (all 0 where the two images are identical): the per-channel |Δ| in [0, 1]; the
    log-scaled channel maximum, so a 1-level change is not lost next to a 100-level one; per
    window, the local mean and max of that map and the share of changed pixels; and the
    image-wide share of changed pixels, which tells a splice (few changed) from a regeneration
    (all changed).
    """

    def __init__(self, config: PixelEvidenceConfig, mean: tuple, std: tuple) -> None:
        super().__init__()
        self.windows = tuple(int(w) for w in config.windows)
        if any(w < 1 or w % 2 == 0 for w in self.windows):
            raise ValueError(f"pixel evidence windows must be odd and positive, got {self.windows}")
        self.log_gain = float(config.log_gain)
        self.changed_level = float(config.changed_level) / 255.0
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.num_statistics = 3 + 1 + 3 * len(self.windows) + 1
        self.encoder = nn.Sequential(
            conv_norm_relu(self.num_statistics, config.width), conv_norm_relu(config.width, config.width)
        )

    def statistics(self, source: torch.Tensor, edited: torch.Tensor) -> torch.Tensor:
        delta = (source.float() - edited.float()).abs() * self.std  # (B, 3, H, W), RGB levels in [0, 1]
        peak = delta.amax(1, keepdim=True)  # (B, 1, H, W)
        log_peak = torch.log1p(self.log_gain * peak) / math.log1p(self.log_gain)
        changed = (peak > self.changed_level).float()
        maps = [delta, log_peak]
        for window in self.windows:
            pad = window // 2
            maps.append(F.avg_pool2d(log_peak, window, stride=1, padding=pad, count_include_pad=False))
            maps.append(F.max_pool2d(log_peak, window, stride=1, padding=pad))
            maps.append(F.avg_pool2d(changed, window, stride=1, padding=pad, count_include_pad=False))
        maps.append(changed.mean((2, 3), keepdim=True).expand_as(peak))
        return torch.cat(maps, dim=1)  # (B, num_statistics, H, W)

    def forward(self, source: torch.Tensor, edited: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.statistics(source, edited).to(source.dtype))  # (B, width, H, W)


class EvidenceRefinement(nn.Module):
    """Semantic features (B, C, H, W) and pixel evidence (B, w, H, W) → mask logits (B, 1, H, W).

    A 1×1 gate from the semantic features scales each evidence channel per pixel; two 3×3
    convs on [features; gated evidence] and a 1×1 head give the logits.
    """

    def __init__(self, feature_dim: int, width: int) -> None:
        super().__init__()
        self.gate = nn.Conv2d(feature_dim, width, 1)
        self.refine = nn.Sequential(conv_norm_relu(feature_dim + width, width), conv_norm_relu(width, width))
        self.head = nn.Conv2d(width, 1, 1)

    def forward(self, features: torch.Tensor, evidence: torch.Tensor) -> torch.Tensor:
        gated = torch.sigmoid(self.gate(features)) * evidence  # (B, w, H, W)
        return self.head(self.refine(torch.cat([features, gated], dim=1)))
