"""Mask generators by name: SIGMA, the learned change-detection baselines (DDPM-CD, Meta-CD) and the
PixDiff variants of the paper's Table 1 (§4.2), each as a Predictor (inference.predictor).

`benco annotate --method` labels pairs with any of them; `benco bench masks|robustness` and
`benco demo` score them (bench/scoring.py).
"""

from __future__ import annotations

from .baselines import LEARNED_BASELINES, pixdiff
from .errors import BadInputError
from .inference.predictor import Predictor

PIXDIFF_METHODS = ("pixdiff-fixed", "pixdiff-morph", "pixdiff-otsu")
# Methods that need a trained checkpoint: SIGMA and the learned change-detection baselines.
LEARNED_METHODS = ("sigma",) + tuple(name for name, spec in LEARNED_BASELINES.items() if spec.scored)
KNOWN = f"pixdiff-fixed[@TAU], pixdiff-morph, pixdiff-otsu, {', '.join(LEARNED_METHODS)}"


def expand_methods(methods: list[str], taus: tuple) -> list[str]:
    """`pixdiff-fixed` without @τ stands for the whole τ grid."""
    expanded = []
    for method in methods:
        if method == "pixdiff-fixed":
            expanded += [f"pixdiff-fixed@{tau:g}" for tau in taus]
        elif method.startswith("pixdiff-fixed@") or method in PIXDIFF_METHODS or method in LEARNED_METHODS:
            expanded.append(method)
        else:
            raise BadInputError(f"unknown method '{method}'; known: {KNOWN}")
    return expanded


def fixed_tau(method: str) -> float:
    """τ of `pixdiff-fixed@TAU`."""
    text = method.split("@", 1)[1]
    try:
        return float(text)
    except ValueError:
        raise BadInputError(f"method '{method}': τ must be a number, not '{text}'") from None


def load_predictor(method: str, checkpoint: str | None = None, device: str = "cpu",
                   sigma_overrides: dict | None = None, pixdiff_tau: float = pixdiff.PixDiffConfig.mask_threshold,
                   **sigma_options) -> Predictor:
    """The Predictor of a method name: `sigma` (checkpoint None: the bundled one; `sigma_overrides`:
    dotted keys of its config; `sigma_options`: Annotator.from_checkpoint's backbone_weights,
    grounder, parser, precision), a learned baseline (its trained checkpoint), or a training-free
    PixDiff: `pixdiff`, `pixdiff-fixed` (τ = `pixdiff_tau`) and `pixdiff-fixed@TAU` give the difference
    map thresholded at τ; `pixdiff-morph` (at τ = `pixdiff_tau`) and `pixdiff-otsu` give binary maps."""
    from .baselines.change_model import ChangePredictor
    from .inference.annotator import Annotator

    if method == "sigma":
        return Annotator.from_checkpoint(checkpoint, device, overrides=sigma_overrides, **sigma_options)
    if method in LEARNED_METHODS:
        if not checkpoint:
            raise BadInputError(f"method {method} needs its trained checkpoint: --{method}-checkpoint CKPT "
                                f"(train one with `benco train --model {method} ...`)")
        return ChangePredictor.from_checkpoint(checkpoint, device, architecture=LEARNED_BASELINES[method].architecture,
                                               name=method)
    if method in ("pixdiff", "pixdiff-fixed") or method.startswith("pixdiff-fixed@"):
        tau = fixed_tau(method) if "@" in method else pixdiff_tau
        return pixdiff.PixDiff.from_checkpoint(checkpoint, tau=tau, name=method)
    if method in PIXDIFF_METHODS:
        pixdiff.PixDiff.from_checkpoint(checkpoint)  # training-free: refuses a checkpoint
        return pixdiff.PixDiffMask(method.removeprefix("pixdiff-"), pixdiff_tau)
    raise BadInputError(f"unknown method '{method}'; known: pixdiff, {KNOWN}")


def load_predictors(methods: list[str], checkpoints: dict[str, str | None],
                    sigma_overrides: dict | None = None) -> dict[str, Predictor]:
    """{learned method: its Predictor}; `checkpoints`: method → checkpoint path (SIGMA's
    defaults to the bundled one); `sigma_overrides`: dotted keys of SIGMA's config."""
    return {method: load_predictor(method, checkpoints.get(method), sigma_overrides=sigma_overrides)
            for method in methods if method in LEARNED_METHODS}
