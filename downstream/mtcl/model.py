"""MTCL: a SegFormer (MiT encoder + all-MLP decoder) localiser with a restoration head, trained on
an image and a degraded copy of it (multi-task: localisation on both views, restoration of the
degraded view, and consistency of the two views' encoder features).

From the paper's description: MiT-B5 encoder; SegFormer decoder (768 channels); sigmoid mask
head; restoration head on the decoder feature; loss 0.2·BCE + 0.8·Dice on both views, L1 on the
restoration residual, 0.02 × a contrastive term on the stage-2 encoder features. What the paper
does not fix is ours and a config field: the degradation (Gaussian blur + noise, random strength)
and the contrastive form (InfoNCE between the two views at the same positions, temperature 0.1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from imdl_sigma.errors import MissingWeightsError
from imdl_sigma.model.losses import dice_loss

ENCODERS = {  # SegformerConfig fields of the MiT sizes used here
    "b5": dict(hidden_sizes=[64, 128, 320, 512], depths=[3, 6, 40, 3], num_attention_heads=[1, 2, 5, 8],
               decoder_hidden_size=768),
    "b2": dict(hidden_sizes=[64, 128, 320, 512], depths=[3, 4, 6, 3], num_attention_heads=[1, 2, 5, 8],
               decoder_hidden_size=768),
    "tiny": dict(hidden_sizes=[16, 32, 40, 64], depths=[1, 1, 1, 1], num_attention_heads=[1, 1, 2, 2],
                 decoder_hidden_size=32),
}


@dataclass
class MTCLConfig:
    encoder_size: str = "b5"
    bce_weight: float = 0.2
    dice_weight: float = 0.8
    restore_weight: float = 1.0
    contrast_weight: float = 0.02
    temperature: float = 0.1
    contrast_positions: int = 256  # stage-2 positions sampled per image for the contrastive term
    blur_sigma: tuple = (0.0, 1.5)
    noise_std: tuple = (0.0, 0.04)  # in normalised-image units
    extra: dict = field(default_factory=dict)


def build_encoder(size: str, weights: str):
    """transformers' SegformerModel (the MiT encoder); weights: a Hugging Face folder (e.g. a local
    copy of nvidia/mit-b5) or a state-dict file in its key format; '' = random."""
    from transformers import SegformerConfig, SegformerModel

    if weights and Path(weights).is_dir():
        try:
            return SegformerModel.from_pretrained(weights, local_files_only=True)
        except (OSError, ValueError) as err:
            raise MissingWeightsError(f"MTCL: no SegFormer encoder in {weights} ({err.__class__.__name__})") from None
    model = SegformerModel(SegformerConfig(**ENCODERS[size]))
    if weights:
        state = torch.load(weights, map_location="cpu")
        missing, _ = model.load_state_dict(state.get("state_dict", state), strict=False)
        if len(missing) == len(model.state_dict()):
            raise MissingWeightsError(f"MTCL: {weights} holds no SegFormer encoder weights (key format of "
                                      "transformers' SegformerModel expected)")
    return model


class MLPDecoder(nn.Module):
    """SegFormer's all-MLP decoder: every stage → `dim` channels at 1/4 scale, concatenated, fused."""

    def __init__(self, in_channels: list[int], dim: int) -> None:
        super().__init__()
        self.project = nn.ModuleList(nn.Conv2d(c, dim, 1) for c in in_channels)
        self.fuse = nn.Sequential(nn.Conv2d(dim * len(in_channels), dim, 1, bias=False), nn.BatchNorm2d(dim), nn.ReLU())

    def forward(self, stages: list[torch.Tensor]) -> torch.Tensor:
        size = stages[0].shape[-2:]  # 1/4 of the input
        maps = [F.interpolate(p(s), size=size, mode="bilinear", align_corners=False) for p, s in zip(self.project, stages)]
        return self.fuse(torch.cat(maps, dim=1))  # (B, dim, H/4, W/4)


