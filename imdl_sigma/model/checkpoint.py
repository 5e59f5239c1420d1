"""Checkpoints carry their config: a model can be rebuilt from the file alone."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import torch

from ..config import ConfigFile, SigmaConfig
from ..data.atomic import atomic_write_bytes
from ..errors import BadInputError

log = logging.getLogger(__name__)

BUNDLED = Path(__file__).resolve().parent.parent / "checkpoints" / "sigma_standin.pt"


def save_checkpoint(path: str | Path, model, config: ConfigFile, **state) -> None:
    """Atomic: a crash mid-write leaves the previous checkpoint intact.

    Weights under `config.external_weights()` (a frozen pretrained backbone) are not stored;
    `state` carries the rest (optimizer, step, `architecture`: the registered model's name).
    """
    external = config.external_weights()
    weights = {k: v for k, v in model.state_dict().items() if not any(k.startswith(p) for p in external)}
    payload = {"config": config.to_dict(), "model": weights, **state}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | Path | None = None, architecture: str | None = None) -> dict:
    """The payload of an imdl-sigma checkpoint (None: the bundled one); with `architecture`, it
    must hold that registered model (checkpoints without the field are SIGMA's)."""
    path = Path(path) if path else BUNDLED
    if not path.is_file():
        hint = " (the bundled checkpoint is missing: reinstall imdl-sigma)" if path == BUNDLED else ""
        raise BadInputError(f"checkpoint not found: {path}{hint}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises many types for a corrupt file
        raise BadInputError(f"checkpoint {path} cannot be read: {err}") from None
    if not isinstance(payload, dict) or "config" not in payload or "model" not in payload:
        raise BadInputError(f"{path} is not an imdl-sigma checkpoint (no 'config' / 'model')")
    found = payload.get("architecture", "SIGMA")
    if architecture is not None and found != architecture:
        raise BadInputError(f"checkpoint {path} holds a {found} model, not {architecture}")
    return payload


def apply_weights(model: torch.nn.Module, payload: dict, config: ConfigFile, source: str | Path,
                  fresh: tuple[str, ...] = ()) -> None:
    """Load a checkpoint's weights into `model`, strictly: every key must apply, except those
    under `config.external_weights()` (a frozen pretrained backbone, reloaded from its own
    weights) and under `fresh` (modules a config switch adds; logged). Anything else missing,
    unexpected or of another shape is a BadInputError naming the keys."""
    try:
        missing, unexpected = model.load_state_dict(payload["model"], strict=False)
    except RuntimeError as err:  # a shape mismatch
        detail = str(err).split("\n\t", 1)[-1].split("\n")[0]
        raise BadInputError(f"checkpoint {source} cannot apply to this model: {detail}") from None
    external = config.external_weights()
    started = [k for k in missing if any(k.startswith(p) for p in fresh)]
    unexplained = [k for k in missing if k not in started and not any(k.startswith(p) for p in external)]
    if unexplained or unexpected:
        raise BadInputError(f"checkpoint {source} does not match the model's config: missing "
                            f"{sorted(unexplained)[:5]}, unexpected {sorted(unexpected)[:5]}")
    if started:
        log.info("checkpoint %s has no weights for %s (%d tensors, added by this config's switches): "
                 "they start from their initialisation", source, ", ".join(p.rstrip(".") for p in fresh), len(started))


def build_from_checkpoint(path: str | Path | None = None, backbone_weights: str | None = None,
                          overrides: dict | None = None):
    """(SigmaNet with the checkpoint's weights, its config, the raw payload). `overrides`: dotted
    config keys set before the model is built, e.g. {"backbone.image_size": 224} or
    {"align.enabled": False}; one that changes the architecture fails as weights that cannot apply."""
    from .sigma import SigmaNet

    payload = load_checkpoint(path, architecture="SIGMA")
    config = SigmaConfig.from_dict(payload["config"]).with_overrides(overrides or {})
    if backbone_weights:
        config.use_backbone_weights(backbone_weights)
    model = SigmaNet(config)
    apply_weights(model, payload, config, path or BUNDLED)
    return model.eval(), config, payload
