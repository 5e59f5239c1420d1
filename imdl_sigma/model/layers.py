"""Small building blocks shared by the SIGMA modules."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel dimension of a (B, C, H, W) map."""

    def __init__(self, num_channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class Attention(nn.Module):
    """Multi-head attention on token sequences, computed with scaled_dot_product_attention."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.q_proj = nn.Linear(dim, dim)
        self.kv_proj = nn.Linear(dim, 2 * dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, query: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        # query: (B, Nq, C), context: (B, Nk, C) -> (B, Nq, C)
        batch, n_query, dim = query.shape
        heads = self.num_heads
        q = self.q_proj(query).view(batch, n_query, heads, dim // heads).transpose(1, 2)
        k, v = self.kv_proj(context).view(batch, -1, 2, heads, dim // heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, heads, Nq, C/heads)
        return self.out_proj(out.transpose(1, 2).reshape(batch, n_query, dim))


class FeedForward(nn.Module):
    def __init__(self, dim: int, ratio: float) -> None:
        super().__init__()
        hidden = int(dim * ratio)
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class PreNormAttention(nn.Module):
    """Residual pre-norm attention: x ← x + Attn(LN(x), LN(context)) for cross-attention,
    x ← x + Attn(LN(x), LN(x)) for self-attention (`cross=False`)."""

    def __init__(self, dim: int, num_heads: int, cross: bool) -> None:
        super().__init__()
        self.norm_query = nn.LayerNorm(dim)
        self.norm_context = nn.LayerNorm(dim) if cross else None
        self.attn = Attention(dim, num_heads)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        query = self.norm_query(x)
        if self.norm_context is None:
            return x + self.attn(query, query)
        return x + self.attn(query, self.norm_context(context))


class PreNormFeedForward(nn.Module):
    def __init__(self, dim: int, ratio: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.ffn = FeedForward(dim, ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.ffn(self.norm(x))


class ConvResidualBlock(nn.Module):
    """Two 3×3 convs with a (1×1-projected) skip: the decoder's fusion and terminal blocks."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.GroupNorm(_groups(out_channels), out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.GroupNorm(_groups(out_channels), out_channels),
        )
        self.skip = (
            nn.Identity() if in_channels == out_channels
            else nn.Conv2d(in_channels, out_channels, 1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.skip(x))


def _groups(channels: int, max_groups: int = 8) -> int:
    """Largest divisor of `channels` up to `max_groups` (GroupNorm works at batch size 1)."""
    return max(g for g in range(1, max_groups + 1) if channels % g == 0)


def to_tokens(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, H*W, C)"""
    return x.flatten(2).transpose(1, 2)


def to_map(tokens: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(B, H*W, C) -> (B, C, H, W)"""
    return tokens.transpose(1, 2).reshape(tokens.shape[0], -1, height, width)
