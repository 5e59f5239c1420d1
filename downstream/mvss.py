"""MVSS-Net with its ImageNet ResNet-50 from a local file (or random), never downloaded.

IMDL-BenCo's `MVSSNet.__init__` builds two ResNet-50s through a function that always calls
`model_zoo.load_url(...)`. While this wrapper builds the model, that module-level name answers
with the local state dict (an empty one for random init); IMDL-BenCo itself is not edited.
"""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import torch
from IMDLBenCo.model_zoo.mvss_net import mvssnet


@contextlib.contextmanager
def resnet_weights_from(path: str):
    state = torch.load(path, map_location="cpu") if path else {}
    original = mvssnet.model_zoo
    mvssnet.model_zoo = SimpleNamespace(load_url=lambda url, *args, **kwargs: state)
    try:
        yield
    finally:
        mvssnet.model_zoo = original


class MVSSNetLocal(mvssnet.MVSSNet):
    """IMDL-BenCo's MVSSNet; `resnet50_weights`: torchvision's ImageNet ResNet-50 file ('' = random).
    Flags are int (IMDL-BenCo's train.py parses a bool flag "False" as True)."""

    def __init__(self, resnet50_weights: str = "", sobel: int = 1, constrain: int = 1) -> None:
        with resnet_weights_from(resnet50_weights):
            super().__init__(sobel=bool(sobel), constrain=bool(constrain))
