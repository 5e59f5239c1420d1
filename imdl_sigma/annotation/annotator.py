"""`Annotator`: the Python API — (source, edited, instruction) → uint8 mask at the edited size."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import torch

from ..config import SigmaConfig
from ..data.datasets import match_size
from ..data.images import load_rgb
from ..training.checkpoint import BUNDLED, build_from_checkpoint
from .refine import pixel_difference, refine_probability

log = logging.getLogger(__name__)


def load_pair_images(sources: list, editeds: list) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Sources and edited images (PIL, arrays or paths) as RGB arrays, each source at its edited size."""
    editeds = [load_rgb(e, "edited image") for e in editeds]
    return [match_size(load_rgb(s, "source image"), e, "input") for s, e in zip(sources, editeds)], editeds


def resize_square(images: list[np.ndarray], side: int) -> np.ndarray:
    """(H, W, 3) uint8 images → (B, side, side, 3) uint8, bilinear (what decode workers hand over)."""
    return np.stack([cv2.resize(image, (side, side), interpolation=cv2.INTER_LINEAR) for image in images])


def normalise(pixels: torch.Tensor, mean: tuple, std: tuple) -> torch.Tensor:
    """(B, S, S, 3) uint8 on any device → (B, 3, S, S) float32 there, normalised with mean / std."""
    batch = pixels.permute(0, 3, 1, 2).float() / 255.0
    mean_t = torch.tensor(mean, device=pixels.device).view(1, 3, 1, 1)
    std_t = torch.tensor(std, device=pixels.device).view(1, 3, 1, 1)
    return (batch - mean_t) / std_t


def to_network_batch(images: list[np.ndarray], side: int, mean: tuple, std: tuple, device) -> torch.Tensor:
    """(H, W, 3) uint8 images → (B, 3, side, side) float on `device`, normalised with mean / std."""
    return normalise(torch.from_numpy(resize_square(images, side)).to(device), mean, std)


