"""Synthetic edit pairs with exact masks, from real photos (`benco synth`).

Each pair: a real photo (source) and the same photo with one object-like region edited
(`edits.py`: removed, inpainted from context, re-drawn in its own colours, toned, recoloured,
re-textured, replaced by another photo's content, or a pasted object added). Two regimes, as in
real editing data:

* **splice** (share `splice_share`): outside the mask the edited image is pixel-identical to the
  source — inpainting models and splices paste their result back;
* **regeneration**: a latent editor re-synthesises every pixel (`degrade.regenerate`:
  misregistration, resampling or a VAE roundtrip, blur up to σ 3, tone drift, noise, JPEG 50–95);
* **jpeg_splice** (share `jpeg_splice_share`, 0 by default): a splice whose edited image is saved
  as JPEG after the splice, as CASIA- and IMD2020-style composites are (`JpegSpliceConfig`); the
  source is a JPEG at another quality or lossless, the mask only the pasted region.

Then, in every regime, Fig. 4's post-processing (JPEG, noise, blur) with probability
`postprocess.prob`. A share of pairs has no edit at all and an empty mask. Pair i depends only
on (seed, i), so generation is deterministic, parallel and resumable.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal, get_args

import cv2
import numpy as np

from ..config import ConfigFile
from ..errors import BadInputError
from ..photometric.degrade import PostprocessConfig, RegenerationConfig, jpeg_roundtrip, postprocess, regenerate, shift
from .edits import EDITS, EditContext, crop_to
from ..data.images import load_rgb, save_mask, save_png
from ..data.manifest import Pair, write_manifest
from .vae import VaeRoundtrip

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
GLOBAL_INSTRUCTIONS = (
    "make it more dramatic", "make it look like autumn", "enhance the colours",
    "make it a sunny day", "give it a warm tone", "make the lighting softer",
)
REGIMES = ("splice", "regeneration", "jpeg_splice")


@dataclass
class JpegSpliceConfig:
    """The JPEG-saved splice: the edited image is re-saved at `edited_quality` after the splice;
    the source is lossless with probability `lossless_source_share`, else a JPEG at a quality of
    `source_quality` at least `min_quality_gap` from the edited one. Drawn from a random stream
    of its own, so sets made with a zero share are unchanged."""

    edited_quality: tuple = (60, 95)
    source_quality: tuple = (60, 100)
    lossless_source_share: float = 0.5
    min_quality_gap: int = 5


@dataclass
class SynthConfig(ConfigFile):
    size: int = 256  # short side of every output image
    max_aspect: float = 1.5  # longer side at most this × the short side
    empty_share: float = 0.1  # pairs with no edit and an empty mask
    splice_share: float = 0.5  # pairs in the splice regime (outside the mask pixel-identical)
    edit_weights: dict = field(default_factory=lambda: {
        "remove": 1.0, "inpaint": 1.0, "redraw": 1.5, "tone": 1.0,
        "recolour": 1.0, "retexture": 1.0, "replace": 1.0, "add": 1.0,
    })
    min_area: float = 0.02  # edited share of the image
    max_area: float = 0.25
    small_share: float = 0.2  # edits of a small object instead: area in [small_area, min_area)
    small_area: float = 0.002
    # Mean |Δ| in the region below which an edit is redrawn: a regenerated image hides weak edits,
    # a splice keeps them (a pixel threshold finds them, so must the annotator).
    min_visible_change: float = 0.06
    splice_min_visible_change: float = 0.015
    feather_sigma: float = 1.5  # px; soft edge of composited edits (inside the mask)
    jpeg_splice_share: float = 0.0  # of the splice pairs, those saved as JPEG after the splice
    jpeg_splice: JpegSpliceConfig = field(default_factory=JpegSpliceConfig)
    regeneration: RegenerationConfig = field(default_factory=RegenerationConfig)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)


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

    colour = ["astronaut", "cat", "coffee", "rocket"]
    photos = [Photo(name, getattr(skdata, name)) for name in colour]
    photos.append(Photo("tissue sample", skdata.immunohistochemistry))
    photos.append(Photo("motorcycle", lambda: skdata.stereo_motorcycle()[0]))
    photos += [Photo(name, grey(name)) for name in ("camera", "coins", "moon")]
    photos.append(Photo("temple", lambda: load_sample_image("china.jpg")))
    photos.append(Photo("flower", lambda: load_sample_image("flower.jpg")))
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
    radius = max(2.0, math.sqrt(area * height * width / math.pi))
    ry, rx = radius * math.sqrt(aspect), radius / math.sqrt(aspect)
    cy = rng.uniform(min(ry, height / 2), max(height - ry, height / 2))
    cx = rng.uniform(min(rx, width / 2), max(width - rx, width / 2))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    ellipse = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
    grid = rng.integers(4, 9)
    wobble = cv2.resize(rng.normal(0, 0.35, (grid, grid)).astype(np.float32), (width, height),
                        interpolation=cv2.INTER_CUBIC)
    return ellipse + wobble < 1.0


# ---- one pair, and a whole set ------------------------------------------------------------

@dataclass
class SynthPair:
    source: np.ndarray
    edited: np.ndarray
    mask: np.ndarray  # (H, W) bool
    instruction: str
    edit_type: str
    regime: str  # "splice" or "regeneration"


def edit_area(rng: np.random.Generator, config: SynthConfig) -> float:
    if rng.random() < config.small_share:
        return rng.uniform(config.small_area, config.min_area)
    return rng.uniform(config.min_area, config.max_area)


def local_edit(source: np.ndarray, ctx: EditContext, rng: np.random.Generator, config: SynthConfig,
               min_change: float) -> tuple[np.ndarray, np.ndarray, str, str]:
    """One visible local edit: (edited, mask, instruction, edit_type); weak edits are redrawn."""
    height, width = source.shape[:2]
    names = list(config.edit_weights)
    weights = np.array([config.edit_weights[n] for n in names], dtype=float)
    for _attempt in range(8):
        kind = names[rng.choice(len(names), p=weights / weights.sum())]
        mask = random_blob(rng, height, width, edit_area(rng, config))
        edited, instruction, edit_type = EDITS[kind](source, mask, rng, ctx)
        change = np.abs(edited.astype(np.float32) - source)[mask].mean() / 255.0
        if change >= min_change:
            break
    return edited, mask, instruction, edit_type


def jpeg_qualities(rng: np.random.Generator, config: JpegSpliceConfig) -> tuple[int | None, int]:
    """(source quality or None for a lossless source, edited quality) of a JPEG-saved splice."""
    edited = int(rng.integers(*config.edited_quality, endpoint=True))
    if rng.random() < config.lossless_source_share:
        return None, edited
    low, high = config.source_quality
    choices = [q for q in range(low, high + 1) if abs(q - edited) >= config.min_quality_gap]
    return int(rng.choice(choices)), edited


def make_pair(index: int, photos: list[Photo], textures: dict, config: SynthConfig, seed: int,
              vae=None) -> SynthPair:
    rng = np.random.default_rng([seed, index])
    first = rng.integers(len(photos))
    second = (first + 1 + rng.integers(max(1, len(photos) - 1))) % len(photos)
    source = fit_photo(photos[first].load(), config.size, config.max_aspect, rng)
    height, width = source.shape[:2]
    regime = REGIMES[0] if rng.random() < config.splice_share else REGIMES[1]
    jpeg_rng = np.random.default_rng([seed, index, REGIMES.index("jpeg_splice")])
    source_quality = edited_quality = None
    if regime == "splice" and jpeg_rng.random() < config.jpeg_splice_share:
        regime = "jpeg_splice"
        source_quality, edited_quality = jpeg_qualities(jpeg_rng, config.jpeg_splice)
        if source_quality is not None:
            source = jpeg_roundtrip(source, source_quality)
    if rng.random() < config.empty_share:
        instruction = GLOBAL_INSTRUCTIONS[rng.integers(len(GLOBAL_INSTRUCTIONS))]
        edited, mask, edit_type = source, np.zeros((height, width), bool), "global"
    else:
        other = fit_photo(photos[second].load(), config.size, config.max_aspect, rng)
        ctx = EditContext(photos[first].name, crop_to(other, height, width, rng), photos[second].name,
                          textures, config.feather_sigma)
        min_change = config.min_visible_change if regime == "regeneration" else config.splice_min_visible_change
        edited, mask, instruction, edit_type = local_edit(source, ctx, rng, config, min_change)
    if regime == "regeneration":
        edited, mask = shift(edited, mask, rng, config.regeneration)
        edited = regenerate(edited, rng, config.regeneration, vae)
    edited = postprocess(edited, rng, config.postprocess)
    if edited_quality is not None:
        edited = jpeg_roundtrip(edited, edited_quality)
    return SynthPair(source, edited, mask, instruction, edit_type, regime)


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
    meta = {"instruction": pair.instruction, "edit_type": pair.edit_type, "regime": pair.regime}
    paths["meta"].parent.mkdir(parents=True, exist_ok=True)
    tmp = paths["meta"].with_suffix(".tmp")
    tmp.write_text(json.dumps(meta))
    tmp.replace(paths["meta"])


Split = Literal["all", "train", "test", "test-a", "test-b"]
SPLITS = get_args(Split)


def select_photos(images: str | None, split: str, holdout_every: int) -> list[Photo]:
    """The photo pool; `train`/`test` split it so every `holdout_every`-th photo is held out;
    `test-a`/`test-b` are the held-out photos' two disjoint halves (alternate ones), e.g. a
    detector's training pairs from one and its test pairs from the other."""
    if split not in SPLITS:
        raise BadInputError(f"unknown split '{split}'; choose from {', '.join(SPLITS)}")
    photos = photos_from_dir(images) if images else bundled_photos()
    if split == "all":
        return photos
    held_out = [i % holdout_every == holdout_every - 1 for i in range(len(photos))]
    chosen = [p for p, test in zip(photos, held_out) if test == (split != "train")]
    if split in ("test-a", "test-b"):
        chosen = chosen[split == "test-b"::2]
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
               split: Split = "all", holdout_every: int = 5, vae: str | None = None) -> Path:
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
                **config.to_dict()}
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
