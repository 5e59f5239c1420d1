"""Registration of imdl-sigma into IMDL-BenCo's registries, without editing IMDL-BenCo.

`import registry` adds to IMDL-BenCo's
  MODELS:   SIGMA; MTCL (downstream/mtcl, from its paper); MVSSNetLocal (MVSS-Net with local
            ResNet-50 weights instead of a download at construction); CatNetLocal (CAT-Net
            without its hard-coded .cuda() calls on CPU machines); DDPMUNet (DDPM-CD's DDPM
            pretraining), DDPMCD and MetaCD, the learned baselines of Table 1
            (imdl_sigma.baselines.LEARNED_BASELINES)
  DATASETS: SigmaPairDataset
After that, IMDL-BenCo's own tools build them by name, e.g. `MODELS.get("SIGMA")(config="tiny")`, and
so do `benco train`, `benco finetune` and `benco bench detectors`, which import this package (and the
user's plugins, imdl_sigma/cli/plugins.py) before they build a model.
"""

from IMDLBenCo.registry import DATASETS, MODELS

from downstream.catnet import CatNetLocal
from downstream.mtcl import MTCL
from downstream.mvss import MVSSNetLocal
from imdl_sigma.baselines import LEARNED_BASELINES
from imdl_sigma.data.datasets import SigmaPairDataset
from imdl_sigma.model import SIGMA

REGISTERED_MODELS = {"SIGMA": SIGMA, "MTCL": MTCL, "MVSSNetLocal": MVSSNetLocal, "CatNetLocal": CatNetLocal,
                     **{spec.architecture: spec.model_class for spec in LEARNED_BASELINES.values()}}

for _name, _model in REGISTERED_MODELS.items():
    if not MODELS.has(_name):
        MODELS.register_module(name=_name, module=_model)
if not DATASETS.has("SigmaPairDataset"):
    DATASETS.register_module(name="SigmaPairDataset", module=SigmaPairDataset)

__all__ = ["REGISTERED_MODELS", "SigmaPairDataset"]
