"""Semantic-difference branch after the backbone: Eq. 3–6 of the paper."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import DifferenceConfig
from .layers import LayerNorm2d, PreNormAttention, PreNormFeedForward, to_map, to_tokens


def difference_signals(source: torch.Tensor, edited: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Magnitude |f̂_s − f̂_e| (C ch) and direction 1 − cos(f_s, f_e) (1 ch) of Eq. 3.

    For unit vectors 1 − cos = ½‖f̂_s − f̂_e‖²; that form is used because it is exactly zero
    for identical features, where 1 − Σ f̂² can be off by a rounding error.
    """
    delta = F.normalize(source, dim=1) - F.normalize(edited, dim=1)  # (B, C, h, w)
    magnitude = delta.abs()
    direction = 0.5 * delta.pow(2).sum(1, keepdim=True)  # (B, 1, h, w)
    return magnitude, direction


class LevelDifference(nn.Module):
    """D_l = Proj([f_s, f_e, |f̂_s − f̂_e|, 1 − cos]) with Proj = 1×1 conv + norm (Eq. 4)."""

    def __init__(self, in_channels: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3 * in_channels + 1, dim, 1)
        self.norm = LayerNorm2d(dim)

    def forward(self, source: torch.Tensor, edited: torch.Tensor) -> torch.Tensor:
        magnitude, direction = difference_signals(source, edited)
        stacked = torch.cat([source, edited, magnitude, direction], dim=1)  # (B, 3C+1, h, w)
        return self.norm(self.proj(stacked))  # (B, d, h, w)


class DifferenceRefinementBlock(nn.Module):
    """Within-level self-attention → cross-level attention → FFN, all pre-norm residual (Eq. 5)."""

    def __init__(self, dim: int, num_levels: int, num_heads: int, ffn_ratio: float) -> None:
        super().__init__()
        self.within_level = PreNormAttention(dim, num_heads, cross=False)
        # Level-l queries attending to the tokens of all levels = self-attention over their union.
        self.cross_level = PreNormAttention(dim, num_heads, cross=False)
        self.level_embed = nn.Parameter(torch.zeros(num_levels, 1, dim))
        nn.init.trunc_normal_(self.level_embed, std=0.02)
        self.ffn = PreNormFeedForward(dim, ffn_ratio)

    def forward(self, levels: torch.Tensor) -> torch.Tensor:
        # levels: (L, B, N, d) — L levels of N lattice tokens each
        num_levels, batch, tokens, dim = levels.shape
        x = self.within_level(levels.reshape(num_levels * batch, tokens, dim))
        x = x.view(num_levels, batch, tokens, dim)
        # Queries of every level attend to the tokens of all levels, tagged by level.
        tagged = (x + self.level_embed[:, None]).permute(1, 0, 2, 3).reshape(batch, -1, dim)
        x = self.cross_level(tagged)  # (B, L*N, d)
        x = self.ffn(x)
        return x.view(batch, num_levels, tokens, dim).permute(1, 0, 2, 3)


class SemanticDifference(nn.Module):
    """Per-level differencing, DRB refinement and aggregation into V_0.

    Returns the refined per-level maps D_l (finest first, for the decoder's FPN) and V_0.
    """

    def __init__(self, level_channels: tuple, config: DifferenceConfig) -> None:
        super().__init__()
        self.level_channels = tuple(level_channels)
        self.levels = nn.ModuleList(LevelDifference(c, config.dim) for c in self.level_channels)
        self.blocks = nn.ModuleList(
            DifferenceRefinementBlock(config.dim, len(self.levels), config.num_heads, config.ffn_ratio)
            for _ in range(config.num_blocks)
        )
        kernel = config.aggregate_kernel
        self.aggregate = nn.Conv2d(len(self.levels) * config.dim, config.dim, kernel, padding=kernel // 2)

    def project(self, source_feats: list[torch.Tensor], edited_feats: list[torch.Tensor]) -> list[torch.Tensor]:
        return [level(fs, fe) for level, fs, fe in zip(self.levels, source_feats, edited_feats)]

    def refine(self, projected: list[torch.Tensor]) -> list[torch.Tensor]:
        """The DRB stack; its outputs are the difference vectors Stage II disentangles."""
        height, width = projected[0].shape[-2:]
        tokens = torch.stack([to_tokens(d) for d in projected])  # (L, B, h*w, d)
        for block in self.blocks:
            tokens = block(tokens)
        return [to_map(t, height, width) for t in tokens]

    def forward(
        self, source_feats: list[torch.Tensor], edited_feats: list[torch.Tensor]
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        refined = self.refine(self.project(source_feats, edited_feats))
        visual = self.aggregate(torch.cat(refined, dim=1))  # V_0: (B, d, h, w)
        return refined, visual
