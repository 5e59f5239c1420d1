"""What the learned change-detection baselines (DDPM-CD, Meta-CD) share with SIGMA's pipeline:
IMDL-BenCo's model contract (so `benco train` builds and trains them through the registry on the
same Stage I pairs, with the same BCE + Dice loss) and a predictor with the Annotator's
`predict_proba_batch` interface (so `benco bench masks|robustness` score them the same way)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..annotation.annotator import load_pair_images, to_network_batch, upsample_to_images
from ..errors import BadInputError
from ..training.checkpoint import load_checkpoint
from ..model.losses import mask_model_output


class ChangeModel(nn.Module):
    """IMDL-BenCo contract around a change network `net(source, edited) -> logits (B, 1, S, S)`.

    Subclasses set `config_class` and `net_class`; `config` is a preset name or JSON path (a
    command-line flag in IMDL-BenCo's train.py) or a config object (from Python)."""

    config_class: type
    net_class: type

    def __init__(self, config: str = "", bce_weight: float = 1.0, dice_weight: float = 1.0) -> None:
        super().__init__()
        model_config = config if isinstance(config, self.config_class) else self.config_class.resolve(config)
        self.net = self.net_class(model_config)
        self.bce_weight, self.dice_weight = bce_weight, dice_weight

    @property
    def config(self):
        return self.net.config

    def forward(self, image: torch.Tensor, mask: torch.Tensor | None = None, label: torch.Tensor | None = None,
                source_image: torch.Tensor | None = None, *args, **kwargs) -> dict:
        if source_image is None:
            raise ValueError(f"{type(self).__name__} compares two images: use a paired dataset that yields 'source_image'")
        logits = self.net(source_image.float(), image.float())
        return mask_model_output(logits, mask, self.bce_weight, self.dice_weight, auxiliary=self.net.auxiliary_loss)


class ChangePredictor:
    """A trained baseline checkpoint as a mask generator: `predict_proba_batch(sources, editeds)`
    gives maps at each edited image's size; a pixel is edited where the map exceeds 0.5
    (`config.mask_threshold`)."""

    def __init__(self, net: nn.Module, checkpoint: str, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.net = net.to(self.device).eval()
        self.config = net.config
        self.checkpoint = checkpoint

    @classmethod
    def from_checkpoint(cls, path: str | Path, baseline, device: str = "cpu") -> "ChangePredictor":
        """`baseline`: the method's `LearnedBaseline` spec (its registered model class)."""
        payload = load_checkpoint(path, architecture=baseline.architecture)
        model_class = baseline.model_class
        config = model_class.config_class.from_dict(payload["config"])
        net = model_class.net_class(config)
        missing, unexpected = net.load_state_dict(payload["model"], strict=False)
        if missing or unexpected:
            raise BadInputError(f"checkpoint {path} does not match its config: missing {missing[:5]}, "
                                f"unexpected {unexpected[:5]}")
        return cls(net, str(path), device)

    @torch.no_grad()
    def predict_proba_batch(self, sources: list, editeds: list) -> list[np.ndarray]:
        sources, editeds = load_pair_images(sources, editeds)
        side, mean, std = self.config.input_size, self.config.mean, self.config.std
        logits = self.net(to_network_batch(sources, side, mean, std, self.device),
                          to_network_batch(editeds, side, mean, std, self.device))
        return upsample_to_images(self.net.decision_map(logits), editeds)
