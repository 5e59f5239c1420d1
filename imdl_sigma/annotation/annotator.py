"""`Annotator`: the Python API — (source, edited, instruction) → uint8 mask at the edited size."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..config import SigmaConfig
from ..data.datasets import match_size
from ..data.images import load_rgb
from ..training.checkpoint import BUNDLED, build_from_checkpoint

log = logging.getLogger(__name__)


class Annotator:
    def __init__(self, model, config: SigmaConfig, checkpoint: str, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.config = config
        self.checkpoint = checkpoint
        self._mean = torch.tensor(config.backbone.mean).view(1, 3, 1, 1)
        self._std = torch.tensor(config.backbone.std).view(1, 3, 1, 1)

    @classmethod
    def from_checkpoint(cls, path: str | Path | None = None, device: str = "cpu",
                        backbone_weights: str | None = None) -> "Annotator":
        """`path=None` loads the bundled stand-in checkpoint."""
        model, config, _ = build_from_checkpoint(path, backbone_weights)
        return cls(model, config, str(path or BUNDLED), device)

    @property
    def provenance(self) -> dict:
        return {"checkpoint": self.checkpoint, "config": self.config.name, "grounding": self.config.grounding}

    def preprocess(self, images: list[np.ndarray]) -> torch.Tensor:
        """(H, W, 3) uint8 images → (B, 3, S, S) normalised, S = the backbone's input size."""
        side = self.config.backbone.image_size
        resized = [cv2.resize(image, (side, side), interpolation=cv2.INTER_LINEAR) for image in images]
        batch = torch.from_numpy(np.stack(resized)).permute(0, 3, 1, 2).float() / 255.0
        return ((batch - self._mean) / self._std).to(self.device)

    @torch.no_grad()
    def predict_proba_batch(self, sources: list, editeds: list, intent_maps: torch.Tensor | None = None) -> list[np.ndarray]:
        """Edit probability maps, each at its edited image's size (float32 in [0, 1])."""
        editeds = [load_rgb(e, "edited image") for e in editeds]
        sources = [match_size(load_rgb(s, "source image"), e, "input") for s, e in zip(sources, editeds)]
        output = self.model(self.preprocess(sources), self.preprocess(editeds), intent_maps)
        edit_prob = torch.sigmoid(output.logits.float())  # (B, 1, S, S)
        maps = []
        for prob, edited in zip(edit_prob, editeds):
            full = F.interpolate(prob[None], size=edited.shape[:2], mode="bilinear", align_corners=False)
            maps.append(full[0, 0].cpu().numpy())
        return maps

    def predict_batch(self, sources: list, editeds: list, instructions: list[str] | None = None) -> list[np.ndarray]:
        """uint8 0/255 masks. Instructions are used once a grounder is configured; without one
        the intent map is the uniform ε prior (the checkpoint's `grounding` says which)."""
        maps = self.predict_proba_batch(sources, editeds)
        threshold = self.config.mask_threshold
        return [(m > threshold).astype(np.uint8) * 255 for m in maps]

    def predict(self, source, edited, instruction: str = "") -> np.ndarray:
        """One pair: PIL images, arrays or paths → (H, W) uint8 mask (0/255) at the edited size."""
        return self.predict_batch([source], [edited], [instruction])[0]
