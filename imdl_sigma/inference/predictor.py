"""`Predictor`: what `benco annotate`, `benco bench masks|robustness` and `benco demo` ask of a
mask generator (SIGMA's Annotator, PixDiff, the learned baselines DDPM-CD and Meta-CD), and
`NetworkPredictor`, the part the trained networks share.

A predictor turns pairs into edit maps at each edited image's size; a pixel is edited where
its map exceeds `config.mask_threshold`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from ..data.images import load_pair_batch
from ..data.tensors import normalise, resize_square, upsample_to_images


class ThresholdConfig(Protocol):
    mask_threshold: float  # a pixel is edited where its map exceeds it


class Predictor(Protocol):
    name: str  # the method name scored in benchmarks ("sigma", "ddpm-cd", "pixdiff", ...)
    config: ThresholdConfig
    provenance: dict  # what `benco annotate` records of the mask generator beside each mask

    @classmethod
    def from_checkpoint(cls, path: str | Path | None = None, device: str = "cpu", **kwargs) -> "Predictor": ...

    def predict_proba_batch(self, sources: list, editeds: list) -> list[np.ndarray]:
        """One float32 (H, W) map in [0, 1] per pair, at its edited image's size; sources and
        edited images as PIL images, arrays or paths."""
        ...


class NetworkPredictor:
    """A trained network as a Predictor: pairs → square normalised batches → `network_probs`
    (B, 1, S, S) on the device → maps at each edited image's size. Subclasses give `network_probs`."""

    name: str

    def __init__(self, net: torch.nn.Module, config, checkpoint: str, device: str | torch.device,
                 mean: tuple, std: tuple) -> None:
        self.device = torch.device(device)
        self.net = net.to(self.device).eval()
        self.config, self.checkpoint = config, checkpoint
        self.mean, self.std = mean, std

    @property
    def provenance(self) -> dict:
        return {"checkpoint": self.checkpoint, "config": self.config.name}

    def normalise(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, S, S, 3) uint8 (pinned, from decode workers) → (B, 3, S, S) normalised on the device."""
        return normalise(pixels.to(self.device, non_blocking=True), self.mean, self.std)

    def preprocess(self, images: list[np.ndarray]) -> torch.Tensor:
        """(H, W, 3) uint8 images → (B, 3, S, S) normalised, S = the network's input size."""
        return self.normalise(torch.from_numpy(resize_square(images, self.config.input_size)))

    def network_probs(self, source: torch.Tensor, edited: torch.Tensor, **inputs) -> torch.Tensor:
        """Normalised (B, 3, S, S) pairs (and a subclass's `inputs`) → edit maps (B, 1, S, S)
        float32 on the device."""
        raise NotImplementedError

    def aligned(self, sources: list[np.ndarray], editeds: list[np.ndarray]) -> list[np.ndarray]:
        """The sources the network compares with the edited images (a subclass may align them)."""
        return sources

    def network_inputs(self, sources: list[np.ndarray], editeds: list[np.ndarray], **given) -> dict:
        """A subclass's further inputs of `network_probs` for the loaded pairs (none here)."""
        return given

    def to_images(self, probs: torch.Tensor, sources: list[np.ndarray], editeds: list[np.ndarray]) -> list[np.ndarray]:
        """(B, 1, S, S) maps → one (H, W) map per edited image, at its size (a subclass may
        post-process them with the full-size pair)."""
        return upsample_to_images(probs, editeds)

    @torch.no_grad()
    def batch_probs(self, sources: list[np.ndarray], editeds: list[np.ndarray], **given) -> torch.Tensor:
        """Loaded pairs → the network's (B, 1, S, S) maps on the device."""
        inputs = self.network_inputs(sources, editeds, **given)
        return self.network_probs(self.preprocess(self.aligned(sources, editeds)), self.preprocess(editeds), **inputs)

    def predict_proba_batch(self, sources: list, editeds: list, **given) -> list[np.ndarray]:
        sources, editeds = load_pair_batch(sources, editeds)
        return self.to_images(self.batch_probs(sources, editeds, **given), sources, editeds)
