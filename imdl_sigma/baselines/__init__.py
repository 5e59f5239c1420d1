"""Training-free and learned mask generators compared with SIGMA (paper Sec. 4.1, Table 1).

`LEARNED_BASELINES` names the learned ones as the command line does and as IMDL-BenCo's MODELS does
(`registry` registers them there): `benco train --model NAME` builds one by that name and trains it
on the same Stage I pairs as SIGMA (training/stage1.py); `benco bench masks --methods NAME
--NAME-checkpoint CKPT` scores it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LearnedBaseline:
    architecture: str  # name in IMDL-BenCo's MODELS
    module: str  # where the model class lives (imported on first use: `benco --help` stays light)
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
