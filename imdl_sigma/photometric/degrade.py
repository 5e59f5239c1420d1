"""Image degradations: the Fig. 4 post-processing (JPEG, noise, blur), the other global attacks
of copy-move benchmarks in the manner of CoMoFoD (box blur, brightness and contrast adjustment,
colour reduction), and the regeneration of a whole image by a latent editor (resampling or a VAE
roundtrip, misregistration, tone drift).

Used by the synthetic generator at training time and by the robustness benchmark, so the
perturbations a model is trained with are the ones it is scored under.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from ..errors import BadInputError

POSTPROCESS_KINDS = ("jpeg", "noise", "blur")  # Fig. 4: the generator's post-processing draws from these
ATTACK_KINDS = POSTPROCESS_KINDS + ("box_blur", "brightness", "contrast", "colour_levels")
ADJUST_FLOOR = 0.01  # the fixed low end of the brightness and contrast ranges (CoMoFoD's adjustments)
LEVELS = np.arange(256, dtype=np.float64) / 255.0  # the 8-bit grey levels on [0, 1]


def jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=int(quality))
    return np.asarray(Image.open(buffer).convert("RGB"))


def degrade(image: np.ndarray, kind: str, level: float, rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3) uint8 → the same image after one post-processing step.

    jpeg: quality; noise: Gaussian σ on [0, 1] images; blur: Gaussian σ in pixels;
    box_blur: side of the averaging kernel (odd px); brightness: levels [0, 1] mapped linearly onto
    [0.01, level]; contrast: levels [0.01, level] stretched onto [0, 1] (clipped outside);
    colour_levels: grey levels kept per channel (uniform quantisation to bin centres).
    """
    check_level(kind, level)
    if kind == "jpeg":
        return jpeg_roundtrip(image, int(level))
    if kind == "noise":
        noisy = image.astype(np.float32) / 255 + rng.normal(0, level, image.shape)
        return np.clip(noisy * 255 + 0.5, 0, 255).astype(np.uint8)
    if kind == "blur":
        return cv2.GaussianBlur(image, (0, 0), float(level))
    if kind == "box_blur":
        return cv2.blur(image, (int(level), int(level)))
    if kind == "brightness":
        curve = ADJUST_FLOOR + LEVELS * (level - ADJUST_FLOOR)
    elif kind == "contrast":
        curve = np.clip((LEVELS - ADJUST_FLOOR) / (level - ADJUST_FLOOR), 0, 1)
    else:  # colour_levels
        step = 256 / int(level)
        curve = (np.floor(np.arange(256) / step) * step + step / 2) / 255.0
    return apply_curve(image, curve)


def apply_curve(image: np.ndarray, curve: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 through a tone curve on [0, 1] at every grey level: (256,) for all channels
    or (256, 3) per channel → (H, W, 3) uint8."""
    table = np.clip(curve * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return cv2.LUT(image, table if table.ndim == 1 else table[None])


def check_level(kind: str, level: float) -> None:
    """BadInputError for an unknown kind or a level outside the kind's range."""
    if kind not in ATTACK_KINDS:
        raise BadInputError(f"unknown perturbation '{kind}'; known: {', '.join(ATTACK_KINDS)}")
    valid = {"jpeg": 1 <= level <= 100, "noise": level >= 0, "blur": level > 0,
             "box_blur": level >= 1 and float(level).is_integer() and int(level) % 2 == 1,
             "brightness": ADJUST_FLOOR < level <= 1, "contrast": ADJUST_FLOOR < level <= 1,
             "colour_levels": float(level).is_integer() and 2 <= level <= 256}[kind]
    if not valid:
        raise BadInputError(f"{kind} level {level:g} is out of range (see `benco bench robustness --help`)")


@dataclass
class PostprocessConfig:
    """Fig. 4's post-processing applied to the edited image at training time (either regime)."""

    prob: float = 0.25  # share of pairs that get one post-processing step
    jpeg_quality: tuple = (50, 90)
    noise_std: tuple = (0.005, 0.05)
    blur_sigma: tuple = (0.5, 3.0)


def postprocess(image: np.ndarray, rng: np.random.Generator, config: PostprocessConfig) -> np.ndarray:
    if rng.random() >= config.prob:
        return image
    kind = POSTPROCESS_KINDS[rng.integers(len(POSTPROCESS_KINDS))]
    span = {"jpeg": config.jpeg_quality, "noise": config.noise_std, "blur": config.blur_sigma}[kind]
    level = rng.integers(span[0], span[1], endpoint=True) if kind == "jpeg" else rng.uniform(*span)
    return degrade(image, kind, level, rng)


@dataclass
class RegenerationConfig:
    """A latent editor re-synthesises every pixel: slight misregistration, resampling (or a VAE
    roundtrip), softening up to σ 3, tone drift, noise and re-compression."""

    shift_prob: float = 0.5  # sub-pixel / pixel translation of the whole image (mask moved with it)
    shift_px: float = 1.5  # at most this many pixels along each axis
    resample_prob: float = 0.7
    resample_scale: tuple = (0.4, 0.9)
    blur_prob: float = 0.35
    blur_sigma: tuple = (0.3, 3.0)
    contrast: tuple = (0.9, 1.1)
    brightness: tuple = (-0.05, 0.05)
    gamma: tuple = (0.88, 1.12)
    channel_gain: tuple = (0.96, 1.04)
    noise_std: tuple = (0.0, 0.03)
    jpeg_quality: tuple = (50, 95)


def shift(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
          config: RegenerationConfig) -> tuple[np.ndarray, np.ndarray]:
    """Translate the whole edited image (and its mask) by up to shift_px, sub-pixel."""
    if rng.random() >= config.shift_prob:
        return image, mask
    dx, dy = rng.uniform(-config.shift_px, config.shift_px, size=2)
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    moved_mask = cv2.warpAffine(mask.astype(np.uint8), matrix, (mask.shape[1], mask.shape[0]),
                                flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE) > 0
    return translate(image, dx, dy), moved_mask


def translate(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """(H, W, 3) uint8 moved by (dx, dy) px, sub-pixel (bilinear, reflected border)."""
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(image, matrix, (image.shape[1], image.shape[0]), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)


def regenerate(image: np.ndarray, rng: np.random.Generator, config: RegenerationConfig, vae=None) -> np.ndarray:
    """Every pixel changed: VAE roundtrip or resampling, blur, tone, noise, JPEG."""
    height, width = image.shape[:2]
    out = image
    if vae is not None:
        out = vae(out)
    elif rng.random() < config.resample_prob:
        scale = rng.uniform(*config.resample_scale)
        small = cv2.resize(out, (max(8, round(width * scale)), max(8, round(height * scale))),
                           interpolation=cv2.INTER_AREA)
        out = cv2.resize(small, (width, height), interpolation=[cv2.INTER_LINEAR, cv2.INTER_CUBIC][rng.integers(2)])
    if rng.random() < config.blur_prob:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(*config.blur_sigma))
    x = out.astype(np.float32) / 255.0
    x = np.power(np.clip(x, 0, 1), rng.uniform(*config.gamma))
    x = (x - 0.5) * rng.uniform(*config.contrast) + 0.5 + rng.uniform(*config.brightness)
    x = x * rng.uniform(*config.channel_gain, size=3)
    x = x + rng.normal(0, rng.uniform(*config.noise_std), size=x.shape)
    out = np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8)
    return jpeg_roundtrip(out, rng.integers(*config.jpeg_quality, endpoint=True))
