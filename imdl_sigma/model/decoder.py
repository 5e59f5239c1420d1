"""FPN mask decoder with residual fusion and the mask head (paper Sec. 3.2.4)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..config import DecoderConfig
from .layers import ConvResidualBlock
from .pixel_evidence import EvidenceRefinement


class FeaturePyramid(nn.Module):
    """Builds a pyramid from same-lattice DRB outputs by adaptive pooling, then top-down FPN.

    Level l is pooled by `pyramid_factors[l]` (37 → 37, 19, 10); 1×1 laterals, nearest
    up-sampling + add from coarse to fine, and a 3×3 output conv on the finest map.
    """

    def __init__(self, dim: int, num_levels: int, config: DecoderConfig) -> None:
        super().__init__()
        if num_levels > len(config.pyramid_factors):
            raise ValueError(f"{num_levels} levels but only {len(config.pyramid_factors)} pyramid factors")
        self.factors = tuple(config.pyramid_factors[:num_levels])
        self.laterals = nn.ModuleList(nn.Conv2d(dim, config.fpn_dim, 1) for _ in range(num_levels))
        self.output = nn.Conv2d(config.fpn_dim, config.fpn_dim, 3, padding=1)

    def forward(self, levels: list[torch.Tensor]) -> torch.Tensor:
        height, width = levels[0].shape[-2:]
        laterals = []
        for level, factor, lateral in zip(levels, self.factors, self.laterals):
            size = (math.ceil(height / factor), math.ceil(width / factor))
            laterals.append(lateral(F.adaptive_avg_pool2d(level, size)))
        top_down = laterals[-1]
        for finer in reversed(laterals[:-1]):
            top_down = finer + F.interpolate(top_down, size=finer.shape[-2:], mode="nearest")
        return self.output(top_down)  # (B, fpn_dim, h, w)


class MaskDecoder(nn.Module):
    """Finest FPN map and consensus C, fused at input size / `fusion_stride` → 1-channel logits.

    The head's logits are up-sampled to the input size; with `evidence_width` > 0 a residual
    computed from the up-sampled features and the (gated) full-resolution pixel evidence is
    added to them.
    """

    def __init__(self, dim: int, num_levels: int, config: DecoderConfig, evidence_width: int = 0) -> None:
        super().__init__()
        if config.fusion_stride < 1:
            raise ValueError(f"fusion_stride must be ≥ 1, got {config.fusion_stride}")
        self.fusion_stride = config.fusion_stride
        self.pyramid = FeaturePyramid(dim, num_levels, config)
        self.fusion = ConvResidualBlock(config.fpn_dim + dim, config.fuse_dim)
        self.terminal = ConvResidualBlock(config.fuse_dim, config.fuse_dim)
        self.head = nn.Conv2d(config.fuse_dim, 1, 1)
        self.refinement = EvidenceRefinement(config.fuse_dim, evidence_width) if evidence_width else None

    def forward(self, levels: list[torch.Tensor], consensus: torch.Tensor, size: tuple[int, int],
                evidence: torch.Tensor | None = None) -> torch.Tensor:
        fused_size = (math.ceil(size[0] / self.fusion_stride), math.ceil(size[1] / self.fusion_stride))
        finest = F.interpolate(self.pyramid(levels), size=fused_size, mode="bilinear", align_corners=False)
        consensus = F.interpolate(consensus, size=fused_size, mode="bilinear", align_corners=False)
        fused = self.fusion(torch.cat([finest, consensus], dim=1))  # F: (B, fuse_dim, H/s, W/s)
        features = self.terminal(fused)
        logits = self.head(features)
        if fused_size != tuple(size):
            logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        if self.refinement is None:
            return logits  # (B, 1, H, W)
        if evidence is None:
            raise ValueError("this decoder refines with pixel evidence: pass `evidence` (B, w, H, W)")
        features = F.interpolate(features, size=size, mode="bilinear", align_corners=False)
        return logits + self.refinement(features, evidence)  # (B, 1, H, W)