def resize_map(prob: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(S, S) float32 map → (H, W) float32, bilinear with half-pixel centres (as F.interpolate,
    align_corners=False)."""
    return cv2.resize(prob, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)


def upsample_to_images(maps: torch.Tensor, images: list[np.ndarray]) -> list[np.ndarray]:
    """(B, 1, S, S) maps → one float32 (H, W) array per image, at that image's size.
    One device → host copy for the batch; the resizing runs on the host."""
    host = maps[:, 0].float().cpu().numpy()
    return [resize_map(m, image.shape[:2]) for m, image in zip(host, images)]


class Annotator:
    """SIGMA with its instruction branch. Without a grounder the intent map is the uniform ε
    prior (the offline default); with one, each instruction is parsed (rules or an LLM) and
    its concepts are grounded with GroundingDINO + SAM 2.1, then fused by ACSF.

    `precision`: "bf16" runs the network under bfloat16 autocast on CUDA (the default; CPU
    always runs float32), "fp32" turns autocast off."""

    def __init__(self, model, config: SigmaConfig, checkpoint: str, device: str | torch.device = "cpu",
                 grounder=None, parser: str = "rules", llm=None, precision: str = "bf16") -> None:
        if precision not in ("bf16", "fp32"):
            raise ValueError(f"unknown precision '{precision}' (bf16 or fp32)")
        self.grounder, self.parser, self.llm = grounder, parser, llm
        if grounder is not None and config.grounding == "none":
            log.warning("checkpoint was trained without grounding (uniform ε prior); grounding at "
                        "inference changes its input distribution")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.config = config
        self.checkpoint = checkpoint
        self.autocast = precision == "bf16" and self.device.type == "cuda"

    @classmethod
    def from_checkpoint(cls, path: str | Path | None = None, device: str = "cpu",
                        backbone_weights: str | None = None, **kwargs) -> "Annotator":
        """`path=None` loads the bundled stand-in checkpoint; kwargs: grounder, parser, llm."""
        model, config, _ = build_from_checkpoint(path, backbone_weights)
        return cls(model, config, str(path or BUNDLED), device, **kwargs)

    @property
    def provenance(self) -> dict:
        return {"checkpoint": self.checkpoint, "config": self.config.name,
                "grounding": "langsam" if self.grounder is not None else "none"}

    def intent_maps(self, parses: list[dict], sources: list[np.ndarray], editeds: list[np.ndarray]) -> torch.Tensor | None:
        """(B, 1, m, m) intent maps from the grounder, or None (uniform ε prior) without one."""
        if self.grounder is None:
            return None
        from ..grounding.intent import intent_maps

        maps = intent_maps(self.grounder, parses, sources, editeds, self.config.instruction.epsilon)
        return torch.from_numpy(np.stack(maps))[:, None]

    def preprocess(self, images: list[np.ndarray]) -> torch.Tensor:
        """(H, W, 3) uint8 images → (B, 3, S, S) normalised, S = the backbone's input size."""
        return self.normalise(torch.from_numpy(resize_square(images, self.config.input_size)))

    def normalise(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, S, S, 3) uint8 (pinned, from decode workers) → (B, 3, S, S) normalised on the device."""
        backbone = self.config.backbone
        return normalise(pixels.to(self.device, non_blocking=True), backbone.mean, backbone.std)

    @torch.no_grad()
    def network_probs(self, source: torch.Tensor, edited: torch.Tensor,
                      intent_maps: torch.Tensor | None = None) -> torch.Tensor:
        """Normalised (B, 3, S, S) pairs → edit probabilities (B, 1, S, S) float32, on the device
        (no host sync: the caller copies them back once per batch)."""
        if intent_maps is not None:
            intent_maps = intent_maps.to(self.device, non_blocking=True)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            output = self.model(source, edited, intent_maps)
        return torch.sigmoid(output.logits.float())

    @torch.no_grad()
    def predict_proba_batch(self, sources: list, editeds: list, parses: list[dict] | None = None,
                            intent_maps: torch.Tensor | None = None) -> list[np.ndarray]:
        """Edit probability maps, each at its edited image's size (float32 in [0, 1]).

        `intent_maps` (B, 1, m, m), e.g. from a cache, take precedence; otherwise they are
        computed from `parses` when a grounder is configured."""
        sources, editeds = load_pair_images(sources, editeds)
        if intent_maps is None and parses is not None:
            intent_maps = self.intent_maps(parses, sources, editeds)
        probs = self.network_probs(self.preprocess(sources), self.preprocess(editeds), intent_maps)
        maps = upsample_to_images(probs, editeds)
        if not self.config.refine.enabled:
            return maps
        return [self.refine(m, pixel_difference(s, e)) for m, s, e in zip(maps, sources, editeds)]

    def refine(self, prob: np.ndarray, difference: np.ndarray) -> np.ndarray:
        """(H, W) probability at the edited size → the boundary-refined map (config.refine)."""
        return refine_probability(prob, difference, self.config.mask_threshold, self.config.refine)

    def parse(self, instructions: list[str]) -> list[dict]:
        from ..grounding.cache import parse_many

        return parse_many(instructions, self.parser, llm=self.llm)

    def predict_batch(self, sources: list, editeds: list, instructions: list[str] | None = None) -> list[np.ndarray]:
        """uint8 0/255 masks (instructions are grounded when a grounder is configured)."""
        parses = self.parse(instructions or [""] * len(editeds)) if self.grounder is not None else None
        maps = self.predict_proba_batch(sources, editeds, parses)
        threshold = self.config.mask_threshold
        return [(m > threshold).astype(np.uint8) * 255 for m in maps]

    def predict(self, source, edited, instruction: str = "") -> np.ndarray:
        """One pair: PIL images, arrays or paths → (H, W) uint8 mask (0/255) at the edited size."""
        return self.predict_batch([source], [edited], [instruction])[0]
