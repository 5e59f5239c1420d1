"""The SIGMA network and its IMDL-BenCo-facing wrapper."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..config import SigmaConfig
from .backbone import Backbone
from .decoder import MaskDecoder
from .difference import SemanticDifference
from .fusion import BidirectionalRefinement, IntentEncoder
from .losses import mask_model_output
from .pixel_evidence import PixelEvidence


@dataclass
class SigmaOutput:
    logits: torch.Tensor  # (B, 1, H, W) mask logits at the input size
    differences: list  # refined DRB maps D_l, each (B, d, h, w): Stage II's difference vectors


class SigmaNet(nn.Module):
    """source, edited (B, 3, H, W), intent map (B, 1, h, w) or None → mask logits (B, 1, H, W)."""

    def __init__(self, config: SigmaConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = Backbone(config.backbone)
        channels = self.backbone.out_channels
        # Single-scale ablation keeps only the deepest level.
        self.level_indices = tuple(range(len(channels))) if config.difference.multi_scale else (len(channels) - 1,)
        self.difference = SemanticDifference(tuple(channels[i] for i in self.level_indices), config.difference)
        self.intent = IntentEncoder(config.difference.dim)
        self.refinement = BidirectionalRefinement(config.difference.dim, config.fusion)
        evidence = config.pixel_evidence
        self.pixel_evidence = (
            PixelEvidence(evidence, config.backbone.mean, config.backbone.std) if evidence.enabled else None
        )
        self.decoder = MaskDecoder(config.difference.dim, len(self.level_indices), config.decoder,
                                   evidence_width=evidence.width if evidence.enabled else 0)

    @property
    def patch_size(self) -> int:
        return self.backbone.patch_size

    def lattice(self, height: int, width: int) -> tuple[int, int]:
        patch = self.patch_size
        if height % patch or width % patch:
            raise ValueError(f"input {height}×{width} is not a multiple of the patch size {patch}")
        return height // patch, width // patch

    def encode(self, source: torch.Tensor, edited: torch.Tensor) -> tuple[list, list]:
        """Both images through the backbone in one batch: per-level (source, edited) features."""
        features = self.backbone(torch.cat([source, edited], dim=0))
        features = [features[i] for i in self.level_indices]
        batch = source.shape[0]
        return [f[:batch] for f in features], [f[batch:] for f in features]

    def prior(self, intent_map: torch.Tensor | None, batch: int, lattice: tuple[int, int], like: torch.Tensor) -> torch.Tensor:
        """The intent map on the lattice; the uniform ε prior when absent or when the branch is off."""
        epsilon = self.config.instruction.epsilon
        if intent_map is None or not self.config.instruction.enabled:
            return torch.full((batch, 1, *lattice), epsilon, dtype=like.dtype, device=like.device)
        intent_map = intent_map.to(dtype=like.dtype, device=like.device)
        if intent_map.shape[-2:] != lattice:
            intent_map = F.interpolate(intent_map, size=lattice, mode="bilinear", align_corners=False)
        return intent_map

    def evidence(self, source: torch.Tensor, edited: torch.Tensor) -> torch.Tensor | None:
        """Pixel-evidence features (B, w, H, W) of the normalised images; None when the branch is off."""
        return self.pixel_evidence(source, edited) if self.pixel_evidence is not None else None

    def forward_features(
        self, source_feats: list, edited_feats: list, intent_map: torch.Tensor | None, size: tuple[int, int],
        evidence: torch.Tensor | None = None,
    ) -> SigmaOutput:
        """Everything after the backbone (the 'SIGMA head'); features may come from a cache.

        `evidence`: the pixel-evidence features (B, w, H, W) when that branch is enabled."""
        refined, visual = self.difference(source_feats, edited_feats)
        lattice = tuple(visual.shape[-2:])
        instruction = self.intent(self.prior(intent_map, visual.shape[0], lattice, visual))
        consensus = self.refinement(visual, instruction)
        logits = self.decoder(refined, consensus, size, evidence)
        return SigmaOutput(logits=logits, differences=refined)

    def forward(self, source: torch.Tensor, edited: torch.Tensor, intent_map: torch.Tensor | None = None,
                features: tuple[list, list] | None = None) -> SigmaOutput:
        """`features`: (source, edited) backbone features from a cache; the backbone is then skipped."""
        if source.shape != edited.shape:
            raise ValueError(f"source {tuple(source.shape)} and edited {tuple(edited.shape)} differ in shape")
        self.lattice(*edited.shape[-2:])
        source_feats, edited_feats = features if features is not None else self.encode(source, edited)
        return self.forward_features(source_feats, edited_feats, intent_map, tuple(edited.shape[-2:]),
                                     self.evidence(source, edited))


class SIGMA(nn.Module):
    """IMDL-BenCo model contract around SigmaNet.

    `image` is the edited image and `source_image` the source, both normalised as IMDL-BenCo's
    transforms do; `intent_map` is optional. Returns `backward_loss`, `pred_mask`
    (probabilities), `pred_label`, `visual_loss` and `visual_image`.
    Constructor arguments are typed str/int/float because IMDL-BenCo's train.py turns them
    into command-line flags (a bool flag would parse "False" as True).
    """

    def __init__(
        self,
        config: str = "base",
        backbone_weights: str = "",
        bce_weight: float = 1.0,
        dice_weight: float = 1.0,
    ) -> None:
        super().__init__()
        # A preset name or config JSON path (as a command-line flag), or a SigmaConfig (from Python).
        sigma_config = config if isinstance(config, SigmaConfig) else SigmaConfig.resolve(config)
        if backbone_weights:
            sigma_config.use_backbone_weights(backbone_weights)
        self.net = SigmaNet(sigma_config)
        self.bce_weight = bce_weight
        self.dice_weight = dice_weight

    @property
    def config(self) -> SigmaConfig:
        return self.net.config

    def forward(
        self,
        image: torch.Tensor,
        mask: torch.Tensor | None = None,
        label: torch.Tensor | None = None,
        source_image: torch.Tensor | None = None,
        intent_map: torch.Tensor | None = None,
        *args,
        features: tuple[list, list] | None = None,
        with_internals: bool = False,
        **kwargs,
    ) -> dict:
        if source_image is None:
            raise ValueError(
                "SIGMA needs the source image of each pair: use a paired dataset "
                "(imdl_sigma.data.SigmaPairDataset) that yields 'source_image'"
            )
        output = self.net(source_image.float(), image.float(), intent_map, features=features)
        result = mask_model_output(output.logits, mask, self.bce_weight, self.dice_weight)
        if with_internals:  # Stage II: logits and the DRB difference maps, through the same (DDP) call
            result["logits"], result["differences"] = output.logits, output.differences
        return result
