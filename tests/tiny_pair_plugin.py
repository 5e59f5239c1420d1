"""A user's plugin, as `benco train --plugin tiny_pair_plugin` imports it: a pair model of its own,
registered in IMDL-BenCo's MODELS under its class name, that imdl-sigma knows nothing about."""

from dataclasses import dataclass

import torch
from IMDLBenCo.registry import MODELS
from torch import nn

from imdl_sigma.baselines.change_model import ChangeModel
from imdl_sigma.config import ConfigFile, resolve_config


@dataclass
class TinyPairConfig(ConfigFile):
    input_size: int = 32
    width: int = 4
    mean: tuple = (0.5, 0.5, 0.5)
    std: tuple = (0.5, 0.5, 0.5)
    mask_threshold: float = 0.5
    name: str = "tiny_pair"

    @classmethod
    def resolve(cls, name_or_path: str) -> "TinyPairConfig":
        return resolve_config(cls, {"tiny_pair": cls()}, name_or_path or "tiny_pair", "tiny pair model")


class TinyPairNet(nn.Module):
    """Two convolutions over the stacked pair → edit logits at the input size."""

    auxiliary_loss = None  # no term beyond BCE + Dice

    def __init__(self, config: TinyPairConfig) -> None:
        super().__init__()
        self.config = config
        self.layers = nn.Sequential(nn.Conv2d(6, config.width, 3, padding=1), nn.ReLU(), nn.Conv2d(config.width, 1, 1))

    def forward(self, source: torch.Tensor, edited: torch.Tensor) -> torch.Tensor:
        return self.layers(torch.cat([source, edited], dim=1))


@MODELS.register_module()
class TinyPairModel(ChangeModel):
    config_class = TinyPairConfig
    net_class = TinyPairNet
