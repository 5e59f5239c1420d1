"""Models by their name in IMDL-BenCo's MODELS registry, as IMDL-BenCo's own tools build them.

The registry is filled by whoever imports the registering modules first: imdl-sigma's `registry`
package (SIGMA, the learned baselines, the detector wrappers) and a user's plugins; `benco train`
and `benco finetune` import them before any model is looked up here.
"""

from __future__ import annotations

from ..errors import BadInputError


def registered_model(name: str, hint: str = "") -> type:
    """What is registered under `name` in IMDL-BenCo's MODELS (a class, or a function building one);
    `hint` ends the error message when there is none."""
    from IMDLBenCo.registry import MODELS

    if not MODELS.has(name):  # MODELS.get would print its whole table before raising
        raise BadInputError(f"no model '{name}' in IMDL-BenCo's MODELS: import the module that registers it "
                            f"first (`import registry` for imdl-sigma's models){hint}")
    return MODELS.get(name)
