"""Shared encoders: frozen DINOv2 (the paper) and the small CNN stand-in (bundled checkpoint).

Both return a list of three feature maps on one patch lattice, (B, C_l, H/p, W/p), from
ImageNet-normalised RGB of shape (B, 3, H, W) with H and W multiples of the patch size p.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..config import BackboneConfig
from ..errors import MissingWeightsError
from .layers import ConvResidualBlock, _groups


class Dinov2Backbone(nn.Module):
    """Patch tokens of chosen DINOv2 blocks, after the final LayerNorm, as lattice maps."""

    def __init__(self, config: BackboneConfig) -> None:
        super().__init__()
        self.model = load_dinov2(config)
        self.layers = tuple(config.layers)
        hf_config = self.model.config
        if max(self.layers) >= hf_config.num_hidden_layers:
            raise ValueError(
                f"backbone layers {self.layers} exceed the {hf_config.num_hidden_layers} blocks"
            )
        self.patch_size = hf_config.patch_size
        # CLS token, then register tokens (Dinov2WithRegisters), then patch tokens.
        self.num_prefix_tokens = 1 + getattr(hf_config, "num_register_tokens", 0)
        self.out_channels = (hf_config.hidden_size,) * len(self.layers)

    def forward(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        height, width = pixels.shape[-2] // self.patch_size, pixels.shape[-1] // self.patch_size
        outputs = self.model(pixel_values=pixels, output_hidden_states=True)
        features = []
        for layer in self.layers:
            # hidden_states[0] is the embedding output, hidden_states[i + 1] block i's output.
            tokens = self.model.layernorm(outputs.hidden_states[layer + 1])
            patch_tokens = tokens[:, self.num_prefix_tokens:]  # (B, h*w, C)
            features.append(
                patch_tokens.transpose(1, 2).reshape(pixels.shape[0], -1, height, width)
            )
        return features


def load_dinov2(config: BackboneConfig) -> nn.Module:
    from transformers import AutoModel, Dinov2Config, Dinov2Model

    if not config.pretrained:
        return Dinov2Model(Dinov2Config(**config.arch))
    source = config.name_or_path
    try:
        # Local directory, or the Hugging Face cache when `source` is a hub id; never the network.
        return AutoModel.from_pretrained(source, local_files_only=True)
    except (OSError, ValueError) as err:
        kind = "directory" if Path(source).exists() else "Hugging Face cache entry"
        raise MissingWeightsError(
            f"DINOv2 weights not found ({kind} '{source}': {err.__class__.__name__}). "
            "Download them where there is internet, e.g. "
            "`huggingface-cli download facebook/dinov2-base --local-dir DIR`, "
            "then pass --backbone-weights DIR (or set HF_HOME to a cache that holds them)."
        ) from None


class StandinCNN(nn.Module):
    """A small CNN trained from scratch: the bundled checkpoint's stand-in for DINOv2-B.

    Stages run at strides 2, 4 and 8; each stage's output is average-pooled to the
    `patch_size` lattice so the three levels line up like ViT blocks do.
    """

    def __init__(
        self, widths: tuple = (32, 64, 96), patch_size: int = 8, layers: tuple = (0, 1, 2)
    ) -> None:
        super().__init__()
        if patch_size % 8:
            raise ValueError("StandinCNN's patch_size must be a multiple of 8")
        self.patch_size = patch_size
        self.stages = nn.ModuleList()
        in_channels = 3
        for width in widths:
            self.stages.append(
                nn.Sequential(
                    nn.Conv2d(in_channels, width, 3, stride=2, padding=1, bias=False),
                    nn.GroupNorm(_groups(width), width),
                    nn.ReLU(inplace=True),
                    ConvResidualBlock(width, width),
                )
            )
            in_channels = width
        self.layers = tuple(layers)
        self.out_channels = tuple(widths[i] for i in self.layers)

    def forward(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        lattice = (pixels.shape[-2] // self.patch_size, pixels.shape[-1] // self.patch_size)
        features = []
        x = pixels
        for stage in self.stages:
            x = stage(x)  # stride doubles each stage
            features.append(F.adaptive_avg_pool2d(x, lattice))
        return [features[i] for i in self.layers]


class Backbone(nn.Module):
    """Selects the encoder and enforces freezing (eval mode, no gradients) when configured."""

    def __init__(self, config: BackboneConfig) -> None:
        super().__init__()
        if config.kind == "dinov2":
            self.encoder = Dinov2Backbone(config)
        elif config.kind == "standin_cnn":
            self.encoder = StandinCNN(**config.arch, layers=tuple(config.layers))
        else:
            raise ValueError(f"unknown backbone kind '{config.kind}'")
        self.frozen = config.freeze
        if self.frozen:
            self.encoder.requires_grad_(False)
            self.encoder.eval()
        self.patch_size = self.encoder.patch_size
        self.out_channels = self.encoder.out_channels

    def train(self, mode: bool = True) -> "Backbone":
        super().train(mode)
        if self.frozen:
            self.encoder.eval()
        return self

    def forward(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        if self.frozen:
            with torch.no_grad():
                return self.encoder(pixels)
        return self.encoder(pixels)
