"""`Annotator`: the Python API — (source, edited, instruction) → uint8 mask at the edited size."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from ..config import SigmaConfig
from ..photometric.align import align_source
from ..grounding.parser import InstructionParser
from ..grounding.rules import RULES
from ..model.checkpoint import BUNDLED, build_from_checkpoint
from .predictor import NetworkPredictor
from ..data.images import load_pair_batch
from .quality import quality_score, quality_signals
from .refine import pixel_difference, refine

log = logging.getLogger(__name__)


class Annotator(NetworkPredictor):
    """SIGMA with its instruction branch. Without a grounder the intent map is the uniform ε
    prior (the offline default); with one, each instruction is parsed (rules or an LLM) and
    its concepts are grounded with GroundingDINO + SAM 2.1, then fused by ACSF. `parser`: a
    parser object (grounding.parser.build_parser), rules by default.

    `precision`: "bf16" runs the network under bfloat16 autocast on CUDA (the default; CPU
    always runs float32), "fp32" turns autocast off."""

    name = "sigma"

    def __init__(self, model, config: SigmaConfig, checkpoint: str, device: str | torch.device = "cpu",
                 grounder=None, parser: InstructionParser = RULES, precision: str = "bf16") -> None:
        if precision not in ("bf16", "fp32"):
            raise ValueError(f"unknown precision '{precision}' (bf16 or fp32)")
        self.grounder, self.parser = grounder, parser
        if grounder is not None and config.grounding == "none":
            log.warning("checkpoint was trained without grounding (uniform ε prior); grounding at "
                        "inference changes its input distribution")
        super().__init__(model, config, checkpoint, device, config.backbone.mean, config.backbone.std)
        self.autocast = precision == "bf16" and self.device.type == "cuda"

    @classmethod
    def from_checkpoint(cls, path: str | Path | None = None, device: str = "cpu",
                        backbone_weights: str | None = None, overrides: dict | None = None,
                        **kwargs) -> "Annotator":
        """`path=None` loads the bundled stand-in checkpoint; `overrides`: dotted config keys (e.g.
        {"backbone.image_size": 224}); kwargs: grounder, parser, precision."""
        model, config, _ = build_from_checkpoint(path, backbone_weights, overrides)
        return cls(model, config, str(path or BUNDLED), device, **kwargs)

    @property
    def provenance(self) -> dict:
        return {**super().provenance, "grounding": "langsam" if self.grounder is not None else "none"}

    def intent_maps(self, parses: list[dict], sources: list[np.ndarray], editeds: list[np.ndarray]) -> torch.Tensor | None:
        """(B, 1, m, m) intent maps from the grounder, or None (uniform ε prior) without one."""
        if self.grounder is None:
            return None
        from ..grounding.intent import intent_maps

        maps = intent_maps(self.grounder, parses, sources, editeds, self.config.instruction.epsilon)
        return torch.from_numpy(np.stack(maps))[:, None]

    @torch.no_grad()
    def network_probs(self, source: torch.Tensor, edited: torch.Tensor,
                      intent_maps: torch.Tensor | None = None) -> torch.Tensor:
        """Normalised (B, 3, S, S) pairs → edit probabilities (B, 1, S, S) float32, on the device
        (no host sync: the caller copies them back once per batch)."""
        if intent_maps is not None:
            intent_maps = intent_maps.to(self.device, non_blocking=True)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            output = self.net(source, edited, intent_maps)
        return torch.sigmoid(output.logits.float())

    def aligned(self, sources: list[np.ndarray], editeds: list[np.ndarray]) -> list[np.ndarray]:
        """Each source with its pair's global shift, blur, tone and JPEG applied (`config.align`): the
        network's input. The refinement still measures the raw difference, so it keeps to pairs
        whose outside is untouched."""
        return [align_source(source, edited, self.config.align) for source, edited in zip(sources, editeds)]

    def network_inputs(self, sources: list[np.ndarray], editeds: list[np.ndarray], parses: list[dict] | None = None,
                       intent_maps: torch.Tensor | None = None) -> dict:
        """`predict_proba_batch(sources, editeds, parses=None, intent_maps=None)`: intent maps
        (B, 1, m, m), e.g. from a cache, take precedence; otherwise they are computed from
        `parses` when a grounder is configured."""
        if intent_maps is None and parses is not None:
            intent_maps = self.intent_maps(parses, sources, editeds)
        return {"intent_maps": intent_maps}

    def to_images(self, probs: torch.Tensor, sources: list[np.ndarray], editeds: list[np.ndarray]) -> list[np.ndarray]:
        """The maps at each edited image's size, boundary-refined when `config.refine` is on."""
        maps = super().to_images(probs, sources, editeds)
        return [self.refine(m, d) for m, d in zip(maps, self.differences(sources, editeds))]

    def unrefined_maps(self, sources: list[np.ndarray], editeds: list[np.ndarray],
                       parses: list[dict] | None = None) -> list[np.ndarray]:
        """Loaded pairs → the network's maps at each edited image's size, before refinement."""
        return super().to_images(self.batch_probs(sources, editeds, parses=parses), sources, editeds)

    def differences(self, sources: list[np.ndarray], editeds: list[np.ndarray]) -> list[np.ndarray | None]:
        """Each pair's raw |Δ| at the edited size when the refinement needs it (None otherwise)."""
        if not self.config.refine.enabled:
            return [None] * len(editeds)
        return [pixel_difference(s, e) for s, e in zip(sources, editeds)]

    def refine(self, prob: np.ndarray, difference: np.ndarray | None) -> np.ndarray:
        """(H, W) probability at the edited size → the boundary-refined map (config.refine)."""
        return refine(prob, difference, self.config.mask_threshold, self.config.refine).prob

    def refine_with_signals(self, prob: np.ndarray, difference: np.ndarray | None) -> tuple[np.ndarray, dict]:
        """(H, W) probability at the edited size and the pair's |Δ| (None: not computed) → (the
        refined map, the quality score's signals)."""
        refinement = refine(prob, difference, self.config.mask_threshold, self.config.refine)
        return refinement.prob, quality_signals(prob, refinement, self.config.mask_threshold, self.config.quality)

    def refine_scored(self, prob: np.ndarray, difference: np.ndarray | None) -> tuple[np.ndarray, float]:
        """As `refine_with_signals`, with the mask's quality score (its estimated IoU with the true
        edit, in [0, 1]) instead of the signals."""
        refined, signals = self.refine_with_signals(prob, difference)
        return refined, quality_score(signals, self.config.quality)

    def parse(self, instructions: list[str]) -> list[dict]:
        from ..grounding.cache import parse_many

        return parse_many(instructions, self.parser)

    def predict_batch(self, sources: list, editeds: list, instructions: list[str] | None = None,
                      with_quality: bool = False) -> list:
        """uint8 0/255 masks (instructions are grounded when a grounder is configured); with
        `with_quality`, (mask, quality) tuples, quality in [0, 1] the mask's estimated IoU."""
        sources, editeds = load_pair_batch(sources, editeds)
        parses = self.parse(instructions or [""] * len(editeds)) if self.grounder is not None else None
        maps = self.unrefined_maps(sources, editeds, parses)
        scored = [self.refine_scored(m, d) for m, d in zip(maps, self.differences(sources, editeds))]
        masks = [((m > self.config.mask_threshold).astype(np.uint8) * 255, quality) for m, quality in scored]
        return masks if with_quality else [mask for mask, _ in masks]

    def predict(self, source, edited, instruction: str = "", with_quality: bool = False):
        """One pair: PIL images, arrays or paths → (H, W) uint8 mask (0/255) at the edited size;
        with `with_quality`, (mask, quality)."""
        return self.predict_batch([source], [edited], [instruction], with_quality)[0]
