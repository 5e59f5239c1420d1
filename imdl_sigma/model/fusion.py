"""Instruction evidence and bidirectional cross-modal refinement (Eq. 8's output, Eq. 9–10)."""

from __future__ import annotations

import torch
from torch import nn

from ..config import FusionConfig
from .layers import PreNormAttention, PreNormFeedForward, to_map, to_tokens


class IntentEncoder(nn.Module):
    """Intent map A (B, 1, h, w) → instruction evidence I_0 (B, d, h, w): 1×1 conv + ReLU."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(1, dim, 1)

    def forward(self, intent_map: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.proj(intent_map))


class RefinementStep(nn.Module):
    """One iteration: V attends to I, then I attends to the freshly updated V (asymmetric)."""

    def __init__(self, dim: int, num_heads: int, ffn_ratio: float) -> None:
        super().__init__()
        self.visual_attn = PreNormAttention(dim, num_heads, cross=True)
        self.visual_ffn = PreNormFeedForward(dim, ffn_ratio)
        self.instruction_attn = PreNormAttention(dim, num_heads, cross=True)
        self.instruction_ffn = PreNormFeedForward(dim, ffn_ratio)

    def forward(self, visual: torch.Tensor, instruction: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # visual, instruction: (B, N, d)
        visual = self.visual_ffn(self.visual_attn(visual, instruction))
        instruction = self.instruction_ffn(self.instruction_attn(instruction, visual))
        return visual, instruction


class BidirectionalRefinement(nn.Module):
    """K refinement steps, then the consensus C = Conv1×1([V_K; I_K])."""

    def __init__(self, dim: int, config: FusionConfig) -> None:
        super().__init__()
        self.steps = nn.ModuleList(
            RefinementStep(dim, config.num_heads, config.ffn_ratio) for _ in range(config.iterations)
        )
        self.consensus = nn.Conv2d(2 * dim, dim, 1)

    def forward(self, visual: torch.Tensor, instruction: torch.Tensor) -> torch.Tensor:
        # visual, instruction: (B, d, h, w) -> consensus (B, d, h, w)
        height, width = visual.shape[-2:]
        visual_tokens, instruction_tokens = to_tokens(visual), to_tokens(instruction)
        for step in self.steps:
            visual_tokens, instruction_tokens = step(visual_tokens, instruction_tokens)
        fused = torch.cat(
            [to_map(visual_tokens, height, width), to_map(instruction_tokens, height, width)], dim=1
        )
        return self.consensus(fused)
