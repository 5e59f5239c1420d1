"""CAT-Net on a machine without CUDA.

IMDL-BenCo's `Cat_Net` calls `.cuda()` on its loss in `__init__` and on its DCT volume in
`forward`. `CatNetLocal` runs both with those calls answered by the object itself when CUDA is
absent (on a GPU nothing changes); the state dict is Cat_Net's, so checkpoints interchange.
"""

from __future__ import annotations

import contextlib

import torch
from IMDLBenCo.model_zoo.cat_net.cat_net import Cat_Net
from torch import nn


@contextlib.contextmanager
def cuda_calls_skipped():
    if torch.cuda.is_available():
        yield
        return
    module_cuda, tensor_cuda = nn.Module.cuda, torch.Tensor.cuda
    nn.Module.cuda = lambda self, *args, **kwargs: self
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    try:
        yield
    finally:
        nn.Module.cuda, torch.Tensor.cuda = module_cuda, tensor_cuda


class CatNetLocal(Cat_Net):
    def __init__(self, cfg_file: str) -> None:
        with cuda_calls_skipped():
            super().__init__(cfg_file)

    def forward(self, *args, **kwargs):
        with cuda_calls_skipped():
            return super().forward(*args, **kwargs)
