"""Registration of imdl-sigma into IMDL-BenCo's registries, without editing IMDL-BenCo.

`import registry` (or any `benco` subcommand) adds:
  MODELS:   SIGMA
  DATASETS: SigmaPairDataset
After that, IMDL-BenCo's own tools build them by name, e.g. `MODELS.get("SIGMA")(config="tiny")`.
"""

from IMDLBenCo.registry import DATASETS, MODELS

from imdl_sigma.data.datasets import SigmaPairDataset
from imdl_sigma.model import SIGMA

for _registry, _name, _obj in ((MODELS, "SIGMA", SIGMA), (DATASETS, "SigmaPairDataset", SigmaPairDataset)):
    if not _registry.has(_name):
        _registry.register_module(name=_name, module=_obj)

__all__ = ["SIGMA", "SigmaPairDataset"]
