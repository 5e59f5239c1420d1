"""Meta-CD (Gao et al., TGRS 2025) as a mask generator, written from the paper's description;
its repository (zhangda1018/Meta-CD) carries no licence, so nothing of it is copied.

Each image goes through two encoders: a frozen segmentation foundation model (FastSAM in the
paper) and a trainable ResNet-34. Their features at strides 4, 8, 16, 32 are brought to the same
widths and blended by a learnt gate g = σ(α): g·cnn + (1 − g)·foundation. A shared decoder
(adapters, then upsample-and-concatenate blocks) gives each image a stride-4 feature map and a
small semantic embedding; the change branch concatenates the two maps, runs residual blocks,
and is modulated by a spatial attention computed from both embeddings. A threshold module then
predicts a per-pixel threshold map from the change features: the mask is `p ≥ threshold`,
trained through a straight-through binarisation.

FastSAM (a YOLOv8-seg network, AGPL-3.0 `ultralytics`) and its weights cannot be had here, so
the foundation branch is any timm `features_only` encoder: by default `cspdarknet53`, the CSP
family of FastSAM's backbone; `foundation_weights` / `cnn_weights` take local weight files.
Without foundation weights the branch is trained rather than frozen (`freeze_foundation`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ConfigFile, resolve_config
from ..errors import BadInputError
from .change_model import ChangeModel


@dataclass
class MetaCDConfig(ConfigFile):
    input_size: int = 256
    foundation: str = "cspdarknet53"  # timm encoder standing in for FastSAM's backbone
    foundation_weights: str = ""  # local .pth / .safetensors file; empty: random init
    freeze_foundation: bool = True  # honoured when foundation weights are given
    cnn: str = "resnet34"
    cnn_weights: str = ""
    foundation_indices: tuple = (2, 3, 4, 5)  # timm feature indices at strides 4, 8, 16, 32
    cnn_indices: tuple = (1, 2, 3, 4)
    widths: tuple = (40, 80, 160, 160)  # adapter widths at strides 4, 8, 16, 32
    decoder_dim: int = 64  # stride-4 decoded width per image
    embed_dim: int = 8  # per-image semantic embedding for the spatial attention
    change_blocks: int = 6
    head_dim: int = 16
    threshold_widths: tuple = (256, 128, 64)
    threshold_pool: int = 15  # average-pooling window smoothing the threshold map
    threshold_scale: float = 10.0  # the threshold's pre-activation is scaled by this
    threshold_sigmoid: tuple = (2.0, 0.2)  # compressed sigmoid 1 / (a + e^-x) + b: thresholds in (b, b + 1/a)
    binary_loss_weight: float = 1.0  # weight of the binarised map's loss
    straight_through_scale: float = 0.2  # gradient of the binarisation w.r.t. the probability
    mean: tuple = (0.485, 0.456, 0.406)
    std: tuple = (0.229, 0.224, 0.225)
    mask_threshold: float = 0.5  # on the decision map, i.e. p = learnt threshold
    name: str = "meta_cd"

    def use_backbone_weights(self, weights: str) -> None:
        self.foundation_weights = weights

    @classmethod
    def resolve(cls, name_or_path: str) -> "MetaCDConfig":
        return resolve_config(cls, META_CD_PRESETS, name_or_path or "meta_cd", "Meta-CD")


META_CD_PRESETS = {
    "meta_cd": MetaCDConfig(),
    # A CPU-sized variant for the benchmarks here (YOLOv5-s-sized CSP encoder, ResNet-18).
    "meta_cd_small": MetaCDConfig(input_size=128, foundation="cs3darknet_s", foundation_indices=(1, 2, 3, 4),
                                  cnn="resnet18", widths=(24, 48, 64, 64),
                                  decoder_dim=32, change_blocks=2, threshold_widths=(32, 16, 16), threshold_pool=7,
                                  name="meta_cd_small"),
    "meta_cd_tiny": MetaCDConfig(input_size=64, foundation="test_resnet", cnn="test_resnet", foundation_indices=(1, 2, 3, 4),
                                 widths=(8, 8, 16, 16), decoder_dim=8, embed_dim=4, change_blocks=1, head_dim=4,
                                 threshold_widths=(8, 8, 4), threshold_pool=3, name="meta_cd_tiny"),
}


def timm_encoder(name: str, indices: tuple, weights: str) -> nn.Module:
    import timm

    encoder = timm.create_model(name, features_only=True, pretrained=False, out_indices=tuple(indices))
    if weights:
        path = Path(weights)
        if not path.is_file():
            raise BadInputError(f"Meta-CD encoder weights not found: {weights} (a local timm {name} .pth or "
                                ".safetensors file)")
        timm.models.load_checkpoint(encoder, str(path), strict=False)
    if list(encoder.feature_info.reduction()) != [4, 8, 16, 32]:
        raise BadInputError(f"encoder {name} with indices {indices} gives strides {encoder.feature_info.reduction()}, "
                            "Meta-CD needs 4, 8, 16, 32")
    return encoder


class GatedEncoder(nn.Module):
    """Foundation and CNN features at strides 4–32, blended by a learnt gate σ(α) (α starts at 0)."""

    def __init__(self, config: MetaCDConfig) -> None:
        super().__init__()
        self.foundation = timm_encoder(config.foundation, config.foundation_indices, config.foundation_weights)
        self.frozen = config.freeze_foundation and bool(config.foundation_weights)
        if self.frozen:
            self.foundation.requires_grad_(False)
        self.cnn = timm_encoder(config.cnn, config.cnn_indices, config.cnn_weights)
        found_channels = self.foundation.feature_info.channels()
        self.cnn_to_foundation = nn.ModuleList(
            nn.Conv2d(c, f, 1) for c, f in zip(self.cnn.feature_info.channels(), found_channels))
        self.adapters = nn.ModuleList(
            nn.Sequential(nn.Conv2d(f, w, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU())
            for f, w in zip(found_channels, config.widths))
        self.gate_logit = nn.Parameter(torch.zeros(1))

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        """(B, 3, S, S) → [(B, widths[i], S / 4·2^i, S / 4·2^i)] for i = 0..3."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            foundation = self.foundation(image)
        cnn = [project(f) for project, f in zip(self.cnn_to_foundation, self.cnn(image))]
        gate = torch.sigmoid(self.gate_logit)
        return [adapter(gate * c + (1 - gate) * f) for adapter, c, f in zip(self.adapters, cnn, foundation)]


