"""DDPM-CD (Bandara et al., WACV 2025) as a mask generator, written from the paper and the
architecture its public code (wgcban/ddpm-cd) describes, not copied from it.

A denoising-diffusion UNet, pretrained with the DDPM objective on unlabeled images of the
domain and then frozen, is run on both images noised to a few timesteps t ∈ {50, 100, 400};
the outputs of its decoder levels are the features. A light change head merges each level's
features over the timesteps, takes |f_source − f_edited|, adds the coarser level's refined
difference, refines it (conv + channel/spatial squeeze-excitation), upsamples, and classifies
every pixel at the finest level.

The UNet is diffusers' `UNet2DModel` configured as SR3's (channel multipliers, attention at the
16 px level), the noise schedule SR3's linear one. No pretrained DDPM can be downloaded here:
`benco train --model ddpm-unet` pretrains one on the training pairs' images (both sides), as
DDPM-CD pretrains on its domain's unlabeled imagery, and `--backbone-weights` hands that
checkpoint (or a diffusers UNet2DModel folder) to `benco train --model ddpm-cd`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ConfigFile, resolve_config
from ..errors import BadInputError
from .change_model import ChangeModel


def _sr3_unet(widths: list[int], layers: int, groups: int, attention_level: int) -> dict:
    """UNet2DModel arguments: one level per width, self-attention at level `attention_level` only."""
    down = ["AttnDownBlock2D" if i == attention_level else "DownBlock2D" for i in range(len(widths))]
    up = ["AttnUpBlock2D" if i == len(widths) - 1 - attention_level else "UpBlock2D" for i in range(len(widths))]
    return dict(block_out_channels=widths, layers_per_block=layers, norm_num_groups=groups,
                down_block_types=down, up_block_types=up)


@dataclass
class DDPMCDConfig(ConfigFile):
    input_size: int = 256
    # Pretrained DDPM: a `benco train --model ddpm-unet` checkpoint or a diffusers UNet2DModel folder.
    unet_weights: str = ""
    freeze_unet: bool = True  # the paper's setting: only the change head learns
    unet: dict = field(default_factory=lambda: _sr3_unet([64, 128, 256, 256, 512], 2, 32, 3))
    # SR3's linear β schedule, as DDPM-CD's pretraining uses.
    num_train_timesteps: int = 2000
    beta_start: float = 1e-6
    beta_end: float = 1e-2
    feature_timesteps: tuple = (50, 100, 400)
    # Decoder levels whose features the head differences, counted from the coarsest (0).
    feature_levels: tuple = (0, 1, 2, 3, 4)
    classifier_dim: int = 64
    se_reduction: int = 2
    noise_seed: int = 0  # the same noise for both images, so identical images give identical features
    mean: tuple = (0.5, 0.5, 0.5)  # images in [-1, 1], as the DDPM was trained
    std: tuple = (0.5, 0.5, 0.5)
    mask_threshold: float = 0.5
    name: str = "ddpm_cd"

    def use_backbone_weights(self, weights: str) -> None:
        self.unet_weights = weights

    @classmethod
    def resolve(cls, name_or_path: str) -> "DDPMCDConfig":
        return resolve_config(cls, DDPM_CD_PRESETS, name_or_path or "ddpm_cd", "DDPM-CD")


DDPM_CD_PRESETS = {
    "ddpm_cd": DDPMCDConfig(),
    # A CPU-sized variant for the benchmarks here (128 px, 4 levels, attention at the 16 px level
    # as SR3's; on CPU attention over the 32 px level alone costs 4× the whole UNet's convolutions).
    "ddpm_cd_small": DDPMCDConfig(input_size=128, unet=_sr3_unet([16, 32, 64, 64], 1, 8, 3), feature_levels=(0, 1, 2, 3),
                                  classifier_dim=32, name="ddpm_cd_small"),
    "ddpm_cd_tiny": DDPMCDConfig(input_size=32, unet=_sr3_unet([8, 16], 1, 4, 1), feature_timesteps=(50, 400),
                                 feature_levels=(0, 1), classifier_dim=8, name="ddpm_cd_tiny"),
}


class NoiseSchedule(nn.Module):
    """ᾱ_t of a linear β schedule; `noised(x, t, noise)` = √ᾱ_t·x + √(1−ᾱ_t)·noise."""

    def __init__(self, num_timesteps: int, beta_start: float, beta_end: float) -> None:
        super().__init__()
        betas = torch.linspace(beta_start, beta_end, num_timesteps, dtype=torch.float64)
        self.register_buffer("alpha_bar", torch.cumprod(1 - betas, 0).float(), persistent=False)

    def noised(self, x: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        alpha_bar = self.alpha_bar[t].view(-1, 1, 1, 1)
        return alpha_bar.sqrt() * x + (1 - alpha_bar).sqrt() * noise


def build_unet(config: DDPMCDConfig) -> nn.Module:
    from diffusers import UNet2DModel

    return UNet2DModel(sample_size=config.input_size, in_channels=3, out_channels=3, **config.unet)


def load_pretrained_unet(unet: nn.Module, weights: str) -> None:
    """Weights from a `ddpm-unet` checkpoint (.pt) or a diffusers UNet2DModel folder, local only."""
    path = Path(weights)
    if path.is_dir():
        from diffusers import UNet2DModel

        state = UNet2DModel.from_pretrained(str(path), local_files_only=True).state_dict()
    elif path.is_file():
        from ..model.checkpoint import load_checkpoint

        state = {k[len("unet."):]: v for k, v in load_checkpoint(path, architecture="DDPMUNet")["model"].items()
                 if k.startswith("unet.")}
    else:
        raise BadInputError(f"DDPM UNet weights not found: {weights} (give a `benco train --model ddpm-unet` "
                            "checkpoint or a diffusers UNet2DModel folder)")
    try:
        unet.load_state_dict(state)
    except RuntimeError as err:
        raise BadInputError(f"DDPM UNet weights {weights} do not fit the config's `unet` architecture: "
                            f"{str(err).splitlines()[0]}") from None


class DiffusionUNet(nn.Module):
    """The DDPM's UNet and noise schedule (state dict keys `unet.*`, shared by both uses below)."""

    def __init__(self, config: DDPMCDConfig) -> None:
        super().__init__()
        self.config = config
        self.unet = build_unet(config)
        self.schedule = NoiseSchedule(config.num_train_timesteps, config.beta_start, config.beta_end)


