"""Local edits of the synthetic generator: (image, mask, rng, context) → (edited, instruction, edit_type).

Every edit changes pixels inside `mask` only (the composite's soft edge lies inside it), so
outside the mask the edited image equals the source until a regeneration or post-processing
step changes the whole image. Besides the plain edits (remove, recolour, retexture, replace,
add) there are the ones real editors make that a pixel threshold finds and a semantic lattice
misses: an object re-drawn as the same kind in the same colours (`redraw`), the region filled
from its own context (`inpaint`), and subtle tone / texture changes (`tone`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

COLOURS = {  # name: hue in OpenCV units (0-179)
    "red": 0, "orange": 12, "yellow": 28, "green": 60, "cyan": 90, "blue": 115, "purple": 140, "pink": 165,
}
MATERIALS = ("brick", "grass", "gravel", "wood", "marble", "metal", "stone")
# Nouns used without an article ("add coffee", "add coins").
MASS_NOUNS = frozenset({"coffee", "grass", "gravel", "brick", "wood", "marble", "metal", "stone", "water",
                        "immunohistochemistry", "moon", "sand", "snow", "hay"})


def with_article(noun: str) -> str:
    """'cat' → 'a cat', 'astronaut' → 'an astronaut', 'coins' / 'coffee' → unchanged."""
    last = noun.split()[-1] if noun else noun
    if not noun or noun in MASS_NOUNS or last in MASS_NOUNS or (last.endswith("s") and not last.endswith(("ss", "us"))):
        return noun
    return ("an " if noun[0] in "aeiou" else "a ") + noun


@dataclass
class EditContext:
    concept: str  # what the source photo shows
    other: np.ndarray  # another photo, fitted to the same size
    other_concept: str
    textures: dict
    feather_sigma: float


def inside_alpha(mask: np.ndarray, sigma: float) -> np.ndarray:
    """(H, W, 1) float alpha: a soft edge that lies inside the mask, exactly 0 outside it."""
    if sigma <= 0:
        return mask.astype(np.float32)[..., None]
    eroded_distance = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)  # px to the outside
    return np.clip(eroded_distance / (2 * sigma), 0, 1).astype(np.float32)[..., None]


def composite(base: np.ndarray, overlay: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    mixed = alpha * overlay.astype(np.float32) + (1 - alpha) * base.astype(np.float32)
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


def crop_to(image: np.ndarray, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A random crop of `image` resized to cover (height, width)."""
    scale = max(height / image.shape[0], width / image.shape[1]) * rng.uniform(1.0, 1.6)
    resized = cv2.resize(image, (math.ceil(image.shape[1] * scale), math.ceil(image.shape[0] * scale)))
    top = rng.integers(0, resized.shape[0] - height + 1)
    left = rng.integers(0, resized.shape[1] - width + 1)
    return resized[top:top + height, left:left + width]


