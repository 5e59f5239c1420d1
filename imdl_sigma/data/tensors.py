"""Images to and from a network's square input: resize, normalise, and maps back to image size.

Shared by every predictor (SIGMA's Annotator, the learned baselines) and the annotation
pipeline's decode workers."""

from __future__ import annotations

import cv2
import numpy as np
import torch


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
