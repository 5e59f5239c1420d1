"""What the learned change-detection baselines (DDPM-CD, Meta-CD) share with SIGMA's pipeline:
IMDL-BenCo's model contract (so `benco train` builds and trains them through the registry on the
same Stage I pairs, with the same BCE + Dice loss) and the Predictor protocol, through the
same `NetworkPredictor` as SIGMA's Annotator (so `benco bench masks|robustness` score them the
same way)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import BadInputError
from ..inference.predictor import NetworkPredictor
from ..model.checkpoint import apply_weights, load_checkpoint
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


class ChangePredictor(NetworkPredictor):
    """A trained baseline checkpoint as a Predictor (inference.predictor): maps at each edited
    image's size; a pixel is edited where the map exceeds `config.mask_threshold` (0.5)."""

    def __init__(self, net: nn.Module, checkpoint: str, device: str | torch.device = "cpu", name: str = "") -> None:
        super().__init__(net, net.config, checkpoint, device, net.config.mean, net.config.std)
        self.name = name or net.config.name

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "cpu", architecture: str | None = None,
                        name: str = "") -> "ChangePredictor":
        """The checkpoint's own registered model (`architecture`, if given, must be it)."""
        from . import LEARNED_BASELINES

        payload = load_checkpoint(path, architecture=architecture)
        found = payload.get("architecture", "SIGMA")
        specs = {spec.architecture: spec for spec in LEARNED_BASELINES.values() if spec.scored}
        if found not in specs:
            raise BadInputError(f"checkpoint {path} holds a {found} model, not a learned baseline "
                                f"({', '.join(specs)})")
        model_class = specs[found].model_class
        net = model_class.net_class(model_class.config_class.from_dict(payload["config"]))
        apply_weights(net, payload, net.config, path)
        return cls(net, str(path), device, name)

    def network_probs(self, source: torch.Tensor, edited: torch.Tensor) -> torch.Tensor:
        return self.net.decision_map(self.net(source, edited))
