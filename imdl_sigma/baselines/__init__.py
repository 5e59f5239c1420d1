"""Training-free and learned mask generators compared with SIGMA (paper Table 1).

Learned baselines (`LEARNED_BASELINES`): `benco train --model NAME` trains them on the same
Stage I pairs as SIGMA; `benco bench masks --methods NAME --NAME-checkpoint CKPT` scores them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LearnedBaseline:
    architecture: str  # name in IMDL-BenCo's MODELS
    module: str  # where the model class lives
    scored: bool = True  # produces masks (`ddpm-unet` is DDPM-CD's pretraining only)

    @property
    def model_class(self):
        import importlib

        return getattr(importlib.import_module(self.module), self.architecture)


LEARNED_BASELINES = {
    "ddpm-unet": LearnedBaseline("DDPMUNet", "imdl_sigma.baselines.ddpm_cd", scored=False),
    "ddpm-cd": LearnedBaseline("DDPMCD", "imdl_sigma.baselines.ddpm_cd"),
    "meta-cd": LearnedBaseline("MetaCD", "imdl_sigma.baselines.meta_cd"),
}
