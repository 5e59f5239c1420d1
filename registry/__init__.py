"""Registration of imdl-sigma into IMDL-BenCo's registries, without editing IMDL-BenCo.

`import registry` (or any `benco` subcommand) adds:
  MODELS:   SIGMA; MTCL (downstream/mtcl, from its paper); MVSSNetLocal (MVSS-Net with local
            ResNet-50 weights instead of a download at construction); CatNetLocal (CAT-Net
            without its hard-coded .cuda() calls on CPU machines); DDPMCD, DDPMUNet (its DDPM
            pretraining) and MetaCD, the learned baselines of Table 1 (imdl_sigma/baselines)
  DATASETS: SigmaPairDataset
After that, IMDL-BenCo's own tools build them by name, e.g. `MODELS.get("SIGMA")(config="tiny")`.
"""

from IMDLBenCo.registry import DATASETS, MODELS

from downstream.catnet import CatNetLocal
from downstream.mtcl import MTCL
from downstream.mvss import MVSSNetLocal
from imdl_sigma.baselines.ddpm_cd import DDPMCD, DDPMUNet
from imdl_sigma.baselines.meta_cd import MetaCD
from imdl_sigma.data.datasets import SigmaPairDataset
from imdl_sigma.model import SIGMA

for _registry, _name, _obj in ((MODELS, "SIGMA", SIGMA), (MODELS, "MTCL", MTCL), (MODELS, "MVSSNetLocal", MVSSNetLocal),
                               (MODELS, "CatNetLocal", CatNetLocal), (MODELS, "DDPMCD", DDPMCD),
                               (MODELS, "DDPMUNet", DDPMUNet), (MODELS, "MetaCD", MetaCD),
                               (DATASETS, "SigmaPairDataset", SigmaPairDataset)):
    if not _registry.has(_name):
        _registry.register_module(name=_name, module=_obj)

__all__ = ["CatNetLocal", "DDPMCD", "DDPMUNet", "MTCL", "MetaCD", "MVSSNetLocal", "SIGMA", "SigmaPairDataset"]