class DenoisingNet(DiffusionUNet):
    """The DDPM pretraining objective: predict the noise added to an image at a random t."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        t = torch.randint(0, self.config.num_train_timesteps, (images.shape[0],), device=images.device)
        noise = torch.randn_like(images)
        predicted = self.unet(self.schedule.noised(images, t, noise), t).sample
        return F.mse_loss(predicted, noise)


class DecoderFeatures(DiffusionUNet):
    """The UNet's decoder levels (coarse → fine) for images noised to each feature timestep."""

    def __init__(self, config: DDPMCDConfig) -> None:
        super().__init__(config)
        widths = list(reversed(config.unet["block_out_channels"]))
        self.channels = [widths[level] for level in config.feature_levels]
        self._captured: dict[int, torch.Tensor] = {}
        for level in config.feature_levels:
            block = self.unet.up_blocks[level]
            # A level's features are its block's output before the block upsamples them.
            if block.upsamplers is not None:
                block.upsamplers[0].register_forward_pre_hook(self._capture_input(level))
            else:
                block.register_forward_hook(self._capture_output(level))

    def _capture_input(self, level: int):
        def hook(module, inputs):
            self._captured[level] = inputs[0]
        return hook

    def _capture_output(self, level: int):
        def hook(module, inputs, output):
            self._captured[level] = output
        return hook

    def forward(self, images: torch.Tensor, noise: torch.Tensor) -> list[list[torch.Tensor]]:
        """[timestep][level] feature maps (B, C_level, H_level, W_level)."""
        per_timestep = []
        for t in self.config.feature_timesteps:
            steps = torch.full((images.shape[0],), t, device=images.device, dtype=torch.long)
            self._captured.clear()
            self.unet(self.schedule.noised(images, steps, noise), steps)
            per_timestep.append([self._captured[level] for level in self.config.feature_levels])
        return per_timestep