class MTCL(nn.Module):
    """IMDL-BenCo contract: forward(image, mask, ...) → backward_loss, pred_mask, pred_label,
    visual_loss, visual_image. Constructor arguments are str/float (command-line flags)."""

    def __init__(self, encoder_weights: str = "", encoder_size: str = "b5", contrast_weight: float = 0.02,
                 restore_weight: float = 1.0) -> None:
        super().__init__()
        self.config = MTCLConfig(encoder_size=encoder_size, contrast_weight=contrast_weight,
                                 restore_weight=restore_weight)
        self.encoder = build_encoder(encoder_size, encoder_weights)
        hidden = list(self.encoder.config.hidden_sizes)
        dim = self.encoder.config.decoder_hidden_size
        self.decoder = MLPDecoder(hidden, dim)
        self.mask_head = nn.Conv2d(dim, 1, 1)
        self.restore_head = nn.Sequential(nn.Conv2d(dim, dim // 2, 3, padding=1), nn.ReLU(), nn.Conv2d(dim // 2, 3, 1))

    def encode(self, image: torch.Tensor) -> list[torch.Tensor]:
        return list(self.encoder(pixel_values=image, output_hidden_states=True).hidden_states)  # 4 × (B, C_i, H/2^(i+2), ...)

    def heads(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """(mask logits, restoration residual, encoder stages), both maps at the input size."""
        stages = self.encode(image)
        feature = self.decoder(stages)
        size = image.shape[-2:]
        logits = F.interpolate(self.mask_head(feature), size=size, mode="bilinear", align_corners=False)
        residual = F.interpolate(self.restore_head(feature), size=size, mode="bilinear", align_corners=False)
        return logits, residual, stages

    def degrade(self, image: torch.Tensor) -> torch.Tensor:
        """A random blur + noise of each image (no gradient)."""
        with torch.no_grad():
            out = []
            for single in image:
                sigma = float(torch.empty(1).uniform_(*self.config.blur_sigma))
                if sigma > 0.1:
                    radius = max(1, int(3 * sigma))
                    taps = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
                    kernel = torch.exp(-taps ** 2 / (2 * sigma ** 2))
                    kernel = kernel / kernel.sum()
                    x = single[:, None]
                    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1))
                    x = F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), kernel.view(1, 1, -1, 1))
                    single = x[:, 0]
                std = float(torch.empty(1).uniform_(*self.config.noise_std))
                out.append(single + torch.randn_like(single) * std)
            return torch.stack(out)

    def contrast(self, clean: torch.Tensor, degraded: torch.Tensor) -> torch.Tensor:
        """InfoNCE: a stage-2 position of the clean view matches the same position of the degraded view."""
        batch, channels = clean.shape[:2]
        a = F.normalize(clean.flatten(2).transpose(1, 2), dim=-1)  # (B, N, C)
        b = F.normalize(degraded.flatten(2).transpose(1, 2), dim=-1)
        n = a.shape[1]
        keep = torch.linspace(0, n - 1, min(n, self.config.contrast_positions), device=a.device).long()
        a, b = a[:, keep], b[:, keep]
        logits = a @ b.transpose(1, 2) / self.config.temperature  # (B, k, k)
        target = torch.arange(len(keep), device=a.device).expand(batch, -1)
        return F.cross_entropy(logits.flatten(0, 1), target.flatten())

    def seg_loss(self, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return (self.config.bce_weight * F.binary_cross_entropy_with_logits(logits, mask)
                + self.config.dice_weight * dice_loss(logits, mask))

    def forward(self, image: torch.Tensor, mask: torch.Tensor | None = None, *args, **kwargs) -> dict:
        image = image.float()
        if not self.training or mask is None:
            logits, _, _ = self.heads(image)
            edit_prob = torch.sigmoid(logits)
            return {"backward_loss": None, "pred_mask": edit_prob, "pred_label": edit_prob.flatten(1).amax(1),
                    "visual_loss": {}, "visual_image": {"pred_mask": edit_prob}}
        mask = mask.float()
        degraded = self.degrade(image)
        logits, residual, stages = self.heads(torch.cat([image, degraded]))
        clean_logits, degraded_logits = logits.chunk(2)
        _, degraded_residual = residual.chunk(2)
        clean_stage2, degraded_stage2 = stages[1].chunk(2)
        seg = self.seg_loss(clean_logits, mask) + self.seg_loss(degraded_logits, mask)
        restore = F.l1_loss(degraded_residual, image - degraded)
        contrast = self.contrast(clean_stage2, degraded_stage2)
        loss = seg + self.config.restore_weight * restore + self.config.contrast_weight * contrast
        edit_prob = torch.sigmoid(clean_logits)
        return {
            "backward_loss": loss, "pred_mask": edit_prob, "pred_label": edit_prob.flatten(1).amax(1),
            "visual_loss": {"seg_loss": seg.detach(), "restore_loss": restore.detach(),
                            "contrast_loss": contrast.detach(), "total_loss": loss.detach()},
            "visual_image": {"pred_mask": edit_prob, "restored": (degraded + degraded_residual).detach()},
        }
