"""Synthetic edit pairs with exact masks, from real photos (`benco synth`).

Each pair: a real photo (source), the same photo with one object-like region edited
(removed by inpainting, recoloured, re-textured, replaced by another photo's content, or a
pasted object added), then a diffusion-like perturbation of the *whole* edited image
(a sub-pixel shift of image and mask, resampling or a VAE roundtrip, blur, tone shift, noise,
JPEG). A share of pairs has no
edit at all and an empty mask. Pair i depends only on (seed, i), so generation is
deterministic, parallel and resumable.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from PIL import Image

from ..errors import BadInputError
from .images import load_rgb, save_mask, save_png
from .manifest import Pair, write_manifest
from .vae import VaeRoundtrip

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")

COLOURS = {  # name: hue in OpenCV units (0-179)
    "red": 0, "orange": 12, "yellow": 28, "green": 60, "cyan": 90, "blue": 115, "purple": 140, "pink": 165,
}
MATERIALS = ("brick", "grass", "gravel", "wood", "marble", "metal", "stone")
GLOBAL_INSTRUCTIONS = (
    "make it more dramatic", "make it look like autumn", "enhance the colours",
    "make it a sunny day", "give it a warm tone", "make the lighting softer",
)


@dataclass
class SynthConfig:
    size: int = 256  # short side of every output image
    max_aspect: float = 1.5  # longer side at most this × the short side
    empty_share: float = 0.1  # pairs with no edit and an empty mask
    edit_weights: dict = field(default_factory=lambda: {
        "remove": 1.0, "recolour": 1.0, "retexture": 1.0, "replace": 1.0, "add": 1.0,
    })
    min_area: float = 0.02  # edited share of the image
    max_area: float = 0.25
    min_visible_change: float = 0.06  # mean |Δ| in the region; weaker edits are redrawn
    feather_sigma: float = 1.5  # px; soft edge of composited edits
    # Diffusion-like perturbation of the whole edited image (a latent editor regenerates every
    # pixel: slight misregistration, softening, tone drift, noise, re-compression).
    shift_prob: float = 0.5  # sub-pixel / pixel translation of the whole image (mask moved with it)
    shift_px: float = 1.5  # at most this many pixels along each axis
    resample_prob: float = 0.7
    resample_scale: tuple = (0.5, 0.9)
    blur_prob: float = 0.3
    blur_sigma: tuple = (0.3, 1.0)
    contrast: tuple = (0.92, 1.08)
    brightness: tuple = (-0.04, 0.04)
    gamma: tuple = (0.9, 1.1)
    channel_gain: tuple = (0.97, 1.03)
    noise_std: tuple = (0.0, 0.025)
    jpeg_quality: tuple = (60, 95)


@dataclass
class Photo:
    name: str  # concept name used in instructions ("brambling", "cat")
    load: Callable[[], np.ndarray]


def photos_from_dir(folder: str | Path) -> list[Photo]:
    folder = Path(folder)
    if not folder.is_dir():
        raise BadInputError(f"--images folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    if not files:
        raise BadInputError(f"no photos ({', '.join(PHOTO_SUFFIXES)}) in {folder}")
    return [Photo(concept_from_filename(p.stem), lambda p=p: load_rgb(p, "photo")) for p in files]


def concept_from_filename(stem: str) -> str:
    """`n01530575_brambling` → `brambling`; `great_white_shark` → `great white shark`."""
    parts = stem.split("_")
    if parts[0][:1] == "n" and parts[0][1:].isdigit():
        parts = parts[1:]
    return " ".join(parts).lower() or "object"


def bundled_photos() -> list[Photo]:
    """Photos that ship with scikit-image and scikit-learn: synth works on a fresh install."""
    import skimage.data as skdata
    from sklearn.datasets import load_sample_image

    def grey(name):
        return lambda: np.stack([getattr(skdata, name)()] * 3, axis=-1)

    colour = ["astronaut", "cat", "coffee", "rocket", "immunohistochemistry"]
    photos = [Photo(name, getattr(skdata, name)) for name in colour]
    photos.append(Photo("motorcycle", lambda: skdata.stereo_motorcycle()[0]))
    photos += [Photo(name, grey(name)) for name in ("camera", "coins", "moon")]
    photos += [Photo(stem, lambda f=f"{stem}.jpg": load_sample_image(f)) for stem in ("china", "flower")]
    return photos


def bundled_textures() -> dict[str, np.ndarray]:
    import skimage.data as skdata

    return {name: np.stack([getattr(skdata, name)()] * 3, axis=-1) for name in ("brick", "grass", "gravel")}


# ---- geometry -----------------------------------------------------------------------------

def fit_photo(photo: np.ndarray, size: int, max_aspect: float, rng: np.random.Generator) -> np.ndarray:
    """Resize so the short side is `size`, then crop the long side to at most max_aspect × size."""
    height, width = photo.shape[:2]
    scale = size / min(height, width)
    new_h, new_w = max(size, round(height * scale)), max(size, round(width * scale))
    photo = cv2.resize(photo, (new_w, new_h), interpolation=cv2.INTER_AREA)
    limit = int(size * max_aspect)
    if new_h > limit:
        top = rng.integers(0, new_h - limit + 1)
        photo = photo[top:top + limit]
    if new_w > limit:
        left = rng.integers(0, new_w - limit + 1)
        photo = photo[:, left:left + limit]
    return np.ascontiguousarray(photo)


def random_blob(rng: np.random.Generator, height: int, width: int, area: float) -> np.ndarray:
    """An object-like region: a noisy ellipse covering about `area` of the image. (H, W) bool."""
    aspect = rng.uniform(0.6, 1.6)
    radius = math.sqrt(area * height * width / math.pi)
    ry, rx = radius * math.sqrt(aspect), radius / math.sqrt(aspect)
    cy = rng.uniform(min(ry, height / 2), max(height - ry, height / 2))
    cx = rng.uniform(min(rx, width / 2), max(width - rx, width / 2))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    ellipse = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
    grid = rng.integers(4, 9)
    wobble = cv2.resize(rng.normal(0, 0.35, (grid, grid)).astype(np.float32), (width, height),
                        interpolation=cv2.INTER_CUBIC)
    return ellipse + wobble < 1.0


def feathered(mask: np.ndarray, sigma: float) -> np.ndarray:
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma) if sigma > 0 else mask.astype(np.float32)
    return alpha[..., None]


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


# ---- edits: (image, mask, rng, context) -> (edited image, instruction, edit_type) -------------

@dataclass
class EditContext:
    concept: str  # what the source photo shows
    other: np.ndarray  # another photo, fitted to the same size
    other_concept: str
    textures: dict
    feather_sigma: float


def edit_remove(image, mask, rng, ctx):
    dilated = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8))
    filled = cv2.inpaint(image, dilated, 7, cv2.INPAINT_TELEA if rng.random() < 0.5 else cv2.INPAINT_NS)
    return composite(image, filled, feathered(mask, ctx.feather_sigma)), f"remove the {ctx.concept}", "remove"


def edit_recolour(image, mask, rng, ctx):
    colour = rng.choice(list(COLOURS))
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = COLOURS[colour] + rng.uniform(-4, 4)
    hsv[..., 0] %= 180
    hsv[..., 1] = np.maximum(hsv[..., 1], rng.uniform(120, 220))
    hsv[..., 2] = np.clip(hsv[..., 2] * rng.uniform(0.8, 1.1) + 25, 0, 255)
    recoloured = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)
    instruction = f"change the colour of the {ctx.concept} to {colour}"
    return composite(image, recoloured, feathered(mask, ctx.feather_sigma)), instruction, "attribute change"


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
    return composite(image, tinted, feathered(mask, ctx.feather_sigma)), instruction, "attribute change"


def edit_replace(image, mask, rng, ctx):
    content = crop_to(ctx.other, *image.shape[:2], rng)
    instruction = f"replace the {ctx.concept} with a {ctx.other_concept}"
    return composite(image, content, feathered(mask, ctx.feather_sigma)), instruction, "replace"


def edit_add(image, mask, rng, ctx):
    # The pasted object is a blob-shaped piece of another photo, placed where `mask` lies.
    content = crop_to(ctx.other, *image.shape[:2], rng)
    content = np.clip(content.astype(np.float32) * rng.uniform(0.8, 1.25), 0, 255)
    instruction = f"add a {ctx.other_concept}"
    return composite(image, content, feathered(mask, ctx.feather_sigma)), instruction, "add"


EDITS = {
    "remove": edit_remove, "recolour": edit_recolour, "retexture": edit_retexture,
    "replace": edit_replace, "add": edit_add,
}


# ---- perturbation -------------------------------------------------------------------------

def shift(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
          config: SynthConfig) -> tuple[np.ndarray, np.ndarray]:
    """Translate the whole edited image (and its mask) by up to shift_px, sub-pixel."""
    if rng.random() >= config.shift_prob:
        return image, mask
    dx, dy = rng.uniform(-config.shift_px, config.shift_px, size=2)
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    size = (image.shape[1], image.shape[0])
    moved = cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    moved_mask = cv2.warpAffine(mask.astype(np.uint8), matrix, size, flags=cv2.INTER_NEAREST,
                                borderMode=cv2.BORDER_REPLICATE) > 0
    return moved, moved_mask


def perturb(image: np.ndarray, rng: np.random.Generator, config: SynthConfig, vae=None) -> np.ndarray:
    """Diffusion-like change of every pixel: VAE roundtrip or resampling, blur, tone, noise, JPEG."""
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
    buffer = io.BytesIO()
    Image.fromarray(out).save(buffer, format="JPEG", quality=int(rng.integers(*config.jpeg_quality, endpoint=True)))
    return np.asarray(Image.open(buffer).convert("RGB"))


# ---- one pair, and a whole set ------------------------------------------------------------

@dataclass
class SynthPair:
    source: np.ndarray
    edited: np.ndarray
    mask: np.ndarray  # (H, W) bool
    instruction: str
    edit_type: str


def make_pair(index: int, photos: list[Photo], textures: dict, config: SynthConfig, seed: int,
              vae=None) -> SynthPair:
    rng = np.random.default_rng([seed, index])
    first = rng.integers(len(photos))
    second = (first + 1 + rng.integers(max(1, len(photos) - 1))) % len(photos)
    source = fit_photo(photos[first].load(), config.size, config.max_aspect, rng)
    height, width = source.shape[:2]
    if rng.random() < config.empty_share:
        instruction = GLOBAL_INSTRUCTIONS[rng.integers(len(GLOBAL_INSTRUCTIONS))]
        edited, mask, edit_type = source, np.zeros((height, width), bool), "global"
    else:
        other = fit_photo(photos[second].load(), config.size, config.max_aspect, rng)
        ctx = EditContext(photos[first].name, crop_to(other, height, width, rng), photos[second].name,
                          textures, config.feather_sigma)
        names = list(config.edit_weights)
        weights = np.array([config.edit_weights[n] for n in names], dtype=float)
        for _attempt in range(8):
            kind = names[rng.choice(len(names), p=weights / weights.sum())]
            mask = random_blob(rng, height, width, rng.uniform(config.min_area, config.max_area))
            edited, instruction, edit_type = EDITS[kind](source, mask, rng, ctx)
            change = np.abs(edited.astype(np.float32) - source)[mask].mean() / 255.0
            if change >= config.min_visible_change:
                break
    edited, mask = shift(edited, mask, rng, config)
    return SynthPair(source, perturb(edited, rng, config, vae), mask, instruction, edit_type)


def pair_paths(out: Path, pair_id: str) -> dict[str, Path]:
    return {
        "source": out / "source" / f"{pair_id}.png",
        "edited": out / "edited" / f"{pair_id}.png",
        "mask": out / "mask" / f"{pair_id}.png",
        "meta": out / "meta" / f"{pair_id}.json",
    }


def write_pair(out: Path, pair_id: str, pair: SynthPair) -> None:
    paths = pair_paths(out, pair_id)
    save_png(paths["source"], pair.source)
    save_png(paths["edited"], pair.edited)
    save_mask(paths["mask"], pair.mask)
    # The meta file is written last: its presence marks the pair as finished (resume).
    meta = {"instruction": pair.instruction, "edit_type": pair.edit_type}
    paths["meta"].parent.mkdir(parents=True, exist_ok=True)
    tmp = paths["meta"].with_suffix(".tmp")
    tmp.write_text(json.dumps(meta))
    tmp.replace(paths["meta"])


SPLITS = ("all", "train", "test")


def select_photos(images: str | None, split: str, holdout_every: int) -> list[Photo]:
    """The photo pool; `train`/`test` split it so every `holdout_every`-th photo is held out."""
    if split not in SPLITS:
        raise BadInputError(f"unknown split '{split}'; choose from {', '.join(SPLITS)}")
    photos = photos_from_dir(images) if images else bundled_photos()
    if split == "all":
        return photos
    held_out = [i % holdout_every == holdout_every - 1 for i in range(len(photos))]
    chosen = [p for p, test in zip(photos, held_out) if test == (split == "test")]
    if len(chosen) < 2:
        raise BadInputError(f"split '{split}' leaves {len(chosen)} photo(s); need at least 2")
    return chosen


class _Worker:
    """Picklable job for a process pool: generate and write pair i unless already finished."""

    def __init__(self, out: Path, images: str | None, split: str, holdout_every: int,
                 config: SynthConfig, seed: int, vae: str | None = None) -> None:
        self.out, self.config, self.seed, self.vae_path = out, config, seed, vae
        self.pool_args = (images, split, holdout_every)
        self.photos: list[Photo] | None = None  # loaded lazily, once per process

    def __call__(self, index: int) -> int:
        if self.photos is None:
            self.photos = select_photos(*self.pool_args)
            self.textures = bundled_textures()
            self.vae = VaeRoundtrip.from_path(self.vae_path) if self.vae_path else None
        pair_id = f"synth{index:06d}"
        if not pair_paths(self.out, pair_id)["meta"].exists():
            write_pair(self.out, pair_id, make_pair(index, self.photos, self.textures, self.config, self.seed,
                                                    self.vae))
        return index


def synthesize(out: str | Path, n: int, images: str | None = None, seed: int = 0,
               config: SynthConfig | None = None, workers: int = 1, progress: bool = True,
               split: str = "all", holdout_every: int = 5, vae: str | None = None) -> Path:
    """Write n pairs under `out` and `out/pairs.jsonl`; finished pairs are kept on a rerun.

    `vae`: a Stable Diffusion VAE (local folder / cache id); the edited image then goes through its
    roundtrip instead of the resampling step.
    """
    from tqdm import tqdm

    out = Path(out)
    config = config or SynthConfig()
    select_photos(images, split, holdout_every)  # fail early on a bad folder or split
    if vae:
        VaeRoundtrip.from_path(vae)  # fail early on missing weights
    out.mkdir(parents=True, exist_ok=True)
    settings = {"seed": seed, "images": images, "split": split, "holdout_every": holdout_every, "vae": vae,
                **asdict(config)}
    (out / "synth_config.json").write_text(json.dumps(settings, indent=2))
    worker = _Worker(out, images, split, holdout_every, config, seed, vae)
    bar = tqdm(total=n, desc="synth", unit="pair", disable=not progress)
    if workers > 1:
        from multiprocessing import get_context

        with get_context("spawn").Pool(workers) as pool:
            for _ in pool.imap_unordered(worker, range(n), chunksize=8):
                bar.update()
    else:
        for index in range(n):
            worker(index)
            bar.update()
    bar.close()
    pairs = []
    for index in range(n):
        pair_id = f"synth{index:06d}"
        paths = pair_paths(out, pair_id)
        meta = json.loads(paths["meta"].read_text())
        pairs.append(Pair(pair_id, str(paths["source"]), str(paths["edited"]), meta["instruction"],
                          str(paths["mask"]), meta["edit_type"], corpus="synth"))
    write_manifest(out / "pairs.jsonl", pairs)
    return out / "pairs.jsonl"