class ChannelSpatialSE(nn.Module):
    """Concurrent channel and spatial squeeze-excitation (x·cSE + x·sSE)."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.channel_gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, hidden, 1), nn.ReLU(),
                                          nn.Conv2d(hidden, channels, 1), nn.Sigmoid())
        self.spatial_gate = nn.Sequential(nn.Conv2d(channels, 1, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.channel_gate(x) + x * self.spatial_gate(x)


class TimestepMerge(nn.Module):
    """One level's features over T timesteps (C·T channels) → C channels."""

    def __init__(self, channels: int, num_timesteps: int) -> None:
        super().__init__()
        merge = [nn.Conv2d(channels * num_timesteps, channels, 1), nn.ReLU()] if num_timesteps > 1 else []
        self.block = nn.Sequential(*merge, nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class ChangeHead(nn.Module):
    """Level-wise |difference| from coarse to fine, each refined and carried to the next level."""

    def __init__(self, channels: list[int], num_timesteps: int, classifier_dim: int, se_reduction: int) -> None:
        super().__init__()
        self.merges = nn.ModuleList(TimestepMerge(c, num_timesteps) for c in channels)
        self.refines = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, c_next, 3, padding=1), nn.ReLU(), ChannelSpatialSE(c_next, se_reduction))
            for c, c_next in zip(channels[:-1], channels[1:]))
        self.classifier = nn.Sequential(nn.Conv2d(channels[-1], classifier_dim, 3, padding=1), nn.ReLU(),
                                        nn.Conv2d(classifier_dim, 1, 3, padding=1))

    def forward(self, source_feats: list[list[torch.Tensor]], edited_feats: list[list[torch.Tensor]]) -> torch.Tensor:
        carried = None
        for level, merge in enumerate(self.merges):
            source = merge(torch.cat([feats[level] for feats in source_feats], 1))
            edited = merge(torch.cat([feats[level] for feats in edited_feats], 1))
            diff = (source - edited).abs()  # (B, C_level, H_level, W_level)
            if carried is not None:
                diff = diff + F.interpolate(carried, size=diff.shape[-2:], mode="bilinear", align_corners=False)
            if level < len(self.refines):
                carried = self.refines[level](diff)  # (B, C_next, H_level, W_level)
        return self.classifier(diff)  # (B, 1, H_finest, W_finest)


class DDPMCDNet(nn.Module):
    def __init__(self, config: DDPMCDConfig) -> None:
        super().__init__()
        self.config = config
        self.features = DecoderFeatures(config)
        self.head = ChangeHead(self.features.channels, len(config.feature_timesteps), config.classifier_dim,
                               config.se_reduction)
        if config.freeze_unet:
            self.features.requires_grad_(False)

    @property
    def unet(self) -> nn.Module:
        return self.features.unet

    def train(self, mode: bool = True) -> "DDPMCDNet":
        super().train(mode)
        if self.config.freeze_unet:
            self.features.eval()
        return self

    def forward(self, source: torch.Tensor, edited: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) pair → (B, 1, S, S) edit logits."""
        generator = torch.Generator().manual_seed(self.config.noise_seed)
        noise = torch.randn(source.shape, generator=generator).to(source.device, source.dtype)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.config.freeze_unet):
            source_feats = self.features(source, noise)
            edited_feats = self.features(edited, noise)
        logits = self.head(source_feats, edited_feats)
        return F.interpolate(logits, size=source.shape[-2:], mode="bilinear", align_corners=False)

    def auxiliary_loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return logits.new_zeros(())

    def decision_map(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits.float())


class DDPMCD(ChangeModel):
    """DDPM-CD in IMDL-BenCo's model contract; the pretrained UNet comes from `config.unet_weights`."""

    config_class = DDPMCDConfig
    net_class = DDPMCDNet

    def __init__(self, config: str = "", bce_weight: float = 1.0, dice_weight: float = 1.0) -> None:
        super().__init__(config, bce_weight, dice_weight)
        if self.config.unet_weights:
            load_pretrained_unet(self.net.unet, self.config.unet_weights)
        elif self.config.freeze_unet:
            raise BadInputError("DDPM-CD freezes a pretrained DDPM UNet: give its weights (`--backbone-weights "
                                "PATH`: a `benco train --model ddpm-unet` checkpoint or a diffusers UNet2DModel "
                                "folder), or train the UNet too with `--set freeze_unet=false`")


class DDPMUNet(nn.Module):
    """DDPM pretraining of DDPM-CD's UNet on both images of each pair (masks unused), in
    IMDL-BenCo's model contract; its checkpoint is DDPM-CD's `unet_weights`."""

    config_class = DDPMCDConfig

    def __init__(self, config: str = "", bce_weight: float = 1.0, dice_weight: float = 1.0) -> None:
        super().__init__()
        model_config = config if isinstance(config, DDPMCDConfig) else DDPMCDConfig.resolve(config)
        self.config = model_config
        self.net = DenoisingNet(model_config)

    def forward(self, image: torch.Tensor, mask: torch.Tensor | None = None, label: torch.Tensor | None = None,
                source_image: torch.Tensor | None = None, *args, **kwargs) -> dict:
        images = image.float() if source_image is None else torch.cat([source_image.float(), image.float()])
        loss = self.net(images)
        return {"backward_loss": loss, "visual_loss": {"denoising_mse": loss.detach()}, "pred_mask": None,
                "pred_label": None, "visual_image": {}}