def conv_bn_relu(in_channels: int, out_channels: int, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU())


class UpBlock(nn.Module):
    """Upsample the coarser map ×2 (transposed conv), concatenate the finer one, two convs."""

    def __init__(self, coarse: int, fine: int, out: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(coarse, coarse, 2, stride=2)
        self.fuse = nn.Sequential(conv_bn_relu(coarse + fine, out), conv_bn_relu(out, out))

    def forward(self, coarse: torch.Tensor, fine: torch.Tensor) -> torch.Tensor:
        return self.fuse(torch.cat([self.up(coarse), fine], 1))


class ImageDecoder(nn.Module):
    """Strides 32 → 4 for one image: its stride-4 features and semantic embedding."""

    def __init__(self, widths: tuple, decoder_dim: int, embed_dim: int) -> None:
        super().__init__()
        w4, w8, w16, w32 = widths
        self.up16, self.up8 = UpBlock(w32, w16, w8), UpBlock(w8, w8, w4)
        self.up4 = UpBlock(w4, w4, decoder_dim)
        self.embed = nn.Conv2d(decoder_dim, embed_dim, 1)

    def forward(self, feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        s4, s8, s16, s32 = feats
        x = self.up16(s32, s16)  # (B, w8, S/16, S/16)
        x = self.up8(x, s8)  # (B, w4, S/8, S/8)
        x = self.up4(x, s4)  # (B, decoder_dim, S/4, S/4)
        return x, self.embed(x)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn_relu(channels, channels), nn.Conv2d(channels, channels, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


class BinarizeStraightThrough(torch.autograd.Function):
    """1[p ≥ threshold]; backward passes `scale`·grad to p and −grad to the threshold."""

    @staticmethod
    def forward(ctx, prob: torch.Tensor, threshold: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return (prob >= threshold).to(prob.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return ctx.scale * grad, -grad, None


class ThresholdMap(nn.Module):
    """A per-pixel threshold from the change features weighted by the (detached) probability."""

    def __init__(self, in_channels: int, widths: tuple, pool: int, scale: float, sigmoid: tuple) -> None:
        super().__init__()
        layers, channels = [], in_channels
        for width in widths:
            layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.PReLU()]
            channels = width
        self.body = nn.Sequential(*layers, nn.AvgPool2d(pool, stride=1, padding=pool // 2),
                                  nn.Conv2d(channels, 1, 1, bias=False), nn.AvgPool2d(pool, stride=1, padding=pool // 2))
        self.scale, (self.sigmoid_a, self.sigmoid_b) = scale, sigmoid

    def forward(self, features: torch.Tensor, prob: torch.Tensor) -> torch.Tensor:
        x = self.body(features.detach() * prob.detach()) * self.scale
        return 1.0 / (self.sigmoid_a + torch.exp(-x)) + self.sigmoid_b  # (B, 1, h, w) in (b, b + 1/a)


class MetaCDNet(nn.Module):
    def __init__(self, config: MetaCDConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = GatedEncoder(config)
        self.decoder = ImageDecoder(config.widths, config.decoder_dim, config.embed_dim)
        self.attention = nn.Sequential(conv_bn_relu(2 * config.embed_dim, max(1, config.embed_dim // 2), 1),
                                       nn.Conv2d(max(1, config.embed_dim // 2), config.head_dim, 1), nn.Sigmoid())
        self.change = nn.Sequential(*(ResidualBlock(2 * config.decoder_dim) for _ in range(config.change_blocks)))
        self.head = conv_bn_relu(2 * config.decoder_dim, config.head_dim, 1)
        self.classifier = nn.Conv2d(config.head_dim, 1, 1)
        self.threshold = ThresholdMap(config.head_dim, config.threshold_widths, config.threshold_pool,
                                      config.threshold_scale, config.threshold_sigmoid)
        self._change_features: torch.Tensor | None = None

    def forward(self, source: torch.Tensor, edited: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) pair → (B, 1, S, S) edit logits; the threshold map is `threshold_map(logits)`."""
        source_map, source_embed = self.decoder(self.encoder(source))
        edited_map, edited_embed = self.decoder(self.encoder(edited))
        attention = self.attention(torch.cat([source_embed, edited_embed], 1))  # (B, head_dim, S/4, S/4)
        change = self.head(self.change(torch.cat([source_map, edited_map], 1))) * attention
        self._change_features = change
        logits = self.classifier(change)
        return F.interpolate(logits, size=source.shape[-2:], mode="bilinear", align_corners=False)

    def threshold_map(self, logits: torch.Tensor) -> torch.Tensor:
        """The learnt threshold at every pixel of `logits` (from the same forward call)."""
        prob = torch.sigmoid(logits)
        small_prob = F.interpolate(prob, size=self._change_features.shape[-2:], mode="bilinear", align_corners=False)
        threshold = self.threshold(self._change_features, small_prob)
        return F.interpolate(threshold, size=logits.shape[-2:], mode="bilinear", align_corners=False)

    def auxiliary_loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Loss of the binarised map 1[p ≥ threshold] against the mask (trains the threshold module)."""
        binary = BinarizeStraightThrough.apply(torch.sigmoid(logits), self.threshold_map(logits),
                                               self.config.straight_through_scale)
        return self.config.binary_loss_weight * F.mse_loss(binary, target)

    def decision_map(self, logits: torch.Tensor) -> torch.Tensor:
        """σ(logit(p) − logit(threshold)): above 0.5 exactly where p ≥ the learnt threshold."""
        threshold = self.threshold_map(logits).clamp(1e-4, 1 - 1e-4)
        return torch.sigmoid(logits.float() - torch.logit(threshold.float()))


class MetaCD(ChangeModel):
    config_class = MetaCDConfig
    net_class = MetaCDNet