def match_colours(content: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Shift and scale `content`'s per-channel statistics in the mask to `reference`'s there."""
    content, reference = content.astype(np.float32), reference.astype(np.float32)
    c_mean, c_std = content[mask].mean(0), content[mask].std(0) + 1e-3
    r_mean, r_std = reference[mask].mean(0), reference[mask].std(0) + 1e-3
    return np.clip((content - c_mean) / c_std * r_std + r_mean, 0, 255)


def smooth_field(rng: np.random.Generator, height: int, width: int, amplitude: float) -> np.ndarray:
    """A smooth random (H, W) displacement of about `amplitude` px."""
    grid = rng.integers(3, 7)
    coarse = rng.normal(0, amplitude, (grid, grid)).astype(np.float32)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)


def edit_remove(image, mask, rng, ctx):
    dilated = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8))
    filled = cv2.inpaint(image, dilated, 7, cv2.INPAINT_TELEA if rng.random() < 0.5 else cv2.INPAINT_NS)
    return composite(image, filled, inside_alpha(mask, ctx.feather_sigma)), f"remove the {ctx.concept}", "remove"


def edit_inpaint(image, mask, rng, ctx):
    """The region re-synthesised from context: a shifted copy of the surroundings, colour-matched."""
    height, width = image.shape[:2]
    dy, dx = (rng.integers(-height // 4, height // 4 + 1), rng.integers(-width // 4, width // 4 + 1))
    moved = np.roll(image, (dy, dx), axis=(0, 1))
    blended = match_colours(moved, image, mask)
    blended = cv2.GaussianBlur(blended, (0, 0), rng.uniform(0.3, 1.2))
    return composite(image, blended, inside_alpha(mask, ctx.feather_sigma)), f"remove the {ctx.concept}", "remove"


def edit_redraw(image, mask, rng, ctx):
    """The same object re-drawn in the same colours: a warped, re-textured copy of itself."""
    height, width = image.shape[:2]
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    amplitude = rng.uniform(1.0, 5.0)
    warped = cv2.remap(image, xx + smooth_field(rng, height, width, amplitude),
                       yy + smooth_field(rng, height, width, amplitude), cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REFLECT).astype(np.float32)
    if rng.random() < 0.5:  # another photo's detail under the object's own colours
        detail = match_colours(crop_to(ctx.other, height, width, rng), image, mask)
        detail_weight = rng.uniform(0.15, 0.4)
        warped = (1 - detail_weight) * warped + detail_weight * detail
    warped = warped * rng.uniform(0.95, 1.05) + rng.normal(0, rng.uniform(1, 5), warped.shape)
    instruction = f"redraw the {ctx.concept}"
    return composite(image, warped, inside_alpha(mask, ctx.feather_sigma)), instruction, "replace"


def edit_tone(image, mask, rng, ctx):
    """A subtle tone or texture change: brightness, saturation, hue a few percent off, fine grain."""
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-6, 6)) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(0.8, 1.25), 0, 255)
    brightness = rng.uniform(0.85, 1.15)
    hsv[..., 2] = np.clip(hsv[..., 2] * brightness, 0, 255)
    toned = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    toned += rng.normal(0, rng.uniform(0, 6), toned.shape)
    word = "brighter" if brightness >= 1 else "darker"
    instruction = f"make the {ctx.concept} slightly {word}"
    return composite(image, toned, inside_alpha(mask, ctx.feather_sigma)), instruction, "attribute change"


def edit_recolour(image, mask, rng, ctx):
    colour = rng.choice(list(COLOURS))
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = COLOURS[colour] + rng.uniform(-4, 4)
    hsv[..., 0] %= 180
    hsv[..., 1] = np.maximum(hsv[..., 1], rng.uniform(120, 220))
    hsv[..., 2] = np.clip(hsv[..., 2] * rng.uniform(0.8, 1.1) + 25, 0, 255)
    recoloured = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)
    instruction = f"change the colour of the {ctx.concept} to {colour}"
    return composite(image, recoloured, inside_alpha(mask, ctx.feather_sigma)), instruction, "attribute change"


def edit_retexture(image, mask, rng, ctx):
    names = list(ctx.textures)
    if names and rng.random() < 0.6:
        material = names[rng.integers(len(names))]
        texture = crop_to(ctx.textures[material], *image.shape[:2], rng)
    else:
        material = MATERIALS[rng.integers(len(MATERIALS))]
        texture = crop_to(ctx.other, *image.shape[:2], rng)
    luminance = image.astype(np.float32).mean(axis=2, keepdims=True) / 255.0
    tinted = texture.astype(np.float32) * (0.5 + 0.5 * luminance) * rng.uniform(0.8, 1.2, size=3)
    instruction = f"make the {ctx.concept} look like {material}"
    return composite(image, tinted, inside_alpha(mask, ctx.feather_sigma)), instruction, "attribute change"


def edit_replace(image, mask, rng, ctx):
    content = crop_to(ctx.other, *image.shape[:2], rng)
    instruction = f"replace the {ctx.concept} with {with_article(ctx.other_concept)}"
    return composite(image, content, inside_alpha(mask, ctx.feather_sigma)), instruction, "replace"


def edit_add(image, mask, rng, ctx):
    # The pasted object is a blob-shaped piece of another photo, placed where `mask` lies.
    content = crop_to(ctx.other, *image.shape[:2], rng)
    content = np.clip(content.astype(np.float32) * rng.uniform(0.8, 1.25), 0, 255)
    instruction = f"add {with_article(ctx.other_concept)}"
    return composite(image, content, inside_alpha(mask, ctx.feather_sigma)), instruction, "add"


EDITS = {
    "remove": edit_remove, "inpaint": edit_inpaint, "redraw": edit_redraw, "tone": edit_tone,
    "recolour": edit_recolour, "retexture": edit_retexture, "replace": edit_replace, "add": edit_add,
}
